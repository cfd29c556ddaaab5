"""The training data and settings of llmos's own adapter: what the default model is tuned with.

Two parts, neither taken from a benchmark:
  the curriculum      tasks over llmos's syscalls, the calculator and memory (curriculum.py),
                      its train split, never a held-out task of the agent suite
  function calling    the synthetic tool catalog (toolcalls.py, data/toolcalls_*.json): tools of
                      its own in other domains than bench/toolcall_*, each question alone under
                      `required`, some under `auto`, some with one or two other catalog tools
                      granted beside it that it must not call
  no call             under `auto` with catalog tools granted: questions no tool is for
                      (ANSWERS, none of bench/chat_suite's), answered; and catalog questions with
                      only other tools granted, answered by saying none of them does it
  its own answers     the plain model's answers to chat questions and the code, summarize and
                      translate apps' prompts (distill.py, data/distilled.jsonl): what it did
                      well untuned, kept (without them chat lost 11 points and code broke)

`bench/learn.py` trains on exactly this and measures held-out figures; the adapter shipped in
drivers/adapters/llmos/ was made by

    python -m llmos.kernel.learn.recipe --out drivers/adapters/llmos [--work DIR] [--threads N]

and `--model default+lora:llmos` runs the default model with it folded in (drivers/models.py).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

TASKS = 160  # curriculum tasks
PER_QUESTION = 1  # synthetic cases per question template
EPOCHS = 2
LR = 1e-3
RANK = 16
SEED = 0


def _home() -> Path:
    return Path(tempfile.mkdtemp(prefix="llmos-recipe-"))


def toolcall_cases(per_question: int = PER_QUESTION, seed: int = SEED) -> list[dict]:
    """The synthetic function-calling cases, each with its tool_choice and any tools beside it."""
    from . import toolcalls

    catalog = toolcalls.load_catalog()
    cases = toolcalls.generate(per_question, seed=seed, catalog=catalog)
    r = random.Random(seed)
    tools = [e["tool"] for e in catalog]
    for c in cases:
        roll = r.random()
        if roll < 0.25:  # granted beside others: pick the one the question is about
            others = [t for t in tools if t["name"] != c["tool"]["name"]]
            c["others"] = r.sample(others, r.choice([1, 2]))
        c["tool_choice"] = "auto" if r.random() < 0.3 else "required"
    return cases


# Questions no tool is needed for, with their answers: asked with catalog tools granted under
# `auto`, answered without a call. None of bench/chat_suite's questions or topics.
ANSWERS = [
    ("Who was the first person to walk on the Moon?", "Neil Armstrong, in 1969."),
    ("How many minutes are in an hour?", "There are 60 minutes in an hour."),
    ("What is the tallest mountain in the world?", "Mount Everest is the tallest mountain in the world."),
    ("How many months are in a year?", "There are 12 months in a year."),
    ("Which is the longest river in Africa?", "The Nile is the longest river in Africa."),
    ("What do caterpillars turn into?", "Caterpillars turn into butterflies or moths."),
    ("Who invented the telephone?", "Alexander Graham Bell is credited with inventing the telephone."),
    ("What is the plural of mouse?", "The plural of mouse is mice."),
    ("How many wheels does a bicycle have?", "A bicycle has two wheels."),
    ("What is the main language spoken in Mexico?", "Spanish is the main language spoken in Mexico."),
    ("What is the hardest natural substance?", "Diamond is the hardest natural substance."),
    ("Which organ pumps blood through the body?", "The heart pumps blood through the body."),
    ("How many players does a soccer team have on the field?", "Each soccer team has 11 players on the field."),
    ("Say hello to my friend Sam.", "Hello, Sam!"),
    ("Tell me a short joke.", "Why did the scarecrow win an award? Because he was outstanding in his field."),
    ("What is a haiku?", "A haiku is a short Japanese poem of three lines, of five, seven and five syllables."),
    ("Give me a synonym for happy.", "A synonym for happy is joyful."),
    ("Thanks for your help!", "You're welcome! Glad I could help."),
    ("Good evening!", "Good evening! How can I help you?"),
    ("What color do you get by mixing blue and yellow?", "Mixing blue and yellow gives green."),
    ("How many legs does an insect have?", "An insect has six legs."),
    ("What is the largest mammal?", "The blue whale is the largest mammal."),
    ("Which planet is closest to the Sun?", "Mercury is the closest planet to the Sun."),
    ("Who wrote Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice."),
    ("What is the smallest prime number?", "The smallest prime number is 2."),
    ("In which country are the pyramids of Giza?", "The pyramids of Giza are in Egypt."),
    ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au."),
    ("How many days are in a leap year?", "A leap year has 366 days."),
    ("Which instrument has 88 keys?", "The piano has 88 keys."),
    ("What is the name of our galaxy?", "Our galaxy is the Milky Way."),
    ("What does a thermometer measure?", "A thermometer measures temperature."),
    ("What is the first letter of the Greek alphabet?", "The first letter of the Greek alphabet is alpha."),
    ("Name a primary color.", "Red is a primary color."),
    ("What season comes after winter?", "Spring comes after winter."),
    ("Who are you?", "I am an assistant running on llmos."),
    ("Describe the ocean in one sentence.", "The ocean is a vast body of salt water that covers most of the Earth."),
    ("What is the past tense of run?", "The past tense of run is ran."),
    ("What is the capital of Portugal?", "The capital of Portugal is Lisbon."),
    ("What do you call a baby cat?", "A baby cat is called a kitten."),
    ("How are you today?", "I'm doing well, thank you. How can I help?"),
]
# Said when no granted tool does what is asked. No tool names in it: naming them taught the model
# to name made-up tools in plain chat ("none of my tools does it (I have writing and violin)").
REFUSAL = "None of my tools can do that."
MISMATCH_EVERY = 8  # every 8th catalog question is also asked with only other tools granted


def reply_cases(seed: int = SEED) -> list[dict]:
    """Examples without a call under `auto`: a question no tool is for, answered; and a catalog
    question asked with only other tools granted, answered by saying none of them does it."""
    from . import toolcalls

    r = random.Random(seed + 1)
    catalog = toolcalls.load_catalog()
    tools = [e["tool"] for e in catalog]
    out = []
    for question, answer in ANSWERS:
        for _ in range(2):
            out.append({"question": question, "reply": answer, "others": r.sample(tools, r.choice([1, 2])),
                        "tool_choice": "auto"})
    for i, case in enumerate(toolcalls.generate(1, seed=seed + 1, catalog=catalog)):
        if i % MISMATCH_EVERY:
            continue
        others = r.sample([t for t in tools if t["name"] != case["tool"]["name"]], r.choice([1, 2]))
        out.append({"question": case["question"], "others": others, "tool_choice": "auto", "reply": REFUSAL})
    return out


def function_call_cases(seed: int = SEED, per_question: int = PER_QUESTION) -> list[dict]:
    """The recipe's function-calling part: the calls and the answers without one (without
    those, the tuned model called a tool on 44 of 45 chat questions)."""
    return toolcall_cases(per_question, seed) + reply_cases(seed)


def function_call_examples(home: Path, seed: int = SEED, per_question: int = PER_QUESTION) -> list[dict]:
    """Everything the recipe trains on beside the curriculum: the calls and the answers without
    one as training rows (made in a kernel at `home`), and the plain model's own answers."""
    from . import curriculum, distill

    return curriculum.toolcall_examples(function_call_cases(seed, per_question), home) + distill.load()


