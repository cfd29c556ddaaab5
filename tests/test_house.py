"""The house rules: arrows point down (shell -> apps -> kernel -> syscalls -> drivers), ruff clean."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["shell", "apps", "kernel", "syscalls", "drivers"]  # each may import only those after it


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level >= 2 and node.module:  # from ..kernel.x import y
                found.add(node.module.split(".")[0])
            elif node.level == 0 and node.module and node.module.startswith("llmos."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("llmos."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_down(layer):
    above = set(LAYERS[: LAYERS.index(layer)])
    for path in (ROOT / layer).rglob("*.py"):
        bad = _imports(path) & above
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}, a layer above {layer}"


def test_ruff_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is in the [dev] extra; make test installs it"
    p = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
