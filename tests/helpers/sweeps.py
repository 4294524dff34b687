"""Killing a `trainwright sweep` process mid-run, for the SIGKILL-and-resume tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def read_sweep_json(path: Path) -> dict:
    """A sweep.json as it is now ({"rows": []} when caught mid-rewrite by the atomic replace:
    read it again next time)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"rows": []}


def kill_sweep_midway(
    command: list[str], home: Path, log: Path, *, family: str = "mlp", timeout: float = 120
) -> str | None:
    """Run `command` (a sweep CLI) against `home`, and SIGKILL it once a row is stored and a
    run not yet recorded has a full checkpoint: the name of that run's variant, or None if
    the process ended (or `timeout` passed) first. Its stderr goes to `log`."""
    env = {**os.environ, "TRAINWRIGHT_HOME": str(home)}
    with log.open("w") as stderr:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        killed_in = None
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and process.poll() is None:
                killed_in = _run_to_kill(home, family)
                if killed_in is not None:
                    process.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.01)
        finally:
            if process.poll() is None and killed_in is None:
                process.kill()
            process.wait(timeout=30)
    return killed_in


def _run_to_kill(home: Path, family: str) -> str | None:
    """A variant with a full checkpoint that has no row yet, once some row is stored."""
    files = list((home / "sweeps").glob("*/sweep.json"))
    rows = read_sweep_json(files[0])["rows"] if files else []
    if not rows:
        return None
    done = {r["variant"] for r in rows}
    for state in (home / "variants" / family).glob("*/checkpoints/state_e*.pt"):
        if state.parents[1].name not in done:
            return state.parents[1].name
    return None
