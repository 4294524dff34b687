"""Image trees: checked with Pillow at import, decoded once, cached as a checked tensor file."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.datasets.images import (
    IMAGE_SUFFIXES,
    cache_path,
    cached_images,
    decode_image,
    scan_image_tree,
)
from engine.datasets.library import DatasetLibrary
from engine.datasets.manifest import IMAGES_DIR, Manifest
from engine.datasets.types import DatasetError, DatasetImportError


def save(path: Path, image: Image.Image, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def grey_tree(root: Path, classes: dict[str, int], size: tuple[int, int] = (6, 4)) -> Path:
    """`classes[name]` grey PNGs per class, each a distinct flat shade."""
    for k, (name, count) in enumerate(classes.items()):
        for i in range(count):
            save(root / name / f"{i:02d}.png", Image.new("L", size, 20 * k + 3 * i))
    return root


@pytest.fixture
def library(trainwright_home: Path) -> DatasetLibrary:
    return DatasetLibrary(trainwright_home)


def test_image_suffixes_are_the_five_formats() -> None:
    assert {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"} == IMAGE_SUFFIXES


def test_scan_sorts_classes_and_files_and_reads_sizes_and_formats(tmp_path: Path) -> None:
    root = grey_tree(tmp_path / "t", {"zebra": 2, "apple": 3})
    save(root / "apple" / "big.jpg", Image.new("L", (10, 7), 50), format="JPEG")
    scan = scan_image_tree(root)
    assert list(scan.classes) == ["apple", "zebra"]
    assert scan.classes["apple"] == [
        "apple/00.png",
        "apple/01.png",
        "apple/02.png",
        "apple/big.jpg",
    ]
    assert scan.sizes == {"10x7": 1, "6x4": 5}
    assert scan.formats == {"JPEG": 1, "PNG": 5}
    assert scan.channels == 1
    assert scan.skipped == []


def test_colour_is_found_by_pixels_not_by_mode(tmp_path: Path) -> None:
    root = grey_tree(tmp_path / "t", {"a": 2, "b": 2})
    save(root / "a" / "grey_rgb.png", Image.new("RGB", (4, 4), (90, 90, 90)))
    assert scan_image_tree(root).channels == 1  # an RGB file of grey pixels is grey
    save(root / "b" / "red.png", Image.new("RGB", (4, 4), (200, 10, 10)))
    assert scan_image_tree(root).channels == 3


def test_a_truncated_image_is_skipped_with_its_reason(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    root = grey_tree(tmp_path / "pets", {"cat": 3, "dog": 2}, size=(32, 32))
    broken = save(root / "cat" / "broken.png", Image.effect_noise((64, 64), 50).convert("L"))
    broken.write_bytes(broken.read_bytes()[:200])
    (root / "dog" / "fake.jpg").write_bytes(b"this is text, not a JPEG")
    manifest = library.import_path(root)
    reasons = {s.path: s.reason for s in manifest.skipped}
    assert set(reasons) == {"cat/broken.png", "dog/fake.jpg"}
    assert reasons["cat/broken.png"].startswith("unreadable image (")
    assert reasons["dog/fake.jpg"] == "not a PNG, JPEG, BMP, GIF or WebP image Pillow can read"
    assert [(c.name, c.count) for c in manifest.classes] == [("cat", 3), ("dog", 2)]
    images = library.dir(manifest.id) / IMAGES_DIR
    assert not (images / "cat" / "broken.png").exists()  # the copy holds the good ones only
    assert sorted(p.name for p in (images / "cat").iterdir()) == ["00.png", "01.png", "02.png"]


def test_strict_images_refuses_a_truncated_image_by_name(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    root = grey_tree(tmp_path / "pets", {"cat": 3, "dog": 2}, size=(32, 32))
    broken = save(root / "cat" / "broken.png", Image.effect_noise((64, 64), 50).convert("L"))
    broken.write_bytes(broken.read_bytes()[:200])
    with pytest.raises(DatasetImportError) as info:
        library.import_path(root, strict_images=True)
    message = str(info.value)
    assert message.startswith("pets/cat/broken.png: unreadable image (")
    assert message.endswith("; refused (strict image checking)")
    assert list(library.root.iterdir()) == []


def test_a_class_folder_with_one_image_is_refused_by_name(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    root = grey_tree(tmp_path / "pets", {"cat": 3, "dog": 1})
    with pytest.raises(DatasetImportError) as info:
        library.import_path(root)
    assert str(info.value) == (
        "pets/dog/: class folder 'dog' has only 1 image; every class needs at least 2 images"
    )
    assert list(library.root.iterdir()) == []


def test_a_class_folder_whose_images_are_all_unreadable_is_refused(tmp_path: Path) -> None:
    root = grey_tree(tmp_path / "pets", {"cat": 3})
    (root / "dog").mkdir()
    (root / "dog" / "a.png").write_bytes(b"junk")
    with pytest.raises(DatasetImportError, match="class folder 'dog' has no readable image"):
        scan_image_tree(root)


def test_one_class_is_not_a_dataset(tmp_path: Path) -> None:
    root = grey_tree(tmp_path / "pets", {"cat": 3})
    with pytest.raises(DatasetImportError, match="found only the class folder 'cat'"):
        scan_image_tree(root)


def test_non_image_and_hidden_files_are_listed_as_skipped(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    root = grey_tree(tmp_path / "pets", {"cat": 2, "dog": 2})
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "__MACOSX" / "cat").mkdir(parents=True)
    (root / "__MACOSX" / "cat" / "._00.png").write_bytes(b"appledouble")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    (root / "README.md").write_text("top-level file")
    save(root / "loose.png", Image.new("L", (4, 4)))
    (root / "cat" / "link.png").symlink_to(root / "cat" / "00.png")
    manifest = library.import_path(root)
    assert [(s.path, s.reason) for s in manifest.skipped] == [
        (".git/", "hidden/system file"),
        ("README.md", "not an image"),
        ("__MACOSX/", "hidden/system file"),
        ("cat/link.png", "symbolic link (not followed)"),
        ("cat/notes.txt", "not an image"),
        ("dog/.DS_Store", "hidden/system file"),
        ("loose.png", "not in a class folder"),
    ]
    assert [(c.name, c.count) for c in manifest.classes] == [("cat", 2), ("dog", 2)]


def test_decode_crop_keeps_the_centre_and_pad_keeps_everything(tmp_path: Path) -> None:
    """A 20x10 image, white on the left half: crop keeps the middle 10x10 (half white),
    pad shrinks it to 10x5 centred on black rows."""
    image = Image.new("L", (20, 10), 0)
    image.paste(255, (0, 0, 10, 10))
    path = save(tmp_path / "half.png", image)
    crop = decode_image(path, 10, 1)  # "crop" is the default
    assert crop.dtype == torch.uint8 and tuple(crop.shape) == (1, 10, 10)
    assert torch.all(crop[0, :, :5] == 255) and torch.all(crop[0, :, 5:] == 0)
    pad = decode_image(path, 10, 1, fit="pad")
    assert torch.all(pad[0, :2] == 0) and torch.all(pad[0, 8:] == 0)  # the black bands
    assert torch.all(pad[0, 3:7, :4] == 255) and torch.all(pad[0, 3:7, 6:] == 0)
    assert torch.equal(decode_image(path, 10, 3)[0], crop[0])  # grey -> 3 equal channels
    with pytest.raises(DatasetError, match="fit 'stretch' must be one of: crop, pad"):
        decode_image(path, 10, 1, fit="stretch")
    with pytest.raises(DatasetError, match="channels 2 must be 1"):
        decode_image(path, 10, 2)


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".png", {}),
        (".jpg", {"format": "JPEG", "quality": 100}),
        (".bmp", {}),
        (".webp", {"lossless": True}),
    ],
)
def test_each_format_decodes(tmp_path: Path, suffix: str, options: dict) -> None:
    path = save(tmp_path / f"red{suffix}", Image.new("RGB", (12, 12), (250, 0, 0)), **options)
    pixels = decode_image(path, 6, 3)
    assert tuple(pixels.shape) == (3, 6, 6)
    assert pixels[0].min() >= 240 and pixels[1:].max() <= 10


def test_a_gif_decodes_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("L", (8, 8), 255), Image.new("L", (8, 8), 0)]
    path = tmp_path / "blink.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 2
    assert torch.all(decode_image(path, 8, 1) == 255)


def test_transparency_is_black(tmp_path: Path) -> None:
    image = Image.new("RGBA", (4, 4), (255, 255, 255, 0))
    image.putpixel((0, 0), (255, 255, 255, 255))
    pixels = decode_image(save(tmp_path / "clear.png", image), 4, 1)
    assert pixels[0, 0, 0] == 255 and pixels[0].sum() == 255


def _decoder_count() -> tuple[list[int], object]:
    calls: list[int] = []
    return calls, lambda done, total: calls.append(done)


def test_cached_images_decode_once_in_sorted_order(library: DatasetLibrary, tmp_path: Path) -> None:
    root = grey_tree(tmp_path / "pets", {"dog": 2, "cat": 3})
    manifest = library.import_path(root)
    directory = library.dir(manifest.id)
    calls, progress = _decoder_count()
    first = cached_images(directory, manifest, 4, 1, progress=progress)
    assert len(calls) == 5
    assert first.class_names == ["cat", "dog"]
    assert first.y.tolist() == [0, 0, 0, 1, 1]
    assert first.x.dtype == torch.uint8 and tuple(first.x.shape) == (5, 1, 4, 4)
    # grey_tree's shades: class k (in dict order: dog=0, cat=1), image i -> 20k + 3i
    assert first.x[:, 0, 0, 0].tolist() == [20, 23, 26, 0, 3]
    cache = cache_path(directory, manifest, 4, 1, "crop")
    assert cache.name == f"{manifest.sha256[:16]}_4_1_crop.pt"
    sidecar = cache.with_name(cache.name + ".sha256")
    assert sidecar.read_text().strip() == hashlib.sha256(cache.read_bytes()).hexdigest()

    # The images moved away: a second call can only be served by the cache.
    (directory / IMAGES_DIR).rename(directory / "elsewhere")
    calls.clear()
    second = cached_images(directory, manifest, 4, 1, progress=progress)
    assert calls == []
    assert torch.equal(second.x, first.x) and torch.equal(second.y, first.y)
    # Another size is another cache entry, and needs the images.
    with pytest.raises(DatasetError, match="are not those it was imported with"):
        cached_images(directory, manifest, 5, 1)


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "no sidecar", "wrong shape"])
def test_a_damaged_cache_is_rebuilt(library: DatasetLibrary, tmp_path: Path, damage: str) -> None:
    manifest = library.import_path(grey_tree(tmp_path / "pets", {"dog": 2, "cat": 3}))
    directory = library.dir(manifest.id)
    good = cached_images(directory, manifest, 4, 1)
    cache = cache_path(directory, manifest, 4, 1, "crop")
    sidecar = cache.with_name(cache.name + ".sha256")
    data = bytearray(cache.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0xFF
        cache.write_bytes(bytes(data))
    elif damage == "truncate":
        cache.write_bytes(bytes(data[:100]))
    elif damage == "no sidecar":
        sidecar.unlink()
    else:  # a well-formed file, sidecar and all, of the wrong shape
        other = cache_path(directory, manifest, 5, 1, "crop")
        cached_images(directory, manifest, 5, 1)
        shutil.copyfile(other, cache)
        shutil.copyfile(other.with_name(other.name + ".sha256"), sidecar)
    calls, progress = _decoder_count()
    rebuilt = cached_images(directory, manifest, 4, 1, progress=progress)
    assert len(calls) == 5
    assert torch.equal(rebuilt.x, good.x)
    assert sidecar.read_text().strip() == hashlib.sha256(cache.read_bytes()).hexdigest()
    calls.clear()
    cached_images(directory, manifest, 4, 1, progress=progress)
    assert calls == []


def test_fit_and_channels_are_separate_cache_entries(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    manifest = library.import_path(grey_tree(tmp_path / "pets", {"a": 2, "b": 2}, size=(8, 4)))
    directory = library.dir(manifest.id)
    crop = cached_images(directory, manifest, 4, 1, "crop")
    pad = cached_images(directory, manifest, 4, 3, "pad")
    assert tuple(pad.x.shape) == (4, 3, 4, 4)
    assert not torch.equal(pad.x[:, :1], crop.x)
    names = sorted(p.name for p in (directory / "cache").glob("*.pt"))
    assert names == [f"{manifest.sha256[:16]}_4_1_crop.pt", f"{manifest.sha256[:16]}_4_3_pad.pt"]


def test_a_cache_for_another_manifest_is_never_read(tmp_path: Path) -> None:
    """The content hash is in the cache's name: a different dataset never shares it."""
    one = Manifest(id="x", name="x", sha256="a" * 64)
    two = Manifest(id="x", name="x", sha256="b" * 64)
    assert cache_path(tmp_path, one, 8, 1, "crop") != cache_path(tmp_path, two, 8, 1, "crop")
