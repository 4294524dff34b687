"""The engine is plain Python: nothing under engine/ may import Qt or the desktop app."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph", "desktop_app")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_engine_module_imports_qt_or_the_desktop_app():
    offenders = [
        f"{path.relative_to(ENGINE.parent)} imports {name}"
        for path in ENGINE.rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


def test_importing_every_engine_module_loads_no_qt():
    modules = sorted(
        ".".join(path.relative_to(ENGINE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in ENGINE.rglob("*.py")
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# torch is imported when a model is built or loaded, not with the engine's modules: the desktop
# app starts, and its forms and the CLI's `families` or `sweeps` answer, without it.
WITHOUT_TORCH = {
    "registry and forms schema": (
        "from engine.families.registry import FamilyRegistry\n"
        "import tempfile\n"
        "r = FamilyRegistry(tempfile.mkdtemp())\n"
        "[s.training_parameters() for s in r.specs()]\n"
    ),
    "front door and services": (
        "import engine.cli, engine.workspace, engine.replay, engine.strategies\n"
        "import engine.distill, engine.distill.cli, engine.sweeps, engine.sweeps.cli\n"
        "import engine.analysis, engine.analysis.checkpoints, engine.discovery\n"
    ),
}


@pytest.mark.parametrize("code", WITHOUT_TORCH.values(), ids=WITHOUT_TORCH.keys())
def test_loads_without_torch(code):
    code = f"import sys\n{code}sys.exit(1 if 'torch' in sys.modules else 0)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
