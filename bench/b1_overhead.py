"""B1 — engine overhead: the engine's Trainer against a hand-written PyTorch loop, side by side.

Both train the same model on the same data with the same seed, optimizer, number of steps and
evaluation cadence (test set every epoch) and end with bit-identical weights (checked). They
alternate A B A B; the headline is the median of the per-pair ratios engine/plain, which a
shared machine's drifting load affects least. A last instrumented engine run says where the
extra time goes (chronicle, evaluation, checkpoints, callbacks, bookkeeping).

    .venv/bin/python bench/b1_overhead.py            # both workloads, 5 pairs each
    .venv/bin/python bench/b1_overhead.py --quick    # seconds: keeps the script working (CI)
    .venv/bin/python bench/b1_overhead.py --profile  # adds a cProfile of one engine run
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

from engine.training.trainer import default_threads

TARGETS = {"a": 1.05, "b": 1.15}


class Breakdown:
    """Exclusive wall time of selected engine functions (nested timed calls subtracted)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.aside: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[float] = []
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attr: str, label: str, *, aside: bool = False) -> None:
        """Time `owner.attr`; `aside`: a total of its own, left inside its callers' times."""
        original = getattr(owner, attr)

        def timed_aside(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.aside[label] += time.perf_counter() - start
                self.calls[label] += 1

        def timed(*args, **kwargs):
            self._stack.append(0.0)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                nested = self._stack.pop()
                self.totals[label] += elapsed - nested
                self.calls[label] += 1
                if self._stack:
                    self._stack[-1] += elapsed

        setattr(owner, attr, timed_aside if aside else timed)
        self._undo.append((owner, attr, original))

    def restore(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()


def instrumented_run(runner: C.EngineRunner, n_threads: int) -> tuple[float, Breakdown]:
    import torch

    from engine.training import callbacks, chronicle, metrics, trainer

    bd = Breakdown()
    T = trainer.Trainer
    bd.wrap(T, "_setup", "setup (model, data, optimizer, first weights file)")
    bd.wrap(T, "_finish_metadata", "metadata (start/finish)")
    bd.wrap(trainer, "evaluate", "evaluation on the test set")
    bd.wrap(chronicle.ChronicleWriter, "append", "chronicle lines (json + write)")
    bd.wrap(chronicle.ChronicleWriter, "sync", "chronicle fsync")
    bd.wrap(T, "_save_weights", "checkpoints: weights files")
    bd.wrap(T, "_save_full", "checkpoints: resumable state")
    bd.wrap(metrics.EpochAccumulator, "update", "train metrics (accumulator)")
    bd.wrap(T, "_grad_norm", "grad norm")
    bd.wrap(torch.optim.lr_scheduler.LambdaLR, "step", "lr scheduler step")
    for hook in ("on_train_start", "on_log", "on_epoch_end", "on_checkpoint", "on_train_end"):
        bd.wrap(callbacks.CallbackList, hook, "callbacks")
    bd.wrap(T, "_end_epoch", "epoch bookkeeping (EpochMetrics, stagnation)")
    bd.wrap(T, "_loop", "training steps (forward/backward/optimizer + per-step code)")
    bd.wrap(os, "fsync", "fsync (durable writes), inside the lines above", aside=True)
    try:
        wall, _trainer, _session = runner.run(n_threads)
    finally:
        bd.restore()
    return wall, bd


def profile_run(runner: C.EngineRunner, n_threads: int, top: int = 14) -> None:
    prof = cProfile.Profile()
    prof.enable()
    runner.run(n_threads)
    prof.disable()
    stats = pstats.Stats(prof)
    by_module: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        by_module[_module_of(filename)] += tt
    total = sum(by_module.values())
    print(f"  cProfile of one engine run, self time by module ({total:.2f} s profiled):")
    for module, seconds in sorted(by_module.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {seconds * 1000:9.1f} ms  {100 * seconds / total:5.1f}%  {module}")


def _module_of(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "torch C++ kernels / builtins"
    parts = Path(filename).parts
    for anchor in ("engine", "torch", "pydantic", "json"):
        if anchor in parts:
            i = len(parts) - 1 - parts[::-1].index(anchor)
            return "/".join(parts[i:])
    return Path(filename).name


def bench_workload(w: C.Workload, home: Path, reps: int, n_threads: int, profile: bool):
    runner = C.EngineRunner(home / w.key, w)
    C.prepare_plain(w)
    print(f"\n({w.key}) {w.title}; torch threads {n_threads} for both")
    # Warm-up: first-call costs (lazy imports, allocator) out of the measured runs.
    runner.run(n_threads)
    w.plain(w, n_threads)
    engine_s, plain_s, ratios = [], [], []
    identical = True
    for i in range(reps):
        te, trainer, _session = runner.run(n_threads)
        tp, (model, _stats) = C.timed(lambda: w.plain(w, n_threads))
        identical &= C.same_weights(trainer.model, model)
        engine_s.append(te)
        plain_s.append(tp)
        ratios.append(te / tp)
        print(f"  pair {i + 1}: engine {te:7.3f} s   plain {tp:7.3f} s   ratio {te / tp:.3f}")
    steps = trainer.step
    me, mp, mr = C.median(engine_s), C.median(plain_s), C.median(ratios)
    print(
        f"  median: engine {me:.3f} s ({1e3 * me / steps:.3f} ms/step), "
        f"plain {mp:.3f} s ({1e3 * mp / steps:.3f} ms/step), {steps} steps"
    )
    print(f"  final weights bit-identical to the plain loop: {'yes' if identical else 'NO'}")

    wall, bd = instrumented_run(runner, n_threads)
    extra = wall - mp
    print(
        f"  where the time goes (one instrumented engine run, {wall:.3f} s; plain median {mp:.3f} s):"
    )
    for label, seconds in sorted(bd.totals.items(), key=lambda kv: -kv[1]):
        print(
            f"    {seconds * 1000:9.1f} ms  {bd.calls[label]:6d} calls  "
            f"{1e6 * seconds / max(1, bd.calls[label]):9.1f} µs/call  {label}"
        )
    rest = wall - sum(bd.totals.values())
    print(
        f"    {rest * 1000:9.1f} ms                            elsewhere in train() (config, metadata, lock)"
    )
    for label, seconds in bd.aside.items():
        print(
            f"    {seconds * 1000:9.1f} ms  {bd.calls[label]:6d} calls  "
            f"{1e6 * seconds / max(1, bd.calls[label]):9.1f} µs/call  {label}"
        )
    print(
        f"    engine − plain in this run: {extra * 1000:.1f} ms ({1e6 * extra / steps:.1f} µs/step)"
    )
    if profile:
        profile_run(runner, n_threads)
    target = TARGETS[w.key]
    verdict = "met" if mr <= target else "MISSED"
    print(
        f"RATIO B1{w.key} engine/plain = {mr:.3f} (median of {reps} pairs; "
        f"ratio of medians {me / mp:.3f}; target <= {target}: {verdict})"
    )
    return mr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny runs, one pair (CI smoke test)")
    parser.add_argument("--reps", type=int, default=5, help="A B pairs per workload (default 5)")
    parser.add_argument("--threads", type=int, default=default_threads(), help="torch threads")
    parser.add_argument("--workloads", default="ab", help="which workloads: a, b or ab")
    parser.add_argument("--profile", action="store_true", help="also cProfile one engine run")
    args = parser.parse_args(argv)

    print(f"B1 engine overhead on {C.machine()}; load average {C.load_average()}")
    reps = 1 if args.quick else args.reps
    with C.temp_home() as home:
        for key in args.workloads:
            if key == "a":
                w = C.modulo_workload(epochs=3 if args.quick else 200)
            elif key == "b":
                w = C.mlp_workload(
                    home, epochs=1 if args.quick else 3, rows=2000 if args.quick else 10_000
                )
            else:
                parser.error(f"unknown workload {key!r}")
            bench_workload(w, home, reps, args.threads, args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
