"""B9: the tensorflow backend (Keras 3) against torch, on the same models and the same data.

Each case trained through the engine's public API as the CLI trains it:
`Workspace(home).create_variant(family, domain, {"backend": B, ...})`, then
`Workspace.train(variant)`, each run from an empty home, on one thread:

    two_moons    the mlp family's defaults (2 hidden layers of 128, Adam, test evaluation
                 every epoch): 2 features, 2 classes (its default: 20 epochs, batch 32)
    wine         the same MLP: 13 features, 3 classes (its default: 40 epochs, batch 16)
    digits_cnn   the image_classifier family's default CNN (conv 32-64-128, batch norm, max
                 pooling) on the 8x8 digits, 5 epochs (batch 64)

with backend torch (the engine's Trainer, in the bench's process) and backend tensorflow
(Keras in a spawned process, writing the same chronicle and metadata). The two backends alternate
over N rounds (torch first, then tensorflow first). Per backend and table it prints:

    s/epoch     the run's median `epoch_time` (EpochMetrics: a training epoch and its
                evaluation), the median over the rounds
    test acc    the final `test_accuracy` (final_metrics); the backends initialise and shuffle
                differently, so the two need not agree, only be comparable
    train()     the whole call's wall time: for tensorflow, starting its process and importing
                tensorflow too (not in s/epoch)

    RATIO B9 <table> tf/torch seconds per epoch = the median over the rounds of the round's
    tensorflow s/epoch / torch s/epoch (above 1: tensorflow is slower)

Without the optional extra (`pip install 'trainwright[tensorflow]'`) the tensorflow column is
skipped with a line saying so and the bench exits 0 after the torch runs.

Usage:
    .venv/bin/python bench/b9_backends.py            # ~3 min on 2 cores with tensorflow
    .venv/bin/python bench/b9_backends.py --quick    # a few seconds (CI): 3 epochs, one round
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

from engine.backends import TENSORFLOW_MISSING, tensorflow_available

TORCH, TENSORFLOW = "torch", "tensorflow"


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    domain: dict[str, Any]
    epochs: int = 0  # 0: the family's default for the dataset


CASES = (
    Case("two_moons", "mlp", {"dataset": "two_moons"}),
    Case("wine", "mlp", {"dataset": "wine"}),
    Case("digits_cnn", "image_classifier", {"dataset": "digits"}, epochs=5),
)


@dataclass(frozen=True)
class Settings:
    epochs: int  # 0: each table's own default
    rounds: int
    threads: int


FULL = Settings(epochs=0, rounds=3, threads=1)
QUICK = Settings(epochs=3, rounds=1, threads=1)


@dataclass
class Run:
    """One training run: its median seconds per epoch, final test accuracy, train() wall."""

    per_epoch: float
    test_accuracy: float | None
    wall: float
    epochs: int


def train_once(case: Case, backend: str, settings: Settings, root: Path) -> Run:
    """`case` with `backend`, from an empty home, as `trainwright train` would."""
    from engine.workspace import Workspace

    ws = Workspace(Path(tempfile.mkdtemp(dir=root)))
    training: dict[str, Any] = {"backend": backend, "threads": settings.threads}
    epochs = settings.epochs or case.epochs
    if epochs:
        training["epochs"] = epochs
    variant = ws.create_variant(case.family, case.domain, training)
    started = time.perf_counter()
    session = ws.train(variant)
    wall = time.perf_counter() - started
    if session.status != "completed" or not session.metrics:
        raise RuntimeError(f"{case.name} with {backend}: {session.status}: {session.error_message}")
    accuracy = session.final_metrics.get("test_accuracy")
    return Run(
        per_epoch=C.median([m.epoch_time for m in session.metrics]),
        test_accuracy=None if accuracy is None else float(accuracy),
        wall=wall,
        epochs=len(session.metrics),
    )


def bench(settings: Settings, backends: tuple[str, ...], root: Path) -> None:
    runs: dict[tuple[str, str], list[Run]] = {(c.name, b): [] for c in CASES for b in backends}
    for k in range(settings.rounds):
        order = backends if k % 2 == 0 else tuple(reversed(backends))
        for case in CASES:
            for backend in order:
                runs[(case.name, backend)].append(train_once(case, backend, settings, root))
            line = "  ".join(
                f"{b} {runs[(case.name, b)][-1].per_epoch * 1e3:.1f} ms/epoch" for b in backends
            )
            print(f"round {k + 1}, {case.name}: {line}")
    report(runs, backends, settings)


def report(
    runs: dict[tuple[str, str], list[Run]], backends: tuple[str, ...], settings: Settings
) -> None:
    for table in (c.name for c in CASES):
        for backend in backends:
            done = runs[(table, backend)]
            accuracy = done[-1].test_accuracy
            shown = "n/a" if accuracy is None else f"{accuracy:.4f}"
            print(
                f"B9 {table} {backend}: {C.median([r.per_epoch for r in done]):.4f} s/epoch "
                f"(median, {done[-1].epochs} epochs), final test accuracy {shown}, "
                f"train() {C.median([r.wall for r in done]):.2f} s"
            )
        if TENSORFLOW not in backends:
            continue
        pairs = zip(runs[(table, TENSORFLOW)], runs[(table, TORCH)], strict=True)
        ratios = [tf.per_epoch / max(1e-9, pt.per_epoch) for tf, pt in pairs]
        print(
            f"RATIO B9 {table} tf/torch seconds per epoch = {C.median(ratios):.3f}"
            f" (median of {settings.rounds} rounds)"
        )


def versions() -> str:
    """tensorflow's and keras's versions, read without importing them."""
    found = []
    for name in ("tensorflow-cpu", "tensorflow", "keras"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found) or "not installed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 epochs, one round (CI)")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 3)")
    parser.add_argument(
        "--epochs", type=int, default=0, help="epochs per run (default: each table's own)"
    )
    parser.add_argument("--threads", type=int, default=0, help="threads per run (default 1)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    settings = Settings(
        args.epochs or settings.epochs,
        args.rounds or settings.rounds,
        args.threads or settings.threads,
    )
    print(f"machine: {C.machine()}; load average {C.load_average()}; {versions()}")
    epochs = settings.epochs or "each case's own"
    print(
        f"{', '.join(c.name for c in CASES)}: {epochs} epochs, "
        f"{settings.threads} thread(s), {settings.rounds} round(s)"
    )
    backends: tuple[str, ...] = (TORCH, TENSORFLOW)
    if not tensorflow_available():
        print(f"B9 tensorflow: skipped, {TENSORFLOW_MISSING}")
        backends = (TORCH,)
    with C.temp_home() as root:
        bench(settings, backends, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
