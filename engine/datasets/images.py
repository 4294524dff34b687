"""Image trees: checked once at import with Pillow, decoded once per size into a tensor cache.

A tree is a folder of class folders (`<root>/<class>/<file>`; files in sub-folders of a class
folder belong to that class). Classes are in sorted order and so are the files of a class,
so an image's label `y` is the index of its class in sorted order, on every platform.

Pillow's decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`) is kept: an image over it is
refused by name (the warning Pillow gives between one and two times the limit is an error
here too). Only PNG, JPEG, BMP, GIF (first frame) and WebP decoders are used. EXIF orientation
is not applied: pixels are used as stored, the same on every machine.

Torch is imported only by `decode_image` and `cached_images`, so a scan runs without it.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PIL import Image, ImageChops, UnidentifiedImageError

from engine.atomic import atomic_write_bytes, atomic_write_text, sha256_file
from engine.datasets.archive import HIDDEN_REASON, is_hidden
from engine.datasets.manifest import (
    CACHE_DIR,
    IMAGES_DIR,
    ImportProgress,
    Manifest,
    check_cancel,
)
from engine.datasets.types import (
    CSV_DEFAULTS,
    DatasetDefaults,
    DatasetError,
    DatasetImportError,
    LoadedImages,
)

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")  # the only decoders Pillow may use
MIN_IMAGES_PER_CLASS = 2
MIN_CLASSES = 2
MAX_DECODE_SIZE = 1024  # the largest side an image is decoded to
Fit = Literal["crop", "pad"]
FITS: tuple[str, ...] = ("crop", "pad")
DEFAULT_FIT: Fit = "crop"  # fill the square (the centre of a non-square image), no borders
_GREY_MODES = ("1", "L", "LA", "I", "F")

ImportProgressFn = Callable[[ImportProgress], None]


@dataclass
class ImageScan:
    """A checked image tree: class -> sorted image paths (posix, relative to the root, so
    "cat/01.png"), image sizes ("WxH" -> count), Pillow formats, 3 channels if any image has
    colour (else 1), and the files left out with the reason."""

    classes: dict[str, list[str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)
    channels: int = 1
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return [path for name in self.classes for path in self.classes[name]]


@dataclass(frozen=True)
class _ImageFacts:
    size: tuple[int, int]
    format: str
    colour: bool


class _Unreadable(Exception):
    """A file Pillow cannot read; the message is the reason shown in the skipped list."""


def skip_reason(parts: tuple[str, ...], path: Path) -> str | None:
    """Why the file at `path` (relative path `parts` in a tree) is not an image of a class,
    or None if it is a candidate (then Pillow has the last word)."""
    if is_hidden(parts) is not None:
        return HIDDEN_REASON
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISLNK(mode):
        return "symbolic link (not followed)"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if Path(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
        return "not an image"
    if len(parts) < 2:
        return "not in a class folder"
    return None


def walk_files(root: Path) -> Iterator[tuple[tuple[str, ...], Path]]:
    """Every entry below `root` that is not a folder, as (relative parts, path), in sorted
    order; symlinked folders are yielded (not followed) and hidden folders are yielded once,
    whole, so the caller lists them as skipped without reading inside."""
    root = Path(root)

    def visit(directory: Path, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Path]]:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise DatasetImportError(
                f"{'/'.join(prefix) or directory}: folder cannot be read ({exc.strerror or exc})"
            ) from None
        for entry in entries:
            parts = (*prefix, entry.name)
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False) and is_hidden(parts) is None:
                yield from visit(path, parts)
            else:
                yield parts, path

    yield from visit(root, ())


def image_files(root: Path) -> dict[str, list[str]]:
    """The class -> sorted image paths of an imported (already checked) tree, classes sorted."""
    classes: dict[str, list[str]] = {}
    for parts, path in walk_files(root):
        if skip_reason(parts, path) is None:
            classes.setdefault(parts[0], []).append("/".join(parts))
    return {name: sorted(classes[name]) for name in sorted(classes)}


@contextmanager
def open_image(path: Path, shown: str) -> Iterator[Image.Image]:
    """Open an image with the allowed decoders and the decompression-bomb limit as an error.

    DatasetImportError naming `shown` for a bomb; `_Unreadable` for a file Pillow cannot open.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path, formats=PILLOW_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(shown, exc) from None
        except UnidentifiedImageError:
            raise _Unreadable("not a PNG, JPEG, BMP, GIF or WebP image Pillow can read") from None
        except Exception as exc:
            raise _Unreadable(f"unreadable image ({_describe(exc)})") from None
        with image:
            yield image


