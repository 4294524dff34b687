"""Running a bench/ script in its quick mode from a test, as a user would from a shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_quick(script: str, tmp_path: Path, *, timeout: int, **env: str) -> str:
    """`python bench/SCRIPT --quick` with temp files under `tmp_path`; its stdout, after
    asserting it exited 0 (the failure message shows the end of both streams)."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path), **env}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=environment,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout
