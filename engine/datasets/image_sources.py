"""Image datasets: the built-ins (`digits`, `shapes`) and the library's imported image folders.

Every one is an `ImageSource`: `load_images(size, channels)` gives uint8 images at the size a
model asks for, and `load()` flattens them into a `LoadedDataset` (pixels in [0, 1]) so the
MLP family trains on any image dataset. Importing this module does not import torch: the
catalogue is read by the parameter forms before torch has loaded.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.datasets.types import (
    DatasetDefaults,
    DatasetError,
    DatasetInfo,
    LoadedDataset,
    LoadedImages,
    read_catalog,
)

if TYPE_CHECKING:
    import torch

    from engine.datasets.manifest import Manifest

MLP_MAX_IMAGE_SIZE = 32  # an MLP sees at most 32x32 pixels: 3072 inputs for colour
MAX_RENDER_SIZE = 64  # `shapes` renders up to this size; larger sizes are upscaled from it
RENDER_CHUNK = 512  # images rendered at once (the float intermediates of 512 at 64 px: 25 MB)
# An imported image folder brings no tuned hyperparameters: these are the defaults its forms show.
IMAGE_DEFAULTS = DatasetDefaults(epochs=30, lr=1e-3, batch_size=64)


def mlp_image_size(native_size: int) -> int:
    """The side an MLP trains an image dataset at: its native size, at most 32 pixels."""
    return max(1, min(native_size, MLP_MAX_IMAGE_SIZE))


def _check_request(dataset_id: str, size: int, channels: int) -> None:
    if channels not in (1, 3):
        raise DatasetError(f"{dataset_id}: images have 1 or 3 channels, not {channels}")
    if not 1 <= size <= 4096:
        raise DatasetError(f"{dataset_id}: image size must be 1 to 4096 pixels, got {size}")


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [n, c, h, w] -> uint8 [n, c, size, size], bilinear (antialiased when shrinking).

    Deterministic on the CPU: the same images give the same bytes on every run."""
    import torch
    import torch.nn.functional as F

    if x.shape[-2:] == (size, size):
        return x
    shrink = size < max(x.shape[-2:])
    out = F.interpolate(
        x.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
    )
    return out.round().clamp(0, 255).to(torch.uint8)


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 [n, c, h, w] with c in (1, 3) -> ``channels``: grey is repeated into RGB; colour
    becomes grey by the ITU-R 601-2 luma weights of Pillow's "L" (299/587/114 per mille),
    rounded half up in integers so every machine gives the same bytes."""
    import torch

    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([299, 587, 114], dtype=torch.int32).view(1, 3, 1, 1)
    luma = ((x.to(torch.int32) * weights).sum(dim=1, keepdim=True) + 500) // 1000
    return luma.to(torch.uint8)


def flatten_images(images: LoadedImages) -> LoadedDataset:
    """Images as rows of pixels in [0, 1] (features ``c{ch}_y{row}_x{col}``), for an MLP."""
    import torch

    n, c, h, w = images.x.shape
    x = images.x.reshape(n, c * h * w).to(torch.float32) / 255.0
    names = [f"c{ch}_y{row}_x{col}" for ch in range(c) for row in range(h) for col in range(w)]
    return LoadedDataset(
        x=x,
        y=images.y.clone(),
        num_features=c * h * w,
        task_type="classification",
        num_classes=len(images.class_names),
        feature_names=names,
        class_names=list(images.class_names),
        defaults=images.defaults,
    )


class _FlattensForMLP:
    """`load` for every image source: its images at the MLP's size, native channels."""

    info: DatasetInfo
    native_size: int
    channels: int
    class_names: tuple[str, ...]

    def load_images(self, size: int, channels: int, seed: int = 0) -> LoadedImages:
        raise NotImplementedError

    def load(self, seed: int = 0) -> LoadedDataset:
        """Pixels flattened at `mlp_image_size(native_size)`, in [0, 1]."""
        return flatten_images(
            self.load_images(mlp_image_size(self.native_size), self.channels, seed)
        )


