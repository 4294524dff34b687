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
