"""The chat sanity suite: short questions with a checkable answer (a regex, case-insensitive).

Facts, arithmetic, one-line definitions and replies in French. bench/chat.py measures a model's
rate through the shell's chat path; tests/test_chat_real.py holds the default model to a floor.
"""

from __future__ import annotations

import re

QUESTIONS: list[tuple[str, str]] = [
    # facts
    ("What is the capital of France?", r"paris"),
    ("What is the capital of Japan?", r"tokyo"),
    ("What is the capital of Italy?", r"\brome\b"),
    ("What is the capital of Germany?", r"berlin"),
    ("What is the capital of Spain?", r"madrid"),
    ("What is the capital of the United Kingdom?", r"london"),
    ("Which planet is known as the Red Planet?", r"\bmars\b"),
    ("What is the largest planet in our solar system?", r"jupiter"),
    ("What color is the sky on a clear day?", r"\bblue\b"),
    ("How many days are there in a week?", r"\b7\b|seven"),
    ("How many legs does a spider have?", r"\b8\b|eight"),
    ("What is the chemical formula of water?", r"h2o|h₂o"),
    ("Who wrote Romeo and Juliet?", r"shakespeare"),
    ("At what temperature in Celsius does water boil at sea level?", r"\b100\b"),
    ("What gas do plants take in from the air to make food?", r"carbon dioxide|co2|co₂"),
    ("What is the largest ocean on Earth?", r"pacific"),
    ("How many continents are there on Earth?", r"\b7\b|seven"),
    ("Which animal is called the king of the jungle?", r"\blions?\b"),
    ("What is the opposite of hot?", r"\bcold\b"),
    ("What language do people speak in Brazil?", r"portuguese"),
    ("Who painted the Mona Lisa?", r"leonardo|da vinci"),
    ("How many hours are there in a day?", r"\b24\b|twenty-four"),
    ("What do bees make?", r"honey"),
    ("What is the closest star to the Earth?", r"\bsun\b"),
    ("What is frozen water called?", r"\bice\b"),
    # arithmetic
    ("What is 2 + 2?", r"\b4\b|\bfour\b"),
    ("What is 5 + 3?", r"\b8\b|\beight\b"),
    ("What is 10 - 4?", r"\b6\b|\bsix\b"),
    ("What is 3 times 3?", r"\b9\b|\bnine\b"),
    ("What is 10 divided by 2?", r"\b5\b|\bfive\b"),
    ("What is half of 100?", r"\b50\b|fifty"),
    ("How many sides does a square have?", r"\b4\b|\bfour\b"),
    ("How many sides does a triangle have?", r"\b3\b|\bthree\b"),
    # one-line definitions
    ("In one sentence, what is a noun?", r"person|place|thing|name"),
    ("In one sentence, what is photosynthesis?", r"light|sun"),
    ("In one sentence, what is gravity?", r"force|attract|pull"),
    ("In one sentence, what is a mammal?", r"milk|warm-blooded|hair|fur"),
    ("In one sentence, what is the Sun?", r"\bstar\b"),
    ("In one sentence, what is a computer?", r"data|information|program|calculat|electronic|instructions"),
    ("In one sentence, what is a verb?", r"action|state|occurren|doing"),
    # replies in French
    ("Reply in French: good morning.", r"bonjour"),
    ("How do you say 'thank you' in French?", r"merci"),
    ("Translate into French: the cat.", r"\ble chat\b"),
    ("How do you say 'yes' in French?", r"\boui\b"),
    ("Reply in French: good night.", r"bonne nuit|bonsoir"),
]


def correct(answer: str, pattern: str) -> bool:
    return re.search(pattern, answer, re.IGNORECASE) is not None
