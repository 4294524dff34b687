"""B7: inference speed of a published model, ONNX Runtime against torch eager, on the same inputs.

The model registry issue's inference bench (it asked for it as "B6"; B6 was already the image
classifier's, so it is B7). Two small variants are trained in a temporary data home as the CLI
trains them, and published with `engine.registry.publish`:

    mlp   the mlp family on two_moons (the family's defaults: 2 -> 128 -> 128 -> 2)
    cnn   the image_classifier family's simple_cnn [32, 64, 128] on shapes at 32x32x3

Each published version is then run the way `trainwright predict` runs it: a
`engine.inference.predictor.Predictor` (its `outputs()`: inference mode, chunks of CHUNK
examples) over the torch backend (the family's model holding the version's verified weights,
eval mode) and over the ONNX backend (the export `predict --backend onnx` makes: `onnx_bytes`
on `example_inputs`, run by one onnxruntime CPU session). Both run on one thread: torch with
`torch.set_num_threads(1)`, onnxruntime with one intra-op and one inter-op thread. The
predictor's own session sets no thread options (onnxruntime then uses every physical core),
so the bench builds that one session itself, with the same providers and the same run call.

The inputs are the version's test split as publish times it (repeated to 1,000 rows); batch 1
is its first row. The two backends must agree to 1e-4 (printed) before anything is timed,
or the ratio would compare different computations. Each (model, batch) alternates torch and
ONNX over N pairs (A B, then B A), each side a loop of calls sized to ~0.2 s; the ratio is
onnx/torch per call, the median over the pairs (below 1: ONNX is faster).

Usage:
    .venv/bin/python bench/b7_inference.py            # ~40 s on 2 cores
    .venv/bin/python bench/b7_inference.py --quick    # ~10 s (CI): tiny runs, 2 short pairs
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import torch

TOLERANCE = 1e-4  # the exports' own check (engine.registry.export.ONNX_TOLERANCE)
BIG_BATCH = 1000
WARM_UP_CALLS = 5


@dataclass(frozen=True)
class Spec:
    """One model to train, publish and time: `key` is its model name and its RATIO label."""

    key: str
    family: str
    domain: dict[str, Any]
    training: dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """How long to train and to time: the full bench, or --quick's few seconds."""

    mlp_epochs: int
    cnn_epochs: int
    image_size: int
    pairs: int
    sample_s: float  # wall time of one side's loop of calls in a pair


FULL = Settings(mlp_epochs=5, cnn_epochs=2, image_size=32, pairs=7, sample_s=0.2)
QUICK = Settings(mlp_epochs=1, cnn_epochs=1, image_size=16, pairs=2, sample_s=0.02)


def specs(settings: Settings) -> list[Spec]:
    """The two models, with the families' defaults except the dataset, size and epochs."""
    cnn_domain = {"dataset": "shapes", "image_size": settings.image_size, "channels": "rgb"}
    return [
        Spec("mlp", "mlp", {"dataset": "two_moons"}, {"epochs": settings.mlp_epochs}),
        Spec("cnn", "image_classifier", cnn_domain, {"epochs": settings.cnn_epochs}),
    ]


# ---- training and publishing -----------------------------------------------------------------
def train_and_publish(ws: Any, spec: Spec) -> Path:
    """Train the variant through the Workspace (as `trainwright train` does) and publish it as
    v1 of model `spec.key`; the version's folder."""
    from engine.registry.publish import publish
    from engine.registry.records import version_dir

    variant = ws.create_variant(spec.family, spec.domain, spec.training)
    session = ws.train(variant)
    if session.status != "completed":
        raise SystemExit(f"B7: training {spec.key} failed: {session.error_message}")
    version = publish(ws, variant.name, spec.key)
    return version_dir(ws.home, spec.key, version.version)


# ---- the two backends, as predict builds them --------------------------------------------
def predictors(ws: Any, directory: Path) -> tuple[Any, Any, float]:
    """(torch predictor, ONNX predictor, the export's own ONNX-vs-torch check). The torch one
    is `Predictor.open` itself; the ONNX one holds the export predict makes of a version
    without a kept model.onnx."""
    from engine.inference.predictor import Predictor, session_runner
    from engine.registry.export import example_inputs, onnx_bytes
    from engine.registry.loading import load_model, read_preprocessing

    torch_side = Predictor.open(ws, directory, "torch")
    model, version = load_model(ws, directory)
    preprocessing = read_preprocessing(directory)
    data, checked = onnx_bytes(model, example_inputs(ws, version, preprocessing))
    onnx_side = Predictor(directory, version, preprocessing, session_runner(data), "onnx")
    return torch_side, onnx_side, checked


def real_inputs(ws: Any, directory: Path) -> torch.Tensor:
    """BIG_BATCH real inputs: the test split, repeated or cut as publish's timing takes it."""
    from engine.registry.publish import _timing_inputs
    from engine.registry.records import read_version

    version = read_version(directory)
    fields = {"family": version.family, "config": version.config, "variant": version.variant}
    return _timing_inputs(ws, fields)[:BIG_BATCH].contiguous()


