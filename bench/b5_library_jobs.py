"""B5: what the dataset library and the job history cost a run, measured side by side.

(a) Resolving the Training form on an imported image dataset: the first time (every image
    hashed) against the next times (the hash remembered per tree signature) — the form
    resolves on every edit.
(b) Loading an imported image dataset for a run: decoding every file (an empty cache) against
    the SHA-256-checked tensor cache that every later run reads.
(c) A training run recorded as a job (`engine.jobs.run_now`: store, log recorder, watcher
    thread, resource meter) against the same run straight through `Workspace.train`; the
    weights must be equal, or the ratio would compare two different computations.

Usage:
    .venv/bin/python bench/b5_library_jobs.py            # ~1 min
    .venv/bin/python bench/b5_library_jobs.py --quick    # seconds (CI)
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import load_average, machine, median

REPO = Path(__file__).resolve().parents[1]


def write_digit_images(root: Path, count: int) -> Path:
    """The first `count` shipped digits as 8x8 PNG files in class folders."""
    from PIL import Image

    with open(REPO / "resources" / "datasets" / "digits.csv", newline="") as handle:
        rows = list(csv.reader(handle))[1 : count + 1]
    for i, row in enumerate(rows):
        folder = root / row[-1]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = bytes(min(255, int(v) * 16) for v in row[:-1])
        Image.frombytes("L", (8, 8), pixels).save(folder / f"{i}.png")
    return root


def part_a_b(home: Path, source: Path, pairs: int) -> None:
    from engine.datasets.content_memo import _memo
    from engine.datasets.images import cache_path, cached_images
    from engine.datasets.library import DatasetLibrary
    from engine.workspace import Workspace

    ws = Workspace(home)
    library = DatasetLibrary(home)
    started = time.perf_counter()
    manifest = library.import_path(source)
    print(f"import of {manifest.image_count()} PNG files: {time.perf_counter() - started:.2f} s")

    first, again = [], []
    for _ in range(pairs):
        _memo.clear()  # as in a new process
        t = time.perf_counter()
        ws.resolve("mlp", {"dataset": manifest.id})
        first.append(time.perf_counter() - t)
        t = time.perf_counter()
        ws.resolve("mlp", {"dataset": manifest.id, "hidden_dim": 64})
        again.append(time.perf_counter() - t)
    print(f"B5a resolve: first {median(first) * 1e3:.1f} ms, again {median(again) * 1e3:.1f} ms")
    print(f"RATIO B5a resolve first/again = {median(first) / median(again):.2f}")

    directory = library.dir(manifest.id)
    decode, cached = [], []
    for _ in range(pairs):
        path = cache_path(directory, manifest, 8, 1, "crop")
        path.unlink(missing_ok=True)
        t = time.perf_counter()
        a = cached_images(directory, manifest, 8, 1)
        decode.append(time.perf_counter() - t)
        t = time.perf_counter()
        b = cached_images(directory, manifest, 8, 1)
        cached.append(time.perf_counter() - t)
        assert bool((a.x == b.x).all()), "the cache must give back the decoded bytes"
    print(f"B5b load: decode {median(decode) * 1e3:.1f} ms, cache {median(cached) * 1e3:.1f} ms")
    print(f"RATIO B5b load decode/cache = {median(decode) / median(cached):.2f}")


def part_c(root: Path, epochs: int, pairs: int) -> None:
    from engine.jobs import run_now
    from engine.jobs.records import JobRequest
    from engine.workspace import Workspace

    domain, training = {"dataset": "spirals"}, {"epochs": epochs, "threads": 1}
    request = JobRequest(kind="train", family="mlp", domain=domain, training=training)
    warm = Workspace(root / "warm-up")  # imports and first-run costs land on neither side
    warm.train(warm.create_variant("mlp", domain, training))
    run_now(Workspace(root / "warm-up-job"), request)
    direct, as_job, hashes = [], [], set()

    def run_direct(ws: Workspace) -> None:
        t = time.perf_counter()
        hashes.add(ws.train(ws.create_variant("mlp", domain, training)).weights_sha256)
        direct.append(time.perf_counter() - t)

    def run_as_job(ws: Workspace) -> None:
        t = time.perf_counter()
        hashes.add(run_now(ws, request).result.weights_sha256)
        as_job.append(time.perf_counter() - t)

    for k in range(pairs):  # A B, then B A: neither side always runs second
        a, b = Workspace(root / f"direct{k}"), Workspace(root / f"job{k}")
        first, second = (run_direct, run_as_job) if k % 2 == 0 else (run_as_job, run_direct)
        first(a if first is run_direct else b)
        second(a if second is run_direct else b)
    assert len(hashes) == 1, "the two sides must compute the same weights"
    print(
        f"B5c train {epochs} epochs: direct {median(direct):.2f} s, as a job {median(as_job):.2f} s"
    )
    print(f"RATIO B5c job/direct = {median(as_job) / median(direct):.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small data, one pair (CI)")
    args = parser.parse_args(argv)
    images, pairs, epochs = (200, 1, 2) if args.quick else (1797, 5, 30)
    print(f"machine: {machine()}; load average {load_average()}")
    root = Path(tempfile.mkdtemp(prefix="trainwright-b5-"))
    try:
        source = write_digit_images(root / "digits", images)
        part_a_b(root / "home", source, pairs)
        part_c(root, epochs, pairs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
