"""Each benchmark's --quick mode still runs and prints its ratio line.

No timing is asserted here (timings belong in bench/README.md); this only keeps the scripts
working as the engine changes.
"""

from __future__ import annotations

import importlib.util
import re

import pytest
from helpers.bench import run_quick

CASES = [
    ("b1_overhead.py", ["B1a engine/plain", "B1b engine/plain"]),
    ("b3_grok.py", ["B3 engine/reference ms per epoch"]),
    ("b4_threads.py", ["B4a 2 threads / 1 thread", "B4b 2 threads / 1 thread"]),
    ("b5_library_jobs.py", ["B5a resolve first/again", "B5b load decode/cache", "B5c job/direct"]),
    ("b6_images.py", ["B6a engine/plain", "B6b cache/decode images per second"]),
    (
        "b7_inference.py",
        [
            "B7 mlp batch 1 onnx/torch",
            "B7 mlp batch 1000 onnx/torch",
            "B7 cnn batch 1 onnx/torch",
            "B7 cnn batch 1000 onnx/torch",
        ],
    ),
]


# B8 times the Ray executor: it needs the ray extra (CI installs it; see .ci/run).
RAY_CASE = pytest.param(
    "b8_ray.py",
    [
        "B8a ray/local per-trial overhead, parallel 2",
        "B8b ray/local sweep wall time, parallel 2",
        "B8c ray speedup of parallel 2 over 1",
        "B8d local speedup of parallel 2 over 1",
    ],
    id="b8_ray.py",
    marks=pytest.mark.skipif(
        importlib.util.find_spec("ray") is None,
        reason="B8 needs the ray extra: pip install 'trainwright[ray]'",
    ),
)


@pytest.mark.parametrize(
    ("script", "ratios"), [*(pytest.param(*c, id=c[0]) for c in CASES), RAY_CASE]
)
def test_quick_mode_runs_and_prints_its_ratio(script: str, ratios: list[str], tmp_path) -> None:
    stdout = run_quick(script, tmp_path, timeout=240)
    for ratio in ratios:
        assert re.search(rf"^RATIO {re.escape(ratio)} = \d+\.\d+", stdout, re.M), stdout


def test_b9_quick_mode_runs_with_or_without_tensorflow(tmp_path) -> None:
    """B9 trains each case (two tables, the digits CNN) with torch, and with tensorflow where the extra is installed
    (its ratio line); without it, a line says the column is skipped, and it still exits 0."""
    from engine.backends import tensorflow_available

    stdout = run_quick("b9_backends.py", tmp_path, timeout=240)
    for table in ("two_moons", "wine", "digits_cnn"):
        assert re.search(rf"^B9 {table} torch: \d+\.\d+ s/epoch", stdout, re.M), stdout
        ratio = rf"^RATIO B9 {table} tf/torch seconds per epoch = \d+\.\d+"
        assert bool(re.search(ratio, stdout, re.M)) == tensorflow_available(), stdout
    if not tensorflow_available():
        assert "B9 tensorflow: skipped, " in stdout
