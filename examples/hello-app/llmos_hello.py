"""hello: an example third-party llmos app.

A code app: `main(sys, task)` makes syscalls through `sys` (stubs bound to its process: its
grants, its workspace, its budget) and returns its reply. It also brings one tool, `hello.shout`,
which the model of any process granted `tool.call:hello.*` can call.
"""

from llmos.apps.sdk import App
from llmos.syscalls.tool import Tool


def shout(text: str) -> str:
    """Say `text` loudly: in capitals, with an exclamation mark."""
    return text.upper().rstrip("!.") + "!"


def main(sys, task: str) -> str:
    name = task.strip() or "world"
    greeting = f"Hello, {name}"
    sys.fs.write(path="greeting.txt", content=greeting + "\n")  # needs fs.write
    loud = sys.tool.call(name="hello.shout", args={"text": greeting}).result  # needs tool.call:hello.*
    return f"{loud} (kept in greeting.txt)"


app = App(
    {
        "name": "hello",
        "description": "Greets someone, keeps the greeting in greeting.txt, and brings the hello.shout tool.",
        "kind": "code",
        # What it asks for. Nothing is granted until a person says so at install or first run.
        "capabilities": ["fs.write", "tool.call:hello.*"],
    },
    main=main,
    tools=[Tool.from_function(shout, name="hello.shout")],
)
