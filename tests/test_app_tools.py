"""Tools from apps: a loose-file app hands over a nested JSON Schema tool; it is listed, called,
replaced on reload, and (on the real model) called with valid nested arguments."""

from __future__ import annotations

import json
import textwrap

import pytest
from llmos.apps.registry import install_tools
from llmos.kernel import Kernel
from llmos.shell.cli import main
from llmos.syscalls.caps import CapSet

APP = textwrap.dedent('''
    from llmos.apps.sdk import App
    from llmos.syscalls.tool import Tool

    ORDER = {
        "name": "shop.order",
        "description": "Place an order for a customer.",
        "parameters": {
            "type": "object",
            "properties": {
                "customer": {"type": "object", "description": "who orders",
                             "properties": {"name": {"type": "string"}, "city": {"type": "string"}},
                             "required": ["name", "city"]},
                "items": {"type": "array", "description": "what to order",
                          "items": {"type": "object", "properties": {"product": {"type": "string"},
                                                                     "quantity": {"type": "integer"}},
                                    "required": ["product", "quantity"]}},
                "express": {"type": "boolean", "description": "fast delivery"},
            },
            "required": ["customer", "items"],
        },
    }

    def place(args):
        return {"order": VERSION, "items": len(args["items"])}

    VERSION = 1
    app = App({"name": "shop", "description": "A little shop.", "capabilities": ["tool.call:shop.*"]},
              tools=[Tool.from_schema(ORDER, place)])
''')


@pytest.fixture
def shop(home):
    (home / "apps").mkdir(parents=True, exist_ok=True)
    path = home / "apps" / "shop.py"
    path.write_text(APP)
    return path


def test_a_loose_file_app_tool_is_listed_called_and_replaced_on_reload(home, shop, capsys):
    assert main(["tool", "list", "--json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed["shop.order"]["app"] == "shop" and "customer" in listed["shop.order"]["parameters"]["properties"]
    args = {"name": "shop.order", "args": {"customer": {"name": "Ada", "city": "Porto"},
                                           "items": [{"product": "tea", "quantity": 2}]}}
    assert main(["call", "tool.call", "--args-json", json.dumps(args)]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == {"order": 1, "items": 1}
    shop.write_text(APP.replace("VERSION = 1", "VERSION = 2"))  # the app changes: loading it again replaces its tool
    assert main(["call", "tool.call", "--args-json", json.dumps(args)]) == 0
    assert json.loads(capsys.readouterr().out)["result"]["order"] == 2
    bad = {"name": "shop.order", "args": {"customer": {"name": "Ada"}, "items": []}}
    assert main(["call", "tool.call", "--args-json", json.dumps(bad)]) == 22  # EINVAL: city is required
    err = capsys.readouterr().err
    assert err.startswith("llmos: EINVAL") and "city" in err and "Traceback" not in err


def test_an_app_whose_tool_is_refused_is_reported_not_fatal(home, capsys):
    (home / "apps").mkdir(parents=True)
    (home / "apps" / "bad.py").write_text(APP.replace('"type": "boolean"', '"not": {}'))
    with Kernel.boot() as k:
        problems = install_tools(k)
        assert any("shop" in p and "not" in p for p in problems) and k.tools.get("shop.order") is None
        assert k.tools.get("calculator") is not None


def test_a_bad_tool_choice_is_one_line(home, shop, capsys):
    assert main(["run", "hi", "--app", "shop", "--tool-choice", "nosuch"]) == 22
    err = capsys.readouterr().err
    assert "tool choice 'nosuch'" in err and "Traceback" not in err


@pytest.mark.real
def test_the_real_model_calls_a_nested_tool_with_valid_arguments(home, shop, smollm):
    with Kernel.boot(driver=smollm) as k:
        install_tools(k)
        p = k.spawn(task="Order 2 packs of tea and 1 kettle for Ada, who lives in Porto.",
                    caps=CapSet.parse(["tool.call:shop.*"]), tool_choice="required", max_steps=1, app="shop")
        steps = list(k.run(p.pid))
        action = next(s for s in steps if s.type == "action")
        assert action.call == "shop.order"
        # valid whatever the model chose: the dispatcher accepted it (the schema's validation passed)
        obs = next(s for s in steps if s.type == "observation")
        assert obs.ok, obs
        assert isinstance(action.args["customer"], dict) and isinstance(action.args["items"], list)
        assert all(isinstance(i["quantity"], int) for i in action.args["items"])
        print(f"\n[nested tool] {json.dumps(action.args)}")
