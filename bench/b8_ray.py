"""B8: the Ray executor against local worker processes, on the same 8-trial sweep.

The sweep: an 8-combination grid of the mlp family on two_moons (hidden_dim 16 and 32 by
four seeds, two hidden layers, one torch thread each), run by `engine.sweeps.run_sweep` as
`trainwright sweep` runs it, from an empty home each time:

    local 2   --parallel 2: a new pool of two spawned worker processes (each imports torch
              and the engine), as every `trainwright sweep --parallel 2` gets
    ray 2     --executor ray --parallel 2: Ray tasks of one CPU each on a Ray started once
              for the bench (2 CPUs, 127.0.0.1), its workers warm after one untimed sweep,
              as on a cluster that keeps running; each sweep still connects, checks that the
              workers see the home (one task per node) and submits its trials
    local 1   --parallel 1: one trial after another in the bench's own process
    ray 1     --executor ray --parallel 1: one Ray task at a time

Every side must give each trial the same weights (checked), so the times compare the same
computation. Per-trial overhead is the slot time not spent training: (parallel x wall - sum
of the trials' own training times) / 8. The four sides alternate over N rounds (the order
rotates each round); each ratio is the median of the per-round ratios:

    B8a  ray/local per-trial overhead, parallel 2
    B8b  ray/local sweep wall time, parallel 2
    B8c  ray speedup of parallel 2 over 1 (wall 1 / wall 2)
    B8d  local speedup of parallel 2 over 1 (wall 1 / wall 2)

Needs the ray extra (`pip install 'trainwright[ray]'`); without it the bench says so and
exits 2. Ray's own start (`ray.init`) is timed once and printed, not in the ratios.

Usage:
    .venv/bin/python bench/b8_ray.py            # ~50 s on 2 cores
    .venv/bin/python bench/b8_ray.py --quick    # ~17 s (CI): 4 epochs, one round
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Before Ray is imported: the bench's Ray binds to 127.0.0.1 and takes no token (it is the
# bench's alone, and gone when the bench ends).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import _common as C

GRID = {"hidden_dim": "16, 32", "seed": "0, 1, 2, 3"}
DOMAIN = {"num_hidden_layers": 2}
SIDES = (("local", 2), ("ray", 2), ("local", 1), ("ray", 1))


@dataclass(frozen=True)
class Settings:
    epochs: int
    rounds: int


FULL = Settings(epochs=20, rounds=3)
QUICK = Settings(epochs=4, rounds=1)


@dataclass
class Run:
    """One timed sweep: wall seconds, the trials' own training seconds, their weights."""

    wall: float
    trained: float
    hashes: list[str | None]

    def overhead(self, parallel: int, trials: int) -> float:
        """Slot seconds per trial not spent training."""
        return (parallel * self.wall - self.trained) / trials


def run_side(executor: str, parallel: int, epochs: int, root: Path) -> Run:
    """The grid from an empty home with this executor and parallel setting."""
    from engine.sweeps import sweep
    from engine.workspace import Workspace

    ws = Workspace(Path(tempfile.mkdtemp(dir=root)))
    training = {"epochs": epochs, "threads": 1}
    started = time.perf_counter()
    record = sweep(ws, "mlp", GRID, DOMAIN, training, parallel=parallel, executor=executor)
    wall = time.perf_counter() - started
    if record.status != "completed" or any(r.result != "completed" for r in record.rows):
        raise RuntimeError(f"{executor} parallel {parallel}: {[r.error for r in record.rows]}")
    return Run(
        wall, sum(r.duration_s for r in record.rows), [r.weights_sha256 for r in record.rows]
    )


def start_ray(cpus: int, temp_dir: Path) -> float:
    """A new local Ray for the bench; its seconds. Its session lives in `temp_dir`, a short
    path: Ray's sockets are in there, and a Unix socket path is at most 107 bytes (too few
    under a test's TMPDIR)."""
    import ray

    started = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=cpus,
        include_dashboard=False,
        logging_level="warning",
        _temp_dir=str(temp_dir),
    )
    return time.perf_counter() - started


def bench(settings: Settings, root: Path) -> None:
    runs: dict[tuple[str, int], list[Run]] = {side: [] for side in SIDES}
    warm = run_side("ray", 2, settings.epochs, root)  # Ray's workers import torch once
    print(f"untimed warm-up sweep on Ray: {warm.wall:.2f} s")
    for k in range(settings.rounds):
        order = SIDES[k % len(SIDES) :] + SIDES[: k % len(SIDES)]
        for side in order:
            runs[side].append(run_side(*side, settings.epochs, root))
        line = "  ".join(f"{e} {p}: {runs[(e, p)][-1].wall:.2f} s" for e, p in SIDES)
        print(f"round {k + 1}: {line}")
    hashes = {tuple(r.hashes) for side in SIDES for r in runs[side]} | {tuple(warm.hashes)}
    assert len(hashes) == 1, "every side must train each trial to the same weights"
    report(runs, settings)


def report(runs: dict[tuple[str, int], list[Run]], settings: Settings) -> None:
    trials = 8
    for (executor, parallel), done in runs.items():
        wall = C.median([r.wall for r in done])
        overhead = C.median([r.overhead(parallel, trials) for r in done])
        trained = C.median([r.trained for r in done])
        print(
            f"B8 {executor} parallel {parallel}: sweep {wall:.2f} s, training {trained:.2f} s "
            f"in all, overhead {overhead * 1e3:.0f} ms per trial"
        )
    pairs = list(zip(runs[("ray", 2)], runs[("local", 2)], strict=True))
    per_round = [r.overhead(2, trials) / max(1e-9, lo.overhead(2, trials)) for r, lo in pairs]
    print(f"RATIO B8a ray/local per-trial overhead, parallel 2 = {C.median(per_round):.3f}")
    walls = [r.wall / lo.wall for r, lo in pairs]
    print(f"RATIO B8b ray/local sweep wall time, parallel 2 = {C.median(walls):.3f}")
    for key, executor in (("c", "ray"), ("d", "local")):
        one, two = runs[(executor, 1)], runs[(executor, 2)]
        speedups = [a.wall / b.wall for a, b in zip(one, two, strict=True)]
        print(
            f"RATIO B8{key} {executor} speedup of parallel 2 over 1 = {C.median(speedups):.3f}"
            f" (median of {settings.rounds} rounds)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="4 epochs, one round (CI)")
    parser.add_argument("--rounds", type=int, default=0, help="rounds of the 4 sides (default 3)")
    parser.add_argument("--epochs", type=int, default=0, help="epochs per trial (default 20)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the bench's Ray (default 2)")
    args = parser.parse_args(argv)
    try:
        import ray
    except ImportError:
        print("B8 needs the ray extra: pip install 'trainwright[ray]'", file=sys.stderr)
        return 2
    settings = QUICK if args.quick else FULL
    settings = Settings(args.epochs or settings.epochs, args.rounds or settings.rounds)
    print(f"machine: {C.machine()}; load average {C.load_average()}; ray {ray.__version__}")
    print(f"sweep: 8 trials, mlp 2 hidden layers, {settings.epochs} epochs, 1 thread each")
    ray_dir = Path(tempfile.mkdtemp(prefix="tw-b8-", dir="/tmp"))
    try:
        seconds = start_ray(args.cpus, ray_dir)
        print(f"ray.init (a new local Ray, {args.cpus} CPUs): {seconds:.2f} s")
        with C.temp_home() as root:
            bench(settings, root)
    finally:
        ray.shutdown()
        shutil.rmtree(ray_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
