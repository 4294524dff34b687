"""B4 — threads and start-up: engine training speed with 1 and 2 torch threads, and cold start.

For workloads (a) modulo addition p = 113 (full batch) and (b) the 2×64 MLP on a 10,000 × 20
CSV (batch 32), the engine's Trainer runs alternately with 1 and 2 torch threads (A B A B);
the ratio is time(2 threads) / time(1 thread), median over pairs (below 1: 2 threads faster).
Start-up: a fresh interpreter importing the engine, and a fresh process until the end of its
first training epoch.

    .venv/bin/python bench/b4_threads.py            # ~3 min
    .venv/bin/python bench/b4_threads.py --quick    # seconds (CI)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

from engine.training.trainer import default_threads

REPO = Path(__file__).resolve().parent.parent

COLD_START = """
import sys, tempfile, time
t0 = time.perf_counter()
from engine.workspace import Workspace
from engine.training.callbacks import Callback
t_import = time.perf_counter() - t0
class First(Callback):
    def on_epoch_end(self, metrics):
        if metrics.epoch == 1:
            print(f"FIRST_EPOCH {time.perf_counter() - t0:.3f}", flush=True)
ws = Workspace(tempfile.mkdtemp())
v = ws.create_variant("modulo_addition_1layer", {"prime": int(sys.argv[1])}, {"epochs": 1})
ws.trainer(v, [First()], threads=1).train()
print(f"IMPORT {t_import:.3f}")
"""


def speed(w: C.Workload, home: Path, pairs: int, unit: str) -> float:
    runner = C.EngineRunner(home / w.key, w)
    runner.run(1)  # warm-up
    print(f"\n({w.key}) {w.title}")
    per: dict[int, list[float]] = {1: [], 2: []}
    ratios = []
    for i in range(pairs):
        times = {}
        for n in (1, 2):
            seconds, trainer, _session = runner.run(n)
            count = trainer.epoch if unit == "epoch" else trainer.step
            times[n] = seconds
            per[n].append(1e3 * seconds / count)
        ratios.append(times[2] / times[1])
        print(
            f"  pair {i + 1}: 1 thread {per[1][-1]:8.3f} ms/{unit}   2 threads "
            f"{per[2][-1]:8.3f} ms/{unit}   ratio {ratios[-1]:.3f}"
        )
    ratio = C.median(ratios)
    print(
        f"  median: 1 thread {C.median(per[1]):.3f} ms/{unit}, 2 threads "
        f"{C.median(per[2]):.3f} ms/{unit}"
    )
    print(f"RATIO B4{w.key} 2 threads / 1 thread = {ratio:.3f} (median of {pairs} pairs)")
    return ratio


PUBLIC_SWITCH = """
import time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
torch.use_deterministic_algorithms(True)
print(f"{t1 - t0:.3f} {time.perf_counter() - t1:.3f}")
"""


def public_switch_cost() -> tuple[float, float]:
    """(import torch, first torch.use_deterministic_algorithms) in a fresh process: the second
    is what the trainer no longer pays (it sets the flag without importing torch._inductor)."""
    out = subprocess.run(
        [sys.executable, "-c", PUBLIC_SWITCH], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def cold_start(prime: int) -> tuple[float, float, float]:
    """(seconds to import the engine, to the end of the first epoch, process total)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", COLD_START, str(prime)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=REPO,
    ).stdout
    total = time.perf_counter() - start
    values = dict(line.split() for line in out.splitlines() if line.split()[0].isupper())
    return float(values["IMPORT"]), float(values["FIRST_EPOCH"]), total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny runs, one pair (CI)")
    parser.add_argument("--pairs", type=int, default=3, help="1-thread/2-thread pairs")
    args = parser.parse_args(argv)
    pairs = 1 if args.quick else args.pairs
    print(f"B4 threads on {C.machine()}; load average {C.load_average()}")
    print(f"engine default: default_threads() = {default_threads()} on this machine")
    with C.temp_home() as home:
        modulo = C.modulo_workload(epochs=2, p=31) if args.quick else C.modulo_workload(30)
        speed(modulo, home, pairs, "epoch")
        rows = 2000 if args.quick else 10_000
        speed(C.mlp_workload(home, epochs=1 if args.quick else 3, rows=rows), home, pairs, "step")
    prime = 11 if args.quick else 113
    starts = [cold_start(prime) for _ in range(1 if args.quick else 3)]
    imp = C.median([s[0] for s in starts])
    first = C.median([s[1] for s in starts])
    total = C.median([s[2] for s in starts])
    print(
        f"\nstart-up (fresh process, median of {len(starts)}): import engine {imp:.2f} s; "
        f"to the end of epoch 1 of modulo addition p={prime} {first:.2f} s; "
        f"whole process {total:.2f} s"
    )
    if args.quick:
        return 0
    switch = [public_switch_cost() for _ in range(3)]
    print(
        f"  for comparison, a fresh process: import torch {C.median([s[0] for s in switch]):.2f} s, "
        f"then a first torch.use_deterministic_algorithms(True) "
        f"{C.median([s[1] for s in switch]):.2f} s (it imports torch._inductor; the trainer "
        "sets the flag without it)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
