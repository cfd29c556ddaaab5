"""A synthetic curriculum: tasks over llmos's own syscalls and tools, with their right actions.

So a fresh install can learn its ABI without a user's history. Each task is a workspace, a
request, the grants of the process, and the actions that answer it (calls, then a reply),
written in the exact action format (syscalls/grammar.py render_call). The tasks are run as real
processes on the scripted driver (the same kernel loop, dispatcher and journal as the real
model), so every call is checked by the real syscalls and every result the example shows is
the one the kernel really returns; a task whose run does not end by its reply is an error.

Families: list, read, stat, exists, write, append, mkdir, calculator, memory, time, a direct
reply, and a request for what is not granted (answered by saying so, with no call). Every 5th
generated task (by a hash of its text) is the curriculum's own held-out split; and no task is
ever the text of a held-out task of the agent suite (bench/agent_tasks.py).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

WORKER = ["fs.read", "fs.list", "fs.stat", "fs.write", "fs.append", "fs.mkdir", "tool.call", "sys.time"]
READER = ["fs.read", "fs.list", "fs.stat"]
MEMORY = ["mem.remember", "mem.recall", "fs.read", "fs.list"]

NAMES = ["notes", "todo", "ideas", "plan", "journal", "report", "draft", "letter", "recipe", "budget", "shopping",
         "meeting", "log", "readme", "summary", "tasks", "diary", "errands", "goals", "minutes"]
EXTS = [".txt", ".md", ".txt", ".csv", ".log"]
DIRS = ["docs", "work", "notes", "projects", "data", "old", "archive", "misc"]
LINES = ["Meeting moved to Friday at 3pm.", "Call the dentist on Monday.", "The train leaves at 7:45.",
         "Buy milk, eggs and bread.", "Pay the electricity bill.", "Water the plants twice a week.",
         "Project deadline is March 3rd.", "The wifi password is on the fridge.", "Lunch with Sam on Tuesday.",
         "Renew the passport before June.", "Book flights to Lisbon.", "Return library books by Thursday.",
         "Team standup is at 9am daily.", "Oven at 180 degrees for 40 minutes.", "Gym on Wednesday evening.",
         "Send the invoice to Acme.", "Pick up the parcel at the post office.", "Fix the bike's back tyre."]
ITEMS = ["walk the dog", "call mom", "buy apples", "clean the kitchen", "read a book", "pay rent", "email Bob",
         "eggs", "coffee", "finish the report", "book a haircut", "water the garden", "feed the cat", "butter"]
WORDS = ["hello world", "done", "step one", "draft 1", "remember the milk", "call mom", "ok", "version 2",
         "the end", "good morning", "ready", "buy bread", "todo: sleep", "alpha beta gamma"]
# None of bench/chat_suite's or bench/agent_tasks.py's countries: those are measured, never trained on.
CAPITALS = {"Portugal": "Lisbon", "Greece": "Athens", "Sweden": "Stockholm", "Poland": "Warsaw", "Ireland": "Dublin",
            "Canada": "Ottawa", "Egypt": "Cairo", "Peru": "Lima", "Kenya": "Nairobi", "Norway": "Oslo"}


@dataclass
class Task:
    family: str
    task: str
    caps: list[str]
    files: dict[str, str]
    calls: list[tuple[str, dict]]  # the calls, in order
    reply: str  # the final answer
    tool_choice: str = "auto"
    split: str = "train"
    extra: dict = field(default_factory=dict)

    def actions(self) -> list[str]:
        from ...syscalls.grammar import render_call

        return [render_call(n, a) for n, a in self.calls] + [self.reply]


def _split(text: str) -> str:
    return "heldout" if int(hashlib.sha256(text.encode()).hexdigest(), 16) % 5 == 0 else "train"


def _workspace(r: random.Random) -> dict[str, str]:
    files: dict[str, str] = {}
    for _ in range(r.randint(2, 5)):
        name = r.choice(NAMES) + r.choice(EXTS)
        if r.random() < 0.25:
            name = f"{r.choice(DIRS)}/{name}"
        if name.endswith(".csv"):
            a, b = r.randint(1, 9), r.randint(1, 9)
            files[name] = f"a,b\n{a},{b}\n{b},{a}\n"
        else:
            files[name] = "\n".join(r.sample(LINES, r.randint(1, 2))) + "\n"
    return files


def _top(files: dict[str, str], folder: str = "") -> list[str]:
    """The names fs.list would show in `folder`."""
    out = set()
    prefix = folder.rstrip("/") + "/" if folder else ""
    for path in files:
        if path.startswith(prefix):
            out.add(path[len(prefix):].split("/")[0])
    return sorted(out)


def _number(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"


def _family_tasks(r: random.Random, fam: str) -> Task:
    files = _workspace(r)
    any_file = r.choice(sorted(files))
    caps = r.choice([WORKER, READER]) if fam in ("list", "read", "stat", "exists") else WORKER
    if fam == "list":
        folder = r.choice([d for d in {p.split("/")[0] for p in files if "/" in p}] or [""])
        if folder and r.random() < 0.6:
            names = _top(files, folder)
            task = r.choice(["show me the files in the {d} folder", "list the directory {d}", "what is in {d}?",
                             "which files are in the {d} folder?", "list {d}", "how many files are in {d}?",
                             "what does the {d} folder contain?"]).format(d=folder)
            reply = (f"The {folder} folder has {len(names)} file{'s' if len(names) != 1 else ''}: {', '.join(names)}."
                     if "how many" in task else f"The {folder} folder contains: {', '.join(names)}.")
            return Task(fam, task, caps, files, [("fs.list", {"path": folder})], reply)
        names = _top(files)
        task = r.choice(["list the files in my workspace", "what files do I have?", "which files are here?",
                         "list everything in my workspace", "show me my files", "what is in my workspace?",
                         "tell me the names of the files here", "ls", "list my files please",
                         "what files are in the workspace?", "give me a list of my files"])
        return Task(fam, task, caps, files, [("fs.list", {"path": "."})], f"Your workspace contains: {', '.join(names)}.")
    if fam == "read":
        text = files[any_file].strip()
        task = r.choice(["what does {f} say?", "read {f}", "show me {f}", "open {f} and tell me what it says",
                         "read the file {f}", "what is in {f}?", "print {f}", "tell me the contents of {f}",
                         "what is written in {f}?", "can you read {f} for me?"]).format(f=any_file)
        return Task(fam, task, caps, files, [("fs.read", {"path": any_file})], f"{any_file} says:\n{text}")
    if fam == "stat":
        size = len(files[any_file].encode())
        task = r.choice(["how big is {f}?", "what is the size of {f}?", "how many bytes is {f}?",
                         "check the size of {f}", "how large is the file {f}?"]).format(f=any_file)
        return Task(fam, task, caps, files, [("fs.stat", {"path": any_file})], f"{any_file} is {size} bytes.")
    if fam == "exists":
        there = r.random() < 0.5
        name = any_file if there else r.choice(NAMES) + ".bak"
        task = r.choice(["is there a file called {f}?", "does {f} exist?", "do I have a file named {f}?"]).format(f=name)
        folder = name.rsplit("/", 1)[0] if "/" in name else "."
        reply = f"Yes, {name} exists." if there else f"No, there is no file called {name}."
        return Task(fam, task, caps, files, [("fs.list", {"path": folder})], reply)
    if fam == "write":
        name = r.choice(NAMES) + r.choice([".txt", ".md"])
        text = r.choice(WORDS + ITEMS)
        task = r.choice(["write a note called {f} that says {t}", "create a file {f} containing {t}",
                         "save the text '{t}' into {f}", "write '{t}' to {f}", "create a file named {f} with the text: {t}",
                         "put '{t}' in a new file {f}", "make a file {f} that contains {t}"]).format(f=name, t=text)
        return Task(fam, task, caps, files, [("fs.write", {"path": name, "content": text + "\n"})], f"Done: I wrote '{text}' to {name}.")
    if fam == "append":
        name = r.choice(sorted(files))
        item = r.choice(ITEMS)
        task = r.choice(["append '{t}' to {f}", "add a line '{t}' to {f}", "add '{t}' at the end of {f}",
                         "append the line {t} to {f}", "add {t} to my list in {f}"]).format(f=name, t=item)
        return Task(fam, task, caps, files, [("fs.append", {"path": name, "content": item + "\n"})], f"Done: I added '{item}' to {name}.")
    if fam == "mkdir":
        d = r.choice(DIRS + ["reports", "backup", "photos", "tmp2", "music", "invoices", "school"])
        files = {k: v for k, v in files.items() if not k.startswith(d + "/") and k != d}
        task = r.choice(["make a folder called {d}", "create a directory named {d}", "make a directory called {d}",
                         "create the folder {d}", "mkdir {d}", "I need a new folder {d}"]).format(d=d)
        return Task(fam, task, caps, files, [("fs.mkdir", {"path": d})], f"Done: I created the folder {d}.")
    if fam == "calculator":
        a, b = r.randint(2, 999), r.randint(2, 99)
        op = r.choice(["+", "-", "*", "/", "**", "paren", "sq"])
        if op == "**":
            a, b = r.randint(2, 12), r.randint(2, 6)
        if op == "/":
            a = b * r.randint(2, 60)
        if op == "paren":
            c = r.randint(2, 20)
            expr, value = f"({a} + {b}) * {c}", (a + b) * c
            task = r.choice([f"compute ({a} + {b}) * {c}", f"what is ({a} + {b}) times {c}?", f"calculate ({a}+{b})*{c}"])
        elif op == "sq":
            a = r.randint(2, 40)
            expr, value = f"{a}**2", a * a
            task = r.choice([f"what is {a} squared?", f"square {a}", f"what is {a} to the power of 2?"])
        else:
            expr = f"{a} {op} {b}"
            value = eval(expr)  # noqa: S307 (two integers and one operator made here)
            words = {"+": ["plus", "+", "and"], "-": ["minus", "-"], "*": ["times", "*", "multiplied by"],
                     "/": ["divided by", "/"], "**": ["to the power of"]}[op]
            w = r.choice(words)
            if w == "and":
                task = r.choice([f"add {a} and {b}", f"what is the sum of {a} and {b}?"])
            else:
                task = r.choice([f"what is {a} {w} {b}?", f"calculate {a} {w} {b}", f"how much is {a} {w} {b}?",
                                 f"use the calculator to compute {a} {w} {b}", f"compute {a} {w} {b}"])
        return Task(fam, task, WORKER, files, [("calculator", {"expression": expr})], f"The answer is {_number(value)}.")
    if fam == "memory":
        fact = r.choice(LINES)
        if r.random() < 0.5:
            task = r.choice(["remember that {x}", "please keep in mind: {x}", "store this fact: {x}"]).format(x=fact.rstrip("."))
            return Task(fam, task, MEMORY, files, [("mem.remember", {"text": fact})], "Done: I will remember that.")
        topic = fact.split()[1 if len(fact.split()) > 1 else 0].strip(".,")
        task = r.choice(["what do you remember about {t}?", "recall what I told you about {t}",
                         "search your memory for {t}"]).format(t=topic.lower())
        return Task(fam, task, MEMORY, files, [("mem.recall", {"query": topic.lower()})],
                    "I found nothing about that in my memory.", extra={"fact": fact})
    if fam == "time":
        task = r.choice(["what time is it?", "what is the time now?", "tell me the current time", "what's the date today?"])
        return Task(fam, task, WORKER, files, [("sys.time", {})], "It is {time}.")
    if fam == "reply":
        if r.random() < 0.5:
            country = r.choice(sorted(CAPITALS))
            task = r.choice([f"what is the capital of {country}?", f"name the capital city of {country}"])
            return Task(fam, task, r.choice([WORKER, READER]), files, [], f"The capital of {country} is {CAPITALS[country]}.")
        task, reply = r.choice([("say hello", "Hello!"), ("greet me politely", "Good day to you! How can I help?"),
                                ("reply with the word yes", "yes"), ("say goodbye", "Goodbye!"),
                                ("reply with the word ok", "ok"), ("thank you", "You're welcome!"),
                                ("how are you?", "I'm doing well, thank you. How can I help?"),
                                ("say hi to me", "Hi!"), ("who are you?", "I am an assistant running on llmos.")])
        return Task(fam, task, r.choice([WORKER, READER]), files, [], reply)
    if fam == "denied":
        name = r.choice(sorted(files))
        task, reply = r.choice([
            (f"delete {name}", "I can't delete files: removing files is not granted to me."),
            (f"remove {name}", "I can't remove files: that is not granted to me."),
            ("remove every file in my workspace", "I can't remove files: that is not granted to me."),
            ("delete everything here", "I can't delete files: that is not granted to me."),
        ]) if r.random() < 0.5 else r.choice([
            (f"write 'pwned' into {name}", "I can't write files: I may only read here."),
            ("create a file called x.txt", "I can't create files: I may only read here."),
            (f"make a folder called {r.choice(DIRS)}", "I can't create folders: I may only read here."),
            (f"append 'hi' to {name}", "I can't change files: I may only read here."),
        ])
        caps = READER if ("write" in reply or "create" in reply or "change" in reply) else WORKER
        return Task(fam, task, caps, files, [], reply)
    raise ValueError(fam)


FAMILIES = ["list", "read", "stat", "exists", "write", "append", "mkdir", "calculator", "memory", "time",
            "reply", "denied"]
WEIGHTS = [3, 3, 2, 1, 2, 2, 1, 3, 1, 1, 1, 1]


def generate(n: int, *, seed: int = 0, exclude: set[str] | None = None, split: str | None = "train") -> list[Task]:
    """`n` tasks of `split` ("train", "heldout", or None for both), never one of `exclude`'s texts."""
    r = random.Random(seed)
    exclude = {e.lower() for e in (exclude or set())}
    out, seen, tries = [], set(), 0
    while len(out) < n and tries < n * 50:
        tries += 1
        t = _family_tasks(r, r.choices(FAMILIES, WEIGHTS)[0])
        key = t.task.lower()
        t.split = _split(key)
        if key in exclude or (split and t.split != split) or (key, tuple(map(str, t.calls))) in seen:
            continue
        seen.add((key, tuple(map(str, t.calls))))
        out.append(t)
    return out