def _bomb(shown: str, exc: BaseException) -> DatasetImportError:
    return DatasetImportError(
        f"{shown}: image is over Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} "
        f"pixels ({exc}); refused"
    )


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def check_image(path: Path, shown: str) -> _ImageFacts:
    """Open, verify and fully decode one image (its first frame); its size, format and whether
    it has colour. DatasetImportError for a bomb, `_Unreadable` for a bad file."""
    with open_image(path, shown) as image:
        try:
            image.verify()  # checksums and structure, without decoding
        except Exception as exc:
            raise _Unreadable(f"unreadable image ({_describe(exc)})") from None
    with open_image(path, shown) as image:  # verify() leaves the image unusable: reopen
        try:
            image.load()  # under open_image's bomb filter
            colour = _has_colour(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(shown, exc) from None
        except Exception as exc:
            raise _Unreadable(f"unreadable image ({_describe(exc)})") from None
        return _ImageFacts(image.size, image.format or "?", colour)


def _has_colour(image: Image.Image) -> bool:
    """Whether any pixel is not grey (a colour-mode file of grey pixels counts as grey)."""
    if image.mode.startswith(_GREY_MODES):
        return False
    red, green, blue = image.convert("RGB").split()
    return (
        ImageChops.difference(red, green).getbbox() is not None
        or ImageChops.difference(green, blue).getbbox() is not None
    )


def sorted_entries(root: Path) -> list[tuple[tuple[str, ...], Path, str, str | None]]:
    """Every entry of `walk_files(root)` as (parts, path, relpath as listed, why it is left
    out — None for a candidate image); a hidden folder is listed once, as the folder."""
    out = []
    for parts, path in walk_files(root):
        relpath = "/".join(parts)
        reason = skip_reason(parts, path)
        if reason == HIDDEN_REASON:
            cut = is_hidden(parts) or 0
            relpath = "/".join(parts[: cut + 1]) + ("/" if path.is_dir() else "")
        out.append((parts, path, relpath, reason))
    return out


def scan_image_tree(
    root: Path,
    *,
    strict: bool = False,
    progress: ImportProgressFn | None = None,
    cancel: threading.Event | None = None,
    shown_as: str = "",
) -> ImageScan:
    """Check every file of a tree of class folders with Pillow.

    A file that is not an image (by suffix), hidden, a link, or outside a class folder is left
    out and listed; an unreadable or truncated image is left out and listed, or refused when
    `strict`; an image over the decompression-bomb limit is always refused. A class folder
    with fewer than 2 images, or fewer than 2 classes, is refused. Messages name the file as
    `shown_as` + its relative path. `cancel` is checked per file.
    """
    entries = sorted_entries(root)
    scan = ImageScan()
    classes: dict[str, list[str]] = {}
    sizes: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    colour = False
    for done, (parts, path, relpath, reason) in enumerate(entries, start=1):
        check_cancel(cancel)
        if reason is None:
            classes.setdefault(parts[0], [])
            try:
                facts = check_image(path, shown_as + relpath)
            except _Unreadable as exc:
                if strict:
                    raise DatasetImportError(
                        f"{shown_as}{relpath}: {exc}; refused (strict image checking)"
                    ) from None
                reason = str(exc)
            else:
                classes[parts[0]].append(relpath)
                sizes[f"{facts.size[0]}x{facts.size[1]}"] += 1
                formats[facts.format] += 1
                colour = colour or facts.colour
        if reason is not None:
            scan.skipped.append((relpath, reason))
        if progress is not None:
            progress(ImportProgress("checking images", done, len(entries), relpath))
    for name in sorted(classes):
        count = len(classes[name])
        if count < MIN_IMAGES_PER_CLASS:
            have = "no readable image" if count == 0 else "only 1 image"
            raise DatasetImportError(
                f"{shown_as}{name}/: class folder '{name}' has {have}; every class needs at "
                f"least {MIN_IMAGES_PER_CLASS} images"
            )
    if len(classes) < MIN_CLASSES:
        found = f"only the class folder '{next(iter(classes))}'" if classes else "no class folder"
        where = shown_as.rstrip(" :/") or str(root)
        raise DatasetImportError(
            f"{where}: found {found} with images; an image dataset needs at least "
            f"{MIN_CLASSES} class folders, each holding the images of one class"
        )
    scan.classes = {name: sorted(classes[name]) for name in sorted(classes)}
    scan.sizes = dict(sorted(sizes.items()))
    scan.formats = dict(sorted(formats.items()))
    scan.channels = 3 if colour else 1
    return scan


def image_tree_sha256(
    root: Path,
    relpaths: list[str],
    *,
    progress: ImportProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """The content hash of an image tree: SHA-256 over the sorted lines "relpath\\tsha256\\n"
    of its images (so a renamed, moved, added or changed file changes it)."""
    digest = hashlib.sha256()
    ordered = sorted(relpaths)
    for done, relpath in enumerate(ordered, start=1):
        check_cancel(cancel)
        digest.update(f"{relpath}\t{sha256_file(Path(root, relpath))}\n".encode())
        if progress is not None:
            progress(ImportProgress("hashing", done, len(ordered), relpath))
    return digest.hexdigest()


# ---- decoding --------------------------------------------------------------------------------


def _check_decode_args(size: int, channels: int, fit: str) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_DECODE_SIZE:
        raise DatasetError(
            f"image size {size!r} must be a whole number from 1 to {MAX_DECODE_SIZE}"
        )
    if channels not in (1, 3):
        raise DatasetError(f"image channels {channels!r} must be 1 (grey) or 3 (colour)")
    if fit not in FITS:
        raise DatasetError(f"image fit {fit!r} must be one of: {', '.join(FITS)}")


def decode_image(path: Path, size: int, channels: int, fit: str = DEFAULT_FIT) -> torch.Tensor:
    """One image as a uint8 tensor [channels, size, size].

    The first frame of a GIF; transparency composited over black; converted to grey ("L") or
    RGB; then `fit`: "crop" (the default) resizes the shorter side to `size` (bilinear) and
    keeps the centre square, "pad" resizes the longer side to `size` and centres the image on
    black. EXIF orientation is not applied. DatasetError naming the file if it cannot be read.
    """
    import numpy as np
    import torch

    _check_decode_args(size, channels, fit)
    path = Path(path)
    try:
        with open_image(path, path.name) as image:
            image.seek(0)
            pixels = _fitted(_flattened(image, channels), size, fit)
    except _Unreadable as exc:
        raise DatasetError(f"{path}: {exc}") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    array = np.array(pixels, dtype=np.uint8)  # a writable copy: torch shares its memory
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def _flattened(image: Image.Image, channels: int) -> Image.Image:
    mode = "L" if channels == 1 else "RGB"
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert(mode)
    return image.convert(mode)


def _fitted(image: Image.Image, size: int, fit: str) -> Image.Image:
    width, height = image.size
    if (width, height) == (size, size):
        return image
    if fit == "crop":
        scale = size / min(width, height)
        new = (max(size, round(width * scale)), max(size, round(height * scale)))
        resized = image.resize(new, Image.Resampling.BILINEAR)
        left, top = (new[0] - size) // 2, (new[1] - size) // 2
        return resized.crop((left, top, left + size, top + size))
    scale = size / max(width, height)
    new = (max(1, min(size, round(width * scale))), max(1, min(size, round(height * scale))))
    resized = image.resize(new, Image.Resampling.BILINEAR)
    canvas = Image.new(image.mode, (size, size), 0)
    canvas.paste(resized, ((size - new[0]) // 2, (size - new[1]) // 2))
    return canvas


# ---- the tensor cache ------------------------------------------------------------------------


def cache_path(dataset_dir: Path, manifest: Manifest, size: int, channels: int, fit: str) -> Path:
    """The cache file of a dataset decoded at (size, channels, fit); its content hash is in
    the name, so a re-imported or changed dataset never reads an old cache."""
    name = f"{manifest.sha256[:16]}_{size}_{channels}_{fit}.pt"
    return Path(dataset_dir) / CACHE_DIR / name


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def cached_images(
    dataset_dir: Path,
    manifest: Manifest,
    size: int,
    channels: int,
    fit: str = DEFAULT_FIT,
    *,
    defaults: DatasetDefaults = CSV_DEFAULTS,
    progress: Callable[[int, int], None] | None = None,
) -> LoadedImages:
    """The dataset's images decoded at `size` x `size` with `channels`: read from the cache
    when it is there and intact, else decoded once (`progress(done, total)` per image) and
    cached (`cache/<sha256[:16]>_<size>_<channels>_<fit>.pt` with a `.sha256` sidecar checked
    before `torch.load(weights_only=True)`; written atomically). Classes and files in sorted
    order; `y` is the class index. A cache that cannot be written is not an error.
    """
    import torch

    _check_decode_args(size, channels, fit)
    class_names = [c.name for c in manifest.classes]
    path = cache_path(dataset_dir, manifest, size, channels, fit)
    cached = _read_cache(path, class_names, manifest.image_count(), size, channels)
    if cached is not None:
        return LoadedImages(x=cached[0], y=cached[1], class_names=class_names, defaults=defaults)

    images_dir = Path(dataset_dir) / IMAGES_DIR
    files = image_files(images_dir) if images_dir.is_dir() else {}
    found = {name: len(paths) for name, paths in files.items()}
    expected = {c.name: c.count for c in manifest.classes}
    if found != expected:
        raise DatasetError(
            f"dataset '{manifest.id}': its images in {images_dir} are not those it was imported "
            f"with ({sum(found.values())} images in {len(found)} classes, expected "
            f"{manifest.image_count()} in {len(expected)}); import it again"
        )
    total = manifest.image_count()
    x = torch.empty((total, channels, size, size), dtype=torch.uint8)
    y = torch.empty(total, dtype=torch.int64)
    done = 0
    for label, name in enumerate(class_names):
        for relpath in files[name]:
            x[done] = decode_image(images_dir / relpath, size, channels, fit)
            y[done] = label
            done += 1
            if progress is not None:
                progress(done, total)
    buffer = io.BytesIO()
    torch.save({"x": x, "y": y, "class_names": class_names}, buffer)
    try:
        digest = atomic_write_bytes(path, buffer.getvalue())
        atomic_write_text(_sidecar(path), digest + "\n")
    except OSError:
        pass  # a read-only home: decode again next time
    return LoadedImages(x=x, y=y, class_names=class_names, defaults=defaults)


def _read_cache(
    path: Path, class_names: list[str], count: int, size: int, channels: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(x, y) from an intact cache file that matches the dataset, else None (rebuild)."""
    import torch

    try:
        data = path.read_bytes()
        expected = _sidecar(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        return None
    try:
        stored = torch.load(io.BytesIO(data), weights_only=True)
    except Exception:
        return None
    if not isinstance(stored, dict):
        return None
    x, y = stored.get("x"), stored.get("y")
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        return None
    if (
        stored.get("class_names") != class_names
        or x.dtype != torch.uint8
        or tuple(x.shape) != (count, channels, size, size)
        or y.dtype != torch.int64
        or tuple(y.shape) != (count,)
    ):
        return None
    return x, y