# ---- built-ins -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PixelCsvDataset(_FlattensForMLP):
    """Square grey images stored as a CSV of pixel columns (row-major) and a label column.

    `digits`: 8x8 pixels valued 0..max_value, scaled to 0..255 (``round(v * 255 / max_value)``).
    """

    info: DatasetInfo
    filename: str
    target: str
    max_value: int
    native_size: int
    channels: int
    class_names: tuple[str, ...]
    defaults: DatasetDefaults

    def load_images(self, size: int, channels: int, seed: int = 0) -> LoadedImages:
        """The images (``seed`` is unused: real data has no randomness to seed)."""
        _check_request(self.info.id, size, channels)
        import torch

        pixels, labels = _read_pixel_csv(self.filename, self.target, self.max_value)
        n, side = pixels.shape[0], self.native_size
        x = pixels.view(n, 1, side, side).clone()  # the parsed file is shared
        x = convert_channels(resize_images(x, size), channels)
        y = torch.tensor([self.class_names.index(label) for label in labels], dtype=torch.int64)
        return LoadedImages(x=x, y=y, class_names=list(self.class_names), defaults=self.defaults)


@cache
def _read_pixel_csv(filename: str, target: str, max_value: int) -> tuple[torch.Tensor, list[str]]:
    """uint8 [n, pixels] and the label of each row; read once per process (app data)."""
    import torch

    text = (files("resources") / "datasets" / filename).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], [r for r in rows[1:] if r]
    t = header.index(target)
    values = torch.tensor(
        [[int(v) for j, v in enumerate(r) if j != t] for r in body], dtype=torch.int32
    )
    if values.min() < 0 or values.max() > max_value:
        raise DatasetError(f"{filename}: pixel values must lie in 0..{max_value}")
    # Integer rounding, half up: the same bytes everywhere.
    scaled = (values * 255 + max_value // 2) // max_value
    return scaled.to(torch.uint8), [r[t] for r in body]


@dataclass(frozen=True)
class ShapesDataset(_FlattensForMLP):
    """Seeded synthetic colour images of circles, squares and triangles.

    Each image has a random background colour, a random brighter shape colour, position and
    size, and uniform pixel noise. Rendered (vectorised, float64, only exact IEEE operations)
    at the size asked for up to 64 pixels, so a larger request draws finer edges instead of
    blowing up small pixels; above 64 the 64-pixel render is upscaled. The same bytes on one
    kind of machine, but not on every one: an AMD EPYC and an Intel Xeon render different
    bytes (tests/helpers/pinned.py), so a shapes run replays bit for bit on its own kind of
    machine only, like any run."""

    info: DatasetInfo
    num_samples: int
    native_size: int
    channels: int
    class_names: tuple[str, ...]
    defaults: DatasetDefaults

    def load_images(self, size: int, channels: int, seed: int = 0) -> LoadedImages:
        _check_request(self.info.id, size, channels)
        x, y = render_shapes(self.num_samples, min(size, MAX_RENDER_SIZE), seed)
        x = convert_channels(resize_images(x, size), channels)
        return LoadedImages(x=x, y=y, class_names=list(self.class_names), defaults=self.defaults)


def render_shapes(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images (uint8 [n, 3, size, size]) and labels 0 circle, 1 square, 2 triangle.

    The scenes (label, size, position, colours) are drawn before the noise, so one seed gives
    the same scenes at every size. Balanced classes (n // 3 each, the rest to the first ones).
    Kept for the process (a few renders): a run loads its data more than once.
    """
    x, y = _render_shapes(n, size, seed)
    return x.clone(), y.clone()


@lru_cache(maxsize=4)
def _render_shapes(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    y = (torch.arange(n) % 3)[torch.randperm(n, generator=g)]
    r = 0.12 + 0.12 * torch.rand(n, generator=g, dtype=f64)  # half extent, image width = 1
    extent = 1.4 * r + 0.02  # the triangle's apex reaches 1.4 r from its centre
    cx = extent + (1.0 - 2.0 * extent) * torch.rand(n, generator=g, dtype=f64)
    cy = extent + (1.0 - 2.0 * extent) * torch.rand(n, generator=g, dtype=f64)
    background = 0.4 * torch.rand(n, 3, generator=g, dtype=f64)
    colour = 0.55 + 0.45 * torch.rand(n, 3, generator=g, dtype=f64)

    # Pixel units, float32 from here (exact IEEE operations, yet two CPU kinds differ: above),
    # RENDER_CHUNK images at a time to bound the memory of the float intermediates.
    f32 = torch.float32
    u = torch.arange(size, dtype=f32) + 0.5  # pixel centres
    x = torch.empty(n, 3, size, size, dtype=torch.uint8)
    for start in range(0, n, RENDER_CHUNK):
        part = slice(start, min(start + RENDER_CHUNK, n))
        m = part.stop - start
        dx = u.view(1, 1, size) - (cx[part] * size).to(f32).view(m, 1, 1)
        dy = u.view(1, size, 1) - (cy[part] * size).to(f32).view(m, 1, 1)
        rr = (r[part] * size).to(f32).view(m, 1, 1)
        # Signed distance to the shape's edge in pixels (negative inside), each class on its
        # own images only; exact enough for 1-pixel anti-aliased edges.
        distance = torch.empty(m, size, size, dtype=f32)
        for k, shape in enumerate((_circle, _square, _triangle)):
            idx = (y[part] == k).nonzero().squeeze(1)
            distance[idx] = shape(dx[idx], dy[idx], rr[idx])
        alpha = (0.5 - distance).clamp(0.0, 1.0).unsqueeze(1)  # coverage of each pixel
        bg = background[part].to(f32).view(m, 3, 1, 1)
        fg = colour[part].to(f32).view(m, 3, 1, 1)
        noise = torch.rand(m, 3, size, size, generator=g, dtype=f32)
        image = bg + (fg - bg) * alpha + 0.16 * (noise - 0.5)
        x[part] = (image.clamp(0.0, 1.0) * 255.0 + 0.5).floor().to(torch.uint8)
    return x, y


def _circle(dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return (dx * dx + dy * dy).sqrt() - r


def _square(dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return dx.abs().maximum(dy.abs()) - 0.85 * r


_H = math.sqrt(3.0) / 2.0


def _triangle(dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """An upward equilateral triangle of inradius 0.7 r: three half-planes (y grows down)."""
    return dy.maximum(-_H * dx - 0.5 * dy).maximum(_H * dx - 0.5 * dy) - 0.7 * r


def _from_catalog(entry: dict[str, Any]) -> PixelCsvDataset | ShapesDataset:
    source = "bundled" if entry["loader"] == "pixel_csv" else "synthetic"
    info = DatasetInfo(
        entry["id"], entry["name"], entry["description"], "classification", source, "images"
    )
    common = {
        "info": info,
        "native_size": entry["native_size"],
        "channels": entry["channels"],
        "class_names": tuple(entry["classes"]),
        "defaults": DatasetDefaults(**entry["defaults"]),
    }
    if entry["loader"] == "pixel_csv":
        return PixelCsvDataset(
            filename=entry["file"], target=entry["target"], max_value=entry["max_value"], **common
        )
    return ShapesDataset(num_samples=entry["num_samples"], **common)


# The table is data: resources/datasets/catalog.json ("images").
IMAGE_DATASETS: tuple[PixelCsvDataset | ShapesDataset, ...] = tuple(
    _from_catalog(entry) for entry in read_catalog().get("images", [])
)


# ---- imported --------------------------------------------------------------------------------
class LibraryImageDataset(_FlattensForMLP):
    """An image folder imported into the dataset library (``<home>/datasets/<id>``).

    Decoding goes through the library's tensor cache (`cached_images`), so only the first run
    at a size decodes the files."""

    def __init__(self, dataset_dir: Path, manifest: Manifest, info: DatasetInfo) -> None:
        self.dataset_dir = Path(dataset_dir)
        self.manifest = manifest
        self.info = info
        self.sha256 = manifest.sha256
        self.native_size = native_size(manifest.image_sizes)
        self.channels = manifest.channels or 3
        self.class_names = tuple(c.name for c in manifest.classes)

    def load_images(self, size: int, channels: int, seed: int = 0) -> LoadedImages:
        """The images at ``size`` (shorter side scaled, centre-cropped); ``seed`` is unused."""
        _check_request(self.info.id, size, channels)
        from engine.datasets.images import cached_images

        return cached_images(
            self.dataset_dir, self.manifest, size, channels, defaults=IMAGE_DEFAULTS
        )


def native_size(image_sizes: dict[str, int]) -> int:
    """The most common longer side among ``{"WxH": count}`` (the larger one on a tie)."""
    sides: Counter[int] = Counter()
    for key, count in image_sizes.items():
        w, _, h = key.partition("x")
        try:
            sides[max(int(w), int(h))] += count
        except ValueError:
            continue
    if not sides:
        return MLP_MAX_IMAGE_SIZE
    return max(sides.items(), key=lambda item: (item[1], item[0]))[0]