def run_tasks(tasks: list[Task], home: Path) -> list[dict]:
    """Run each task as a process on the scripted driver; its trace as a training example."""
    from ...drivers.scripted import ScriptedDriver
    from ...syscalls.caps import CapSet
    from ..kernel import Kernel
    from .examples import example

    drv = ScriptedDriver()
    out = []
    with Kernel.boot(home, driver=drv) as k:
        for t in tasks:
            if t.family == "memory" and "fact" in t.extra:
                k.sys.mem.remember(text=t.extra["fact"])
                t.reply = f"You told me: {t.extra['fact']}"
            actions = t.actions()
            if t.family == "time":
                import datetime

                now = datetime.datetime.now().astimezone().strftime("%H:%M")
                actions[-1] = t.reply = f"It is {now}."
            drv.queue(*actions)
            p = k.spawn(task=t.task, caps=CapSet.parse(t.caps), max_steps=len(actions) + 1,
                        tool_choice=t.tool_choice)
            ws = Path(p.workspace)
            for name, text in t.files.items():
                (ws / name).parent.mkdir(parents=True, exist_ok=True)
                (ws / name).write_text(text)
            steps = list(k.run(p.pid))
            done = k.procs.get(p.pid)
            bad = [s for s in steps if s.type in ("error",) or (s.type == "observation" and not s.ok)]
            if done.reply != t.reply or bad:
                raise RuntimeError(f"curriculum task {t.task!r} did not run as written: {done.exit_reason}; {bad[:1]}")
            ex = example(k, done, source="curriculum")
            ex["meta"].update({"family": t.family, "split": t.split})
            out.append(ex)
    return out


