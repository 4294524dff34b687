"""B6: the image classifier family against a hand-written PyTorch loop, and where its images come from.

(a) The engine's Trainer against a plain loop over the same pre-decoded tensors: the same
    model (simple_cnn, built by the family, at 32x32x3 on `shapes`), seed, optimizer, batch 64,
    batch order and evaluation every epoch. Both end with bit-identical weights (checked), so
    the ratio compares the same computation; the difference per step is the engine's
    per-step overhead (chronicle, checkpoints, best weights, confusion matrix, callbacks).
(b) An epoch's images per second when the images come from the library's tensor cache against
    decoding every file each epoch (what a loader over the image files does): the same
    imported PNG files, the same model and training steps on both sides.

Usage:
    .venv/bin/python bench/b6_images.py            # ~2 min on 2 cores
    .venv/bin/python bench/b6_images.py --quick    # seconds (CI): smaller images, one pair
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import torch
import torch.nn.functional as F

FAMILY = "image_classifier"


def workload(size: int, epochs: int) -> C.Workload:
    return C.Workload(
        key="a",
        title=f"simple_cnn on shapes at {size}x{size}x3, batch 64, {epochs} epochs",
        family=FAMILY,
        domain={
            "dataset": "shapes",
            "image_size": size,
            "channels": "rgb",
            "architecture": "simple_cnn",
            "augmentation": "none",
        },
        training={"epochs": epochs, "batch_size": 64, "optimizer": "adam"},
        plain=plain_cnn,
    )


def plain_cnn(w: C.Workload, n_threads: int) -> tuple[torch.nn.Module, dict[str, float]]:
    """The loop one writes by hand: shuffled index slices, Adam, cross-entropy, test eval per
    epoch (eval mode), on the tensors the family prepared before timing."""
    t, d = w.config.training, w.config.domain
    family, (train_x, train_y, test_x, test_y) = w.data
    with C.threads(n_threads):
        torch.manual_seed(d["seed"])
        model = family.create_model(d)
        opt = torch.optim.Adam(
            model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay
        )
        gen = torch.Generator().manual_seed(t.data_seed)
        n, bs = len(train_y), t.batch_size
        for _ in range(t.epochs):
            model.train()
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
            model.eval()
            with torch.no_grad():
                out = model(test_x)
                test_loss = F.cross_entropy(out, test_y).item()
                test_acc = (out.argmax(-1) == test_y).float().mean().item()
    return model, {"train_loss": total / n, "test_loss": test_loss, "test_accuracy": test_acc}


def part_a(root: Path, size: int, epochs: int, pairs: int, n_threads: int) -> None:
    from engine.workspace import Workspace

    w = workload(size, epochs)
    runner = C.EngineRunner(root / "engine", w)
    family = runner.ws.registry.family(FAMILY)
    t = w.config.training
    w.data = (
        family,
        family.generate_training_dataset(w.config.domain, t.training_fraction, t.data_seed),
    )
    steps = epochs * math.ceil(len(w.data[1][1]) / t.batch_size)
    Workspace(root / "warm").train(
        Workspace(root / "warm").create_variant(FAMILY, w.domain, {**w.training, "epochs": 1})
    )
    engine_s, plain_s, ratios, identical = [], [], [], True
    for k in range(pairs):  # A B, then B A: neither side always runs second
        order = ("engine", "plain") if k % 2 == 0 else ("plain", "engine")
        times: dict[str, float] = {}
        for side in order:
            if side == "engine":
                seconds, trainer, _ = runner.run(n_threads)
                engine_model = trainer.model
            else:
                seconds, (plain_model, _) = C.timed(lambda: plain_cnn(w, n_threads))
            times[side] = seconds
        identical &= C.same_weights(engine_model, plain_model)
        engine_s.append(times["engine"])
        plain_s.append(times["plain"])
        ratios.append(times["engine"] / times["plain"])
    e, p = C.median(engine_s), C.median(plain_s)
    print(f"B6a {w.title}, {steps} steps, {n_threads} thread(s):")
    print(f"  engine {e:.2f} s, plain {p:.2f} s, weights bit-identical: {identical}")
    print(f"  per-step overhead {(e - p) / steps * 1e6:.0f} µs on {p / steps * 1e3:.1f} ms steps")
    print(f"RATIO B6a engine/plain = {C.median(ratios):.3f} (median of {pairs} pairs; target 1.05)")
    if not identical:
        raise SystemExit("B6a: the two sides computed different weights; the ratio means nothing")


def write_shape_images(root: Path, count: int, size: int) -> Path:
    """`count` seeded shapes as PNG files in class folders (what a user's folder looks like)."""
    from PIL import Image

    from engine.datasets.image_sources import render_shapes

    x, y = render_shapes(count, size, seed=0)
    names = ("circle", "square", "triangle")
    for i in range(count):
        folder = root / names[int(y[i])]
        folder.mkdir(parents=True, exist_ok=True)
        array = x[i].permute(1, 2, 0).contiguous().numpy()
        Image.fromarray(array, "RGB").save(folder / f"{i:05d}.png")
    return root


def part_b(root: Path, count: int, size: int, pairs: int, n_threads: int) -> None:
    from engine.datasets.images import cached_images, decode_image, sorted_entries
    from engine.datasets.library import DatasetLibrary
    from engine.workspace import Workspace

    home = root / "home"
    library = DatasetLibrary(home)
    manifest = library.import_path(write_shape_images(root / "shapes_png", count, size))
    directory = library.dir(manifest.id)
    ws = Workspace(home)
    family = ws.registry.family(FAMILY)
    resolution = ws.resolve(
        FAMILY,
        {"dataset": manifest.id, "image_size": size, "channels": "rgb", "augmentation": "none"},
    )
    assert resolution.config is not None, resolution.errors
    domain = resolution.config.domain
    files = [
        path for _, path, _, problem in sorted_entries(directory / "images") if problem is None
    ]
    cached_images(directory, manifest, size, 3)  # the cache exists, as after a first run

    def epoch(x: torch.Tensor, y: torch.Tensor, model: torch.nn.Module, opt) -> None:
        x = (x.to(torch.float32) / 255.0 - 0.5) / 0.25
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
        for i in range(0, len(y), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def from_cache() -> None:
        images = cached_images(directory, manifest, size, 3)
        epoch(images.x, images.y, model, opt)

    def from_files() -> None:
        x = torch.stack([decode_image(path, size, 3) for path in files])
        epoch(x, labels, model, opt)

    labels = cached_images(directory, manifest, size, 3).y
    cache_s, decode_s = [], []
    with C.threads(n_threads):
        torch.manual_seed(0)
        model = family.create_model(domain)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for k in range(pairs):
            order = (from_cache, from_files) if k % 2 == 0 else (from_files, from_cache)
            for fn in order:
                seconds, _ = C.timed(fn)
                (cache_s if fn is from_cache else decode_s).append(seconds)
    data_cache = C.median(
        [C.timed(lambda: cached_images(directory, manifest, size, 3))[0] for _ in range(pairs)]
    )
    data_decode = C.median(
        [
            C.timed(lambda: torch.stack([decode_image(p, size, 3) for p in files]))[0]
            for _ in range(pairs)
        ]
    )
    c, d = C.median(cache_s), C.median(decode_s)
    print(f"B6b an epoch of {count} {size}x{size} PNG images, {n_threads} thread(s):")
    print(
        f"  tensor cache {count / c:.0f} images/s ({c:.2f} s), decoding the files {count / d:.0f} images/s ({d:.2f} s)"
    )
    print(
        f"  the data alone: cache {count / data_cache:.0f} images/s, "
        f"decoding {count / data_decode:.0f} images/s ({data_decode / data_cache:.0f}x)"
    )
    print(f"RATIO B6b cache/decode images per second = {d / c:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small images, one pair (CI)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: engine default)")
    args = parser.parse_args(argv)
    from engine.training.trainer import default_threads

    n_threads = args.threads or default_threads()
    size, epochs, pairs, count = (16, 1, 1, 300) if args.quick else (32, 2, 3, 1500)
    print(f"machine: {C.machine()}; load average {C.load_average()}")
    root = Path(tempfile.mkdtemp(prefix="trainwright-b6-"))
    try:
        part_a(root, size, epochs, pairs, n_threads)
        part_b(root, count, size, pairs, n_threads)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
