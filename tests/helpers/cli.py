"""The `trainwright` CLI run for real, in a subprocess, against a test's own data home."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_S = 120  # a hung command fails its test (under pytest-timeout's 300 s for the run)


def run_cli(home: Path | str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    """`python -m engine.cli --home HOME ARGS...` from the repository root, its output captured
    as text and nothing on its standard input; keyword arguments go to subprocess.run (check,
    timeout, env, ...)."""
    options: dict[str, Any] = {
        "cwd": ROOT,
        "capture_output": True,
        "text": True,
        "stdin": subprocess.DEVNULL,
        "timeout": CLI_TIMEOUT_S,
    }
    options.update(kwargs)
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "--home", str(home), *map(str, args)], **options
    )
