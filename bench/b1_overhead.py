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
STEPS = "training steps (forward/backward/optimizer + per-step code)"
EVAL = "evaluation on the test set"
SAME_AS_PLAIN = {STEPS, EVAL}


class Breakdown:
    """Exclusive wall and CPU time of selected engine functions (nested timed calls subtracted)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.aside: dict[str, tuple[float, float]] = {}
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list[float]] = []
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attr: str, label: str, *, aside: bool = False) -> None:
        """Time `owner.attr`; `aside`: a total of its own, left inside its callers' times."""
        original = getattr(owner, attr)

        def timed_aside(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                w0, c0 = self.aside.get(label, (0.0, 0.0))
                self.aside[label] = (
                    w0 + time.perf_counter() - wall,
                    c0 + time.thread_time() - cpu,
                )
                self.calls[label] += 1

        def timed(*args, **kwargs):
            self._stack.append([0.0, 0.0])
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                nested = self._stack.pop()
                self.wall[label] += wall - nested[0]
                self.cpu[label] += cpu - nested[1]
                self.calls[label] += 1
                if self._stack:
                    self._stack[-1][0] += wall
                    self._stack[-1][1] += cpu

        setattr(owner, attr, timed_aside if aside else timed)
        self._undo.append((owner, attr, original))

    def restore(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()


def instrumented_run(runner: C.EngineRunner, n_threads: int) -> tuple[float, float, Breakdown]:
    import torch

    from engine.training import callbacks, chronicle, metrics, trainer

    bd = Breakdown()
    T = trainer.Trainer
    bd.wrap(T, "_setup", "setup (model, data, optimizer, first weights file)")
    bd.wrap(T, "_finish_metadata", "metadata (start/finish)")
    bd.wrap(trainer, "evaluate_split", EVAL)
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
    bd.wrap(T, "_loop", STEPS)
    bd.wrap(os, "fsync", "fsync (durable writes), inside the lines above", aside=True)
    try:
        wall, _trainer, _session = runner.run(n_threads)
    finally:
        bd.restore()
    return wall, runner.cpu_s, bd


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


def variant_ratio(w: C.Workload, home: Path, reps: int, n_threads: int, **training) -> None:
    """Engine with `training` overrides against the same plain loop: median CPU and wall ratios."""
    label = ", ".join(f"{k}={v}" for k, v in training.items())
    runner = C.EngineRunner(home / f"{w.key}-{label}", w, **training)
    runner.run(n_threads)
    walls, cpus = [], []
    for _ in range(reps):
        te, _trainer, _session = runner.run(n_threads)
        ce = runner.cpu_s
        tp, cp, _ = C.timed_cpu(lambda: w.plain(w, n_threads))
        walls.append(te / tp)
        cpus.append(ce / cp)
    print(
        f"  with -t {label}: engine/plain {C.median(walls):.3f} wall, {C.median(cpus):.3f} CPU "
        f"time (median of {reps} pairs)"
    )


def bench_workload(
    w: C.Workload, home: Path, reps: int, n_threads: int, profile: bool, variants: bool = True
):
    runner = C.EngineRunner(home / w.key, w)
    C.prepare_plain(w)
    print(f"\n({w.key}) {w.title}; torch threads {n_threads} for both")
    # Warm-up: first-call costs (lazy imports, allocator) out of the measured runs.
    runner.run(n_threads)
    w.plain(w, n_threads)
    engine_s, plain_s, ratios, cpu_ratios = [], [], [], []
    identical = True
    for i in range(reps):
        te, trainer, _session = runner.run(n_threads)
        ce = runner.cpu_s
        tp, cp, (model, _stats) = C.timed_cpu(lambda: w.plain(w, n_threads))
        identical &= C.same_weights(trainer.model, model)
        engine_s.append(te)
        plain_s.append(tp)
        ratios.append(te / tp)
        cpu_ratios.append(ce / cp)
        print(
            f"  pair {i + 1}: engine {te:7.3f} s   plain {tp:7.3f} s   ratio {te / tp:.3f}"
            f"   (CPU time: {ce:7.3f} s / {cp:7.3f} s = {ce / cp:.3f})"
        )
    steps = trainer.step
    me, mp, mr = C.median(engine_s), C.median(plain_s), C.median(ratios)
    print(
        f"  median: engine {me:.3f} s ({1e3 * me / steps:.3f} ms/step), "
        f"plain {mp:.3f} s ({1e3 * mp / steps:.3f} ms/step), {steps} steps"
    )
    print(f"  final weights bit-identical to the plain loop: {'yes' if identical else 'NO'}")
    print(
        f"  median CPU-time ratio {C.median(cpu_ratios):.3f} (CPU time leaves out waiting for a "
        "core on a shared machine, and waiting for the disk)"
    )

    wall, cpu, bd = instrumented_run(runner, n_threads)
    print(f"  where the time goes: one instrumented engine run, {wall:.3f} s wall, {cpu:.3f} s CPU")
    print(f"    {'wall ms':>9}  {'CPU ms':>9}  {'calls':>6}  {'CPU µs/call':>11}")

    def line(label: str, w_s: float, c_s: float, calls: int | None) -> None:
        per = f"{1e6 * c_s / calls:11.1f}" if calls else " " * 11
        print(f"    {1e3 * w_s:9.1f}  {1e3 * c_s:9.1f}  {calls or '':>6}  {per}  {label}")

    for label in sorted(bd.wall, key=lambda k: -bd.cpu[k]):
        line(label, bd.wall[label], bd.cpu[label], bd.calls[label])
    line(
        "elsewhere in train() (config, metadata, lock)",
        wall - sum(bd.wall.values()),
        cpu - sum(bd.cpu.values()),
        None,
    )
    for label, (w_s, c_s) in bd.aside.items():
        line(label, w_s, c_s, bd.calls[label])
    own_wall = wall - sum(bd.wall[k] for k in SAME_AS_PLAIN)
    own_cpu = cpu - sum(bd.cpu[k] for k in SAME_AS_PLAIN)
    print(
        f"    engine-only work (all but the steps and the evaluation, which the plain loop does "
        f"too): {1e3 * own_wall:.1f} ms wall = {100 * own_wall / wall:.1f}% of this run; "
        f"{1e3 * own_cpu:.1f} ms CPU = {100 * own_cpu / cpu:.1f}%; {1e6 * own_cpu / steps:.1f} "
        "CPU µs/step"
    )
    if w.key == "b" and variants:
        # The same run with a chronicle line every step (log_every=1) and almost none:
        # what per-step logging costs (the mlp family's default is log_every=10).
        for log_every in (1, 250):
            variant_ratio(w, home, reps, n_threads, log_every=log_every)
    if profile:
        profile_run(runner, n_threads)
    target = TARGETS[w.key]
    verdict = "met" if mr <= target else "MISSED"
    if not variants:  # --quick: tiny runs, no verdict
        verdict = "no verdict in --quick"
    print(
        f"RATIO B1{w.key} engine/plain = {mr:.3f} (wall clock, median of {reps} pairs; ratio of "
        f"medians {me / mp:.3f}; CPU time {C.median(cpu_ratios):.3f}; target <= {target}: {verdict})"
    )
    return mr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny runs, one pair (CI smoke test)")
    parser.add_argument(
        "--reps", type=int, default=None, help="A B pairs per workload (default: 5 for a, 10 for b)"
    )
    parser.add_argument("--threads", type=int, default=default_threads(), help="torch threads")
    parser.add_argument("--workloads", default="ab", help="which workloads: a, b or ab")
    parser.add_argument("--profile", action="store_true", help="also cProfile one engine run")
    args = parser.parse_args(argv)

    print(f"B1 engine overhead on {C.machine()}; load average {C.load_average()}")
    with C.temp_home() as home:
        for key in args.workloads:
            if key == "a":
                w = C.modulo_workload(epochs=3, p=31) if args.quick else C.modulo_workload(200)
            elif key == "b":
                w = C.mlp_workload(
                    home, epochs=1 if args.quick else 3, rows=2000 if args.quick else 10_000
                )
            else:
                parser.error(f"unknown workload {key!r}")
            reps = 1 if args.quick else (args.reps or {"a": 5, "b": 10}[key])
            bench_workload(w, home, reps, args.threads, args.profile, variants=not args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