def training_data(n_tasks: int = TASKS, seed: int = SEED, per_question: int = PER_QUESTION) -> list[dict]:
    from . import curriculum

    tasks = curriculum.generate(n_tasks, seed=seed, split="train", exclude=curriculum.agent_heldout())
    return curriculum.run_tasks(tasks, _home()) + function_call_examples(_home(), seed, per_question)


def main(argv: list[str]) -> int:
    import argparse

    from ...drivers.hf.lora_gguf import halve
    from ...drivers.models import ModelStore
    from ..home import data_dir
    from .train import TrainConfig, train

    p = argparse.ArgumentParser(prog="python -m llmos.kernel.learn.recipe", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="where the adapter goes (adapter.gguf in float16, meta.json)")
    p.add_argument("--work", type=Path, default=None, help="the training folder (default: a new temporary one)")
    p.add_argument("--models", type=Path, default=None, help="the models folder (default: llmos's)")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    work = a.work or Path(tempfile.mkdtemp(prefix="llmos-recipe-train-"))
    data = training_data()
    blob = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in data)
    work.mkdir(parents=True, exist_ok=True)
    (work / "data.jsonl").write_text(blob)
    print(f"{len(data)} examples in {work / 'data.jsonl'}", file=sys.stderr)
    store = ModelStore(a.models or data_dir() / "models")
    cfg = TrainConfig(epochs=EPOCHS, lr=LR, rank=RANK, alpha=2.0 * RANK, seed=SEED, threads=a.threads)

    def progress(i: int, n: int, loss: float, what: str) -> None:
        if i % 10 == 0 or i == n:
            print(f"step {i}/{n} {what} loss {loss:.3f}", file=sys.stderr, flush=True)

    meta = train(data, work, base="default", model_path=store.resolve("default"), cfg=cfg, progress=progress)
    a.out.mkdir(parents=True, exist_ok=True)
    halve(work / "adapter.gguf", a.out / "adapter.gguf")
    calls = [r for r in data if r["meta"]["source"] == "toolcall"]
    meta.update({"recipe": "kernel/learn/recipe.py", "curriculum_tasks": TASKS,
                 "distilled_examples": sum(r["meta"]["source"] == "distill" for r in data),
                 "function_call_examples": sum(r["messages"][-1]["content"].startswith("<tool_call>") for r in calls),
                 "no_call_examples": sum(not r["messages"][-1]["content"].startswith("<tool_call>") for r in calls),
                 "dtype": "f16"})
    (a.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
