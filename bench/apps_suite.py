"""The built-in apps' bench suite: eight inputs per app, each with what makes an answer right.

bench/apps.py runs each through the app and, as the baseline, through the bare model given the
same request in one plain prompt, and scores both with the same checks (the ones the real-model
tests use: tests/test_apps_real.py).
"""

from __future__ import annotations

TEXTS = [
    "Honeybees are important pollinators for many crops. A colony has one queen, thousands of female worker "
    "bees and a few hundred male drones. Worker bees collect nectar and pollen and turn the nectar into honey, "
    "which the colony eats during the winter. Many beekeepers have lost colonies to mites, pesticides and "
    "disease, and scientists are studying how to protect them.",
    "The city council voted on Tuesday to build a new public library in the old train station. The library "
    "will have a children's room, a cafe and a workshop with 3D printers. Construction starts next spring and "
    "should take two years. The council expects the project to cost twelve million euros, paid partly by a "
    "national grant.",
    "Marie Curie was a physicist and chemist who did pioneering research on radioactivity. She was the first "
    "woman to win a Nobel Prize and the only person to win Nobel Prizes in two different sciences, physics and "
    "chemistry. She discovered the elements polonium and radium together with her husband Pierre Curie.",
    "Regular exercise improves the health of the heart and lungs. Doctors recommend at least 150 minutes of "
    "moderate activity each week, such as brisk walking or cycling. Exercise also improves sleep and mood, "
    "and it lowers the risk of diabetes. Even short walks after meals help control blood sugar.",
    "The Amazon rainforest covers much of northern Brazil and parts of eight other countries. It is home to "
    "about ten percent of all known species on Earth. The forest stores huge amounts of carbon, but logging, "
    "farming and fires have destroyed large areas. Governments and local communities are working to slow "
    "deforestation.",
    "Our company will move to a new office on the first of March. The new office is on the fifth floor of "
    "the Harbour Building, near the central station. Employees will get new desks and a larger kitchen. "
    "Please pack your belongings into the boxes provided by the end of February and label each box with "
    "your name.",
    "Volcanoes form where molten rock, called magma, rises to the surface of the Earth. When pressure builds "
    "up, the volcano erupts and releases lava, ash and gases. Some eruptions are gentle, while others are "
    "explosive and dangerous. Scientists monitor earthquakes and gas levels to predict eruptions.",
    "The museum's new exhibition shows paintings by Dutch artists from the seventeenth century. Visitors can "
    "see works by Rembrandt, Vermeer and Frans Hals. The exhibition opens on Friday and runs until the end of "
    "August. Tickets cost fifteen euros, and children under twelve enter for free.",
]

TRANSLATIONS = [  # (English, target language, words a right translation has at least one of)
    ("Good morning, how are you?", "French", {"bonjour", "comment", "allez", "vas"}),
    ("The cat is sleeping on the sofa.", "French", {"chat", "dort", "canapé", "sofa"}),
    ("I would like a cup of coffee, please.", "French", {"café", "tasse", "voudrais", "plaît"}),
    ("Where is the train station?", "Spanish", {"estación", "tren", "dónde", "donde"}),
    ("My brother lives in a big house.", "Spanish", {"hermano", "casa", "vive", "grande"}),
    ("Thank you very much for your help.", "Spanish", {"gracias", "ayuda"}),
    ("The weather is nice today.", "German", {"wetter", "heute", "schön"}),
    ("We are going to the market tomorrow.", "German", {"markt", "morgen", "gehen"}),
]

# Common words of each target language: a translation should use at least one.
MARKERS = {
    "French": {"le", "la", "les", "un", "une", "de", "du", "des", "est", "et", "je", "vous", "il", "elle",
               "bonjour", "merci", "sur", "chat", "café", "s'il", "voudrais", "dort", "comment", "allez"},
    "Spanish": {"el", "la", "los", "las", "un", "una", "de", "del", "es", "y", "en", "mi", "gracias", "por",
                "dónde", "donde", "está", "esta", "estación", "hermano", "vive", "casa", "grande", "ayuda"},
    "German": {"der", "die", "das", "ein", "eine", "und", "ist", "ich", "wir", "heute", "morgen", "gehen",
               "wetter", "schön", "zum", "markt", "auf", "den"},
}

CODE_REQUESTS = [
    "a function that returns the largest number in a list",
    "a function that reverses a string",
    "a function that checks whether a number is prime",
    "a function that counts the vowels in a string",
    "a function that returns the factorial of n",
    "a function that converts Celsius to Fahrenheit",
    "a function that removes duplicates from a list",
    "a function that returns the sum of the even numbers in a list",
]

QUESTIONS = [  # (question, regex of a right answer)
    ("What is the capital of France?", r"paris"),
    ("What is 17 times 23?", r"\b391\b"),
    ("What is 144 divided by 6?", r"\b24\b"),
    ("Which planet is known as the Red Planet?", r"\bmars\b"),
    ("What is 2 to the power of 10?", r"\b1,?024\b"),
    ("How many days are there in a week?", r"\b7\b|seven"),
    ("What is 45 plus 78?", r"\b123\b"),
    ("What is the largest ocean on Earth?", r"pacific"),
]

NOTES = [  # (a note, a later search for it, the word an answer must hold)
    ("the dentist appointment is on Tuesday at 3 pm", "dentist", "tuesday"),
    ("my locker code is 4471", "locker code", "4471"),
    ("Ada's birthday is on the 12th of May", "Ada birthday", "may"),
    ("the wifi password at the cabin is pinecone", "wifi password", "pinecone"),
    ("buy oat milk and coffee filters", "shopping oat milk", "filters"),
    ("the plumber is called Marco", "plumber", "marco"),
    ("the car needs new tyres before winter", "car tyres", "winter"),
    ("the library books are due on Friday", "library books", "friday"),
]

FILES = {  # a workspace, and searches with the files they must find
    "workspace": ["report.md", "notes.txt", "budget.csv", "sales_2024.csv", "photo.png", "src/main.py",
                  "src/util.py", "docs/guide.md", "data/people.json", "archive.zip"],
    "searches": [
        ("*.csv", {"budget.csv", "sales_2024.csv"}),
        ("*.md", {"report.md", "docs/guide.md"}),
        ("*.py", {"src/main.py", "src/util.py"}),
        ("budget", {"budget.csv"}),
        ("*.json", {"data/people.json"}),
        ("photo", {"photo.png"}),
        ("*.zip", {"archive.zip"}),
        ("sales", {"sales_2024.csv"}),
    ],
}
