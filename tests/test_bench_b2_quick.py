"""bench/b2_gui.py --quick still runs end to end and prints its summary lines.

It drives the real main window offscreen (train through Start, both workloads, with the loop
in the QThread and in a child process; a chronicle through the worker; start-up subprocesses). No timing is asserted: the figures belong in bench/README.md, and the
quick mode's samples are too small to mean anything; this only keeps the script working.
"""

from __future__ import annotations

import re

import pytest
from helpers.bench import run_quick

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("psutil")


LATENESS = [
    rf"B2 timer lateness {figure} \d+\.\d+ ms \[{workload}, loop in {where}, offscreen\]"
    for figure in ("p99", "max")
    for workload in ("modulo", "mlp")
    for where in ("the QThread", "a child process")
]
SUMMARY = [
    r"B2 first paint \(python -m desktop_app\) median \d+\.\d+ s",
    *LATENESS,
    r"B2 plot frame \(redraw \+ grab\) at [\d,]+\.\.[\d,]+ points median \d+\.\d+ ms",
    r"B2 memory growth -?\d+\.\d+ MB per 100,000 rows",
]


def test_b2_quick_mode_runs_and_prints_its_summary(tmp_path) -> None:
    home = str(tmp_path / "home")
    stdout = run_quick(
        "b2_gui.py", tmp_path, timeout=300, QT_QPA_PLATFORM="offscreen", TRAINWRIGHT_HOME=home
    )
    for pattern in SUMMARY:
        line = re.search(rf"^{pattern}.*\((?:.*)\) (PASS|MISS)", stdout, re.M)
        assert line, f"no line matching {pattern!r} in:\n{stdout[-3000:]}"
