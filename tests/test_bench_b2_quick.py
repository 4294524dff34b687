"""bench/b2_gui.py --quick still runs end to end and prints its summary lines.

It drives the real main window offscreen (train through Start, a chronicle through the worker,
start-up subprocesses). No timing is asserted: the figures belong in bench/README.md, and the
quick mode's samples are too small to mean anything; this only keeps the script working.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parent.parent

SUMMARY = [
    r"B2 first paint \(python -m desktop_app\) median \d+\.\d+ s",
    r"B2 timer lateness p99 \d+\.\d+ ms",
    r"B2 timer lateness max \d+\.\d+ ms",
    r"B2 plot frame \(redraw \+ grab\) at [\d,]+\.\.[\d,]+ points median \d+\.\d+ ms",
    r"B2 memory growth -?\d+\.\d+ MB per 100,000 rows",
]


def test_b2_quick_mode_runs_and_prints_its_summary(tmp_path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TMPDIR": str(tmp_path),
        "QT_QPA_PLATFORM": "offscreen",
        "TRAINWRIGHT_HOME": str(tmp_path / "home"),
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "b2_gui.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for pattern in SUMMARY:
        line = re.search(rf"^{pattern}.*\((?:.*)\) (PASS|MISS)", done.stdout, re.M)
        assert line, f"no line matching {pattern!r} in:\n{done.stdout[-3000:]}"