def max_difference(a: Any, b: Any, x: torch.Tensor) -> float:
    """Max abs difference between the two predictors' outputs on `x`, in float64."""
    return float((a.outputs(x).double() - b.outputs(x).double()).abs().max())


# ---- timing --------------------------------------------------------------------------------
def calls_for(fn: Callable[[], Any], seconds: float) -> int:
    """How many calls of `fn` take about `seconds` (after WARM_UP_CALLS untimed ones)."""
    for _ in range(WARM_UP_CALLS):
        fn()
    started = time.perf_counter()
    fn()
    return max(1, round(seconds / max(time.perf_counter() - started, 1e-9)))


def sample(fn: Callable[[], Any], calls: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call over a loop of `calls` calls."""
    wall, cpu, _ = C.timed_cpu(lambda: [fn() for _ in range(calls)])
    return wall / calls, cpu / calls


@dataclass
class Timing:
    """Per-call seconds of each side and the per-pair ratios onnx/torch (wall and CPU)."""

    torch_s: list[float]
    onnx_s: list[float]
    ratios: list[float]
    cpu_ratios: list[float]
    calls: int


def time_pairs(torch_side: Any, onnx_side: Any, x: torch.Tensor, s: Settings) -> Timing:
    """Alternate the two sides over `s.pairs` pairs (A B, then B A), each a loop of calls."""
    sides = {"torch": lambda: torch_side.outputs(x), "onnx": lambda: onnx_side.outputs(x)}
    calls_for(sides["onnx"], s.sample_s)
    calls = calls_for(sides["torch"], s.sample_s)
    timing = Timing([], [], [], [], calls)
    for k in range(s.pairs):
        order = ("torch", "onnx") if k % 2 == 0 else ("onnx", "torch")
        got = {side: sample(sides[side], calls) for side in order}
        timing.torch_s.append(got["torch"][0])
        timing.onnx_s.append(got["onnx"][0])
        timing.ratios.append(got["onnx"][0] / got["torch"][0])
        timing.cpu_ratios.append(got["onnx"][1] / got["torch"][1])
    return timing


def report(key: str, batch: int, t: Timing) -> None:
    """Per-call times (µs for batch 1, ms and examples/s for a big batch) and the RATIO line."""
    torch_s, onnx_s = C.median(t.torch_s), C.median(t.onnx_s)
    if batch == 1:
        times = f"torch {torch_s * 1e6:.1f} µs/call, onnx {onnx_s * 1e6:.1f} µs/call"
    else:
        times = (
            f"torch {torch_s * 1e3:.2f} ms/call ({batch / torch_s:,.0f} examples/s), "
            f"onnx {onnx_s * 1e3:.2f} ms/call ({batch / onnx_s:,.0f} examples/s)"
        )
    print(f"  batch {batch}: {times} ({len(t.ratios)} pairs x {t.calls} calls)")
    ratios = ", ".join(f"{r:.3f}" for r in t.ratios)
    print(
        f"RATIO B7 {key} batch {batch} onnx/torch = {C.median(t.ratios):.3f} "
        f"(median of {len(t.ratios)} pairs: {ratios}; CPU time {C.median(t.cpu_ratios):.3f})"
    )


def bench_model(ws: Any, spec: Spec, settings: Settings, n_threads: int) -> None:
    """Train, publish, build both backends, check they agree, then time batch 1 and 1,000."""
    directory = train_and_publish(ws, spec)
    torch_side, onnx_side, checked = predictors(ws, directory)
    big = real_inputs(ws, directory)
    one = big[:1]
    v = torch_side.version
    print(
        f"B7 {spec.key}: {v.family} on {v.dataset}, input {list(big.shape[1:])}, "
        f"{v.parameters:,} parameters, {n_threads} thread(s); export check {checked:.2g}"
    )
    differences = [max_difference(torch_side, onnx_side, x) for x in (one, big)]
    print(
        f"  max abs difference onnx vs torch: {differences[0]:.2g} (batch 1), "
        f"{differences[1]:.2g} (batch {BIG_BATCH})"
    )
    if not all(d <= TOLERANCE for d in differences):  # NaN fails too
        raise SystemExit(f"B7 {spec.key}: the backends differ by more than {TOLERANCE}")
    for x in (one, big):
        report(spec.key, len(x), time_pairs(torch_side, onnx_side, x, settings))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny runs, 2 short pairs (CI)")
    parser.add_argument("--pairs", type=int, default=0, help="A B pairs per figure (default 7)")
    parser.add_argument("--threads", type=int, default=1, help="threads of both backends")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.pairs:
        settings = replace(settings, pairs=args.pairs)
    from engine.workspace import Workspace

    print(f"machine: {C.machine()}; load average {C.load_average()}")
    with C.temp_home() as home, C.threads(args.threads):
        ws = Workspace(home)
        for spec in specs(settings):
            bench_model(ws, spec, settings, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
