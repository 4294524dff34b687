"""Shared pieces of the benchmarks: machine facts, the two workloads, and hand-written loops.

The plain loops here are what someone would write by hand with PyTorch for the same job: the
same model class, data, seed, optimizer, number of steps and evaluation cadence as the engine,
and nothing else (no chronicle, checkpoints, callbacks or metadata). Because they do the same
math in the same order, their final weights are bit-identical to the engine's, which the
benchmarks check: a ratio between two different computations would mean nothing.
"""

from __future__ import annotations

import csv
import math
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.families.modulo_addition import modular_addition_split
from engine.models.transformer import OneLayerTransformer

MODULO = "modulo_addition_1layer"


# ---- machine -----------------------------------------------------------------------------------
def machine() -> str:
    """`lscpu` model name, logical cores, torch and Python versions: printed with every figure."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"Python {platform.python_version()}"
    )


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def median(values: list[float]) -> float:
    return statistics.median(values)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Every parameter bit-identical, in creation order (names may differ)."""
    pa, pb = list(a.state_dict().values()), list(b.state_dict().values())
    return len(pa) == len(pb) and all(
        x.shape == y.shape and torch.equal(x, y) for x, y in zip(pa, pb, strict=True)
    )


@contextmanager
def temp_home():
    path = Path(tempfile.mkdtemp(prefix="trainwright-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ---- workloads -------------------------------------------------------------------------------
@dataclass
class Workload:
    """One training job, runnable by the engine (variant) and by a plain loop."""

    key: str
    title: str
    family: str
    domain: dict[str, Any]
    training: dict[str, Any]
    plain: Callable[[Workload, int], tuple[nn.Module, dict[str, float]]]
    data: Any = None  # what the plain loop needs that was prepared before timing
    config: Any = None  # the engine's resolved RunConfig, set by EngineRunner


def modulo_workload(epochs: int = 200, p: int = 113) -> Workload:
    """(a) The grokking recipe: p = 113, full batch (one step per epoch), eval every epoch."""
    return Workload(
        key="a",
        title=f"modulo addition p={p}, full batch, {epochs} epochs",
        family=MODULO,
        domain={"prime": p},
        training={"epochs": epochs},
        plain=plain_modulo,
    )


def write_classification_csv(path: Path, rows: int = 10_000, features: int = 20, seed: int = 0):
    """A seeded synthetic binary classification table: 20 Gaussian features, a noisy linear label."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, features, generator=g)
    w = torch.randn(features, generator=g)
    noise = 0.5 * torch.randn(rows, generator=g)
    y = ((x @ w + noise) > 0).long()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"x{i}" for i in range(features)] + ["label"])
        for row, label in zip(x.tolist(), y.tolist(), strict=True):
            writer.writerow([f"{v:.6f}" for v in row] + [label])


def mlp_workload(directory: Path, epochs: int = 3, rows: int = 10_000) -> Workload:
    """(b) MLP 20→64→64→2 on a 10,000 × 20 CSV, batch 32: per-step Python overhead shows."""
    path = directory / f"synthetic_{rows}x20.csv"
    if not path.exists():
        write_classification_csv(path, rows=rows)
    return Workload(
        key="b",
        title=f"MLP 2x64 on {rows} x 20 CSV, batch 32, {epochs} epochs",
        family="mlp",
        domain={
            "dataset": f"csv:{path}",
            "task_type": "classification",
            "hidden_dim": 64,
            "num_hidden_layers": 2,
            "dropout": 0.0,
            "seed": 0,
        },
        training={"epochs": epochs, "batch_size": 32},
        plain=plain_mlp,
    )


# ---- the engine side ---------------------------------------------------------------------------
class EngineRunner:
    """A workspace in a temp home with the workload's variant; `run()` trains it from scratch."""

    def __init__(self, home: Path, workload: Workload, **training: Any) -> None:
        from engine.workspace import Workspace

        self.ws = Workspace(home)
        self.variant = self.ws.create_variant(
            workload.family, workload.domain, {**workload.training, **training}
        )
        if not training or workload.config is None:
            workload.config = self.variant.config

    def run(self, n_threads: int, callbacks=None, cancel_event=None):
        """(seconds in `Trainer.train()`, the trainer, its session); the old run is deleted first."""
        shutil.rmtree(self.variant.dir, ignore_errors=True)
        trainer = self.ws.trainer(self.variant, callbacks, cancel_event, threads=n_threads)
        cpu = time.process_time()
        seconds, session = timed(trainer.train)
        self.cpu_s = time.process_time() - cpu
        if session.status not in ("completed", "cancelled"):
            raise RuntimeError(f"engine run failed: {session.error_message}")
        return seconds, trainer, session


# ---- the plain side: hand-written loops ---------------------------------------------------
def plain_modulo(w: Workload, n_threads: int) -> tuple[nn.Module, dict[str, float]]:
    """The grokking loop as one writes it: full-batch AdamW, float64 loss, test eval per epoch."""
    t, d = w.config.training, w.config.domain
    with threads(n_threads):
        torch.manual_seed(d["seed"])
        model = OneLayerTransformer(d["prime"], d["d_model"], d["n_heads"], d["d_mlp"])
        train_x, train_y, test_x, test_y = modular_addition_split(
            d["prime"], t.training_fraction, t.data_seed
        )
        opt = torch.optim.AdamW(
            model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay
        )
        for _ in range(t.epochs):
            logits = model(train_x)
            loss = F.cross_entropy(logits.to(torch.float64), train_y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            train_loss = loss.item()
            with torch.no_grad():
                test_logits = model(test_x)
                test_loss = F.cross_entropy(test_logits.to(torch.float64), test_y).item()
                test_acc = (test_logits.argmax(-1) == test_y).float().mean().item()
    return model, {"train_loss": train_loss, "test_loss": test_loss, "test_accuracy": test_acc}


def plain_mlp(w: Workload, n_threads: int) -> tuple[nn.Module, dict[str, float]]:
    """A minibatch loop as one writes it: shuffled index slices, Adam, test eval per epoch."""
    from engine.datasets import train_test_split

    t, d = w.config.training, w.config.domain
    with threads(n_threads):
        torch.manual_seed(d["seed"])
        train_x, train_y, test_x, test_y = train_test_split(
            w.data, 1.0 - t.training_fraction, t.data_seed
        )
        width, layers = train_x.shape[1], []
        for _ in range(d["num_hidden_layers"]):
            layers += [nn.Linear(width, d["hidden_dim"]), nn.ReLU()]
            width = d["hidden_dim"]
        model = nn.Sequential(*layers, nn.Linear(width, int(train_y.max()) + 1))
        opt = torch.optim.Adam(
            model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay
        )
        gen = torch.Generator().manual_seed(t.data_seed)
        n, bs = len(train_y), t.batch_size
        for _ in range(t.epochs):
            perm = torch.randperm(n, generator=gen)
            total, correct = 0.0, 0
            for i in range(math.ceil(n / bs)):
                idx = perm[i * bs : (i + 1) * bs]
                xb, yb = train_x[idx], train_y[idx]
                out = model(xb)
                loss = F.cross_entropy(out, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(yb)
                correct += int((out.argmax(-1) == yb).sum())
            with torch.no_grad():
                out = model(test_x)
                test_loss = F.cross_entropy(out, test_y).item()
                test_acc = (out.argmax(-1) == test_y).float().mean().item()
    return model, {"train_loss": total / n, "test_loss": test_loss, "test_accuracy": test_acc}


def prepare_plain(w: Workload) -> None:
    """Untimed preparation the engine also does before training (parsing the CSV)."""
    if w.family == "mlp":
        from engine.datasets import get_dataset

        w.data = get_dataset(w.domain["dataset"], task_type="classification").load(
            seed=w.domain["seed"]
        )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, result)."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result). CPU time leaves out the time the
    process waited for a core, so on a shared machine it varies much less than wall time."""
    cpu = time.process_time()
    wall, result = timed(fn)
    return wall, time.process_time() - cpu, result