def toolcall_examples(cases: list[dict], home: Path) -> list[dict]:
    """Function-calling examples: each case's tool (and any `others` granted beside it, which it
    must not call), its tool_choice (default required), its expected call and nothing after:
    the call is what is asked of the model; a reply after {"ok": true} would be noise."""
    from ...drivers.scripted import ScriptedDriver
    from ...syscalls.caps import CapSet
    from ...syscalls.grammar import render_call
    from ...syscalls.tool import Tool
    from ..kernel import Kernel
    from .examples import example

    drv = ScriptedDriver()
    out = []
    with Kernel.boot(home, driver=drv) as k:
        for case in cases:
            tools = [t for t in [case.get("tool"), *case.get("others", [])] if t]
            k.tools.remove_app("curriculum")
            for tool in tools:
                k.tools.add(Tool.from_schema(tool, lambda args: {"ok": True}, app="curriculum"))
            if case.get("reply") is not None:  # no call: the answer, or why none of its tools serves
                drv.queue(case["reply"])
            else:
                drv.queue(render_call(case["tool"]["name"], case["arguments"]), "Done.")
            p = k.spawn(task=case["question"], caps=CapSet.parse([f"tool.call:{t['name']}" for t in tools]),
                        max_steps=2, tool_choice=case.get("tool_choice", "required"), app="curriculum")
            list(k.run(p.pid))
            done = k.procs.get(p.pid)
            if case.get("reply") is not None and done.reply != case["reply"]:
                raise RuntimeError(f"function-calling example {case['question']!r} did not reply as written")
            ex = example(k, done, source="toolcall")
            ex["messages"] = ex["messages"][:3]
            ex["meta"].update({"family": "toolcall", "split": case.get("split", "train"), "id": case.get("id"),
                               "tool": (case.get("tool") or {}).get("name")})
            out.append(ex)
        k.tools.remove_app("curriculum")
    return out


def write_jsonl(rows: list[dict], path: Path) -> None:
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def agent_heldout() -> set[str]:
    """The held-out tasks' texts of the agent suite (bench/agent_tasks.py in a source checkout)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "bench" / "agent_tasks.py"
    if not path.is_file():
        return set()
    spec = importlib.util.spec_from_file_location("llmos_agent_tasks", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {t[0] for t in mod.heldout()}
