"""Dataset import safety: every hostile ZIP or image is refused by name and leaves nothing.

Real archives built with zipfile in tmp_path (some with headers patched byte by byte), real
Pillow images; the limits are the module constants, made small where a test needs it.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import threading
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from engine.datasets import archive
from engine.datasets.library import DatasetLibrary
from engine.datasets.manifest import ImportCancelled, ImportProgress
from engine.datasets.types import DatasetImportError


def png_bytes(value: int = 128, size: tuple[int, int] = (8, 8), mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, value).save(buffer, format="PNG")
    return buffer.getvalue()


def good_entries(prefix: str = "") -> dict[str, bytes]:
    """Two classes of three small grey PNGs each: a valid image dataset."""
    return {
        f"{prefix}{cls}/{i}.png": png_bytes(40 * i + (100 if cls == "b" else 0))
        for cls in ("a", "b")
        for i in range(3)
    }


def write_zip(
    path: Path,
    entries: dict[str, bytes] | list[tuple[zipfile.ZipInfo | str, bytes]],
    method: int = zipfile.ZIP_DEFLATED,
) -> Path:
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return path


def assert_nothing_written(library: DatasetLibrary) -> None:
    leftovers = list(library.root.iterdir()) if library.root.exists() else []
    assert leftovers == []


@pytest.fixture
def library(trainwright_home: Path) -> DatasetLibrary:
    return DatasetLibrary(trainwright_home)


def refused(library: DatasetLibrary, source: Path, **kwargs) -> str:
    with pytest.raises(DatasetImportError) as info:
        library.import_path(source, **kwargs)
    assert_nothing_written(library)
    return str(info.value)


def test_a_valid_zip_is_imported(library: DatasetLibrary, tmp_path: Path) -> None:
    """The baseline the refusals below differ from by one entry."""
    manifest = library.import_path(write_zip(tmp_path / "photos.zip", good_entries()))
    assert [c.count for c in manifest.classes] == [3, 3]


def test_zip_slip_with_dotdot_is_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    entries = {**good_entries(), "../evil.png": png_bytes()}
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    assert message == "photos.zip: entry '../evil.png' leaves the archive (path with '..'); refused"
    assert not (tmp_path / "evil.png").exists()
    assert not (library.root.parent / "evil.png").exists()


def test_dotdot_deep_inside_a_name_is_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    entries = {**good_entries(), "a/../../evil.png": png_bytes()}
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    assert "'a/../../evil.png' leaves the archive" in message


def test_absolute_path_is_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    entries = {**good_entries(), "/tmp/evil.png": png_bytes()}
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    assert message == "photos.zip: entry '/tmp/evil.png' has an absolute path; refused"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("C:/evil.png", "starts with a drive letter"),
        ("c:evil.png", "starts with a drive letter"),
        ("a\\..\\..\\evil.png", "has a backslash"),
        ("a/evil.png:stream", "has a ':'"),
        ("a/CON.png", "has a name Windows reserves"),
        ("a/x.png ", "has a name Windows reserves"),
    ],
)
def test_windows_paths_are_refused(
    library: DatasetLibrary, tmp_path: Path, name: str, rule: str
) -> None:
    entries = {**good_entries(), name: png_bytes()}
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    assert message.startswith(f"photos.zip: entry {name!r} {rule}")
    assert message.endswith("; refused")


def test_symlink_entry_is_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    link = zipfile.ZipInfo("a/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    entries: list[tuple[zipfile.ZipInfo | str, bytes]] = [
        *good_entries().items(),
        (link, b"/etc/passwd"),
    ]
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    assert message == "photos.zip: entry 'a/link.png' is a symbolic link; refused"


def test_ratio_bomb_is_refused_while_streaming(library: DatasetLibrary, tmp_path: Path) -> None:
    """5 MB of zeros deflates about 1000:1: refused once the first MiB is out, not written."""
    entries = {**good_entries(), "a/zeros.png": bytes(5_000_000)}
    source = write_zip(tmp_path / "photos.zip", entries)
    with zipfile.ZipFile(source) as zf:
        assert zf.getinfo("a/zeros.png").compress_size * archive.MAX_RATIO < 5_000_000
    message = refused(library, source)
    assert message.startswith(
        f"photos.zip: entry 'a/zeros.png' expands more than {archive.MAX_RATIO}:1"
    )
    assert "zip bomb" in message


def test_total_size_is_counted_while_streaming(
    library: DatasetLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = good_entries()
    total = sum(len(data) for data in entries.values())
    monkeypatch.setattr(archive, "MAX_UNCOMPRESSED_BYTES", total - 1)
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    # The last entry (in archive order) is the one that goes past the limit.
    last = list(entries)[-1]
    assert message.startswith(f"photos.zip: entry '{last}' takes the archive past {total - 1}")
    monkeypatch.setattr(archive, "MAX_UNCOMPRESSED_BYTES", total)
    assert library.import_path(tmp_path / "photos.zip").status == "ready"


def _patch_headers(data: bytes, name: str, local_at: int, central_at: int, value: int) -> bytes:
    """Rewrite one field of an entry's local header and of its central directory record
    (`local_at`/`central_at`: the field's offset in each); the data itself is unchanged.
    A 2-byte field at offsets 6/8 (the flag bits), else a 4-byte one."""
    buf = bytearray(data)
    fmt = "<H" if (local_at, central_at) == (6, 8) else "<I"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
        local = info.header_offset
        assert buf[local : local + 4] == b"PK\x03\x04"
        struct.pack_into(fmt, buf, local + local_at, value)
        offset = zf.start_dir
        for _ in zf.infolist():
            assert buf[offset : offset + 4] == b"PK\x01\x02"
            n, m, k = struct.unpack_from("<HHH", buf, offset + 28)
            if bytes(buf[offset + 46 : offset + 46 + n]).decode() == name:
                struct.pack_into(fmt, buf, offset + central_at, value)
            offset += 46 + n + m + k
    return bytes(buf)


def _patch_declared_size(data: bytes, name: str, size: int) -> bytes:
    """The uncompressed size the headers declare for `name`, rewritten to `size`."""
    return _patch_headers(data, name, 22, 24, size)


def test_header_sizes_are_not_believed(
    library: DatasetLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry whose headers claim 3 GB, far over the limit, is imported: only the bytes
    actually streamed count (a check of the headers' sum would have refused it)."""
    monkeypatch.setattr(archive, "MAX_UNCOMPRESSED_BYTES", 100_000)
    data = write_zip(tmp_path / "plain.zip", good_entries()).read_bytes()
    lying = tmp_path / "photos.zip"
    lying.write_bytes(_patch_declared_size(data, "a/0.png", 3_000_000_000))
    with zipfile.ZipFile(lying) as zf:
        assert sum(i.file_size for i in zf.infolist()) > archive.MAX_UNCOMPRESSED_BYTES
    manifest = library.import_path(lying)
    assert manifest.classes[0].count == 3


def test_header_understating_a_size_is_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    """An entry of 300 kB whose headers claim 100 bytes: never more than the claim is
    read, and the content then fails its CRC: refused, nothing written."""
    noise = os.urandom(300_000)
    entries = {**good_entries(), "a/noise.png": noise}
    data = write_zip(tmp_path / "plain.zip", entries, zipfile.ZIP_STORED).read_bytes()
    lying = tmp_path / "photos.zip"
    lying.write_bytes(_patch_declared_size(data, "a/noise.png", 100))
    message = refused(library, lying)
    assert message.startswith("photos.zip: entry 'a/noise.png' is corrupt")


@pytest.mark.parametrize("inner", ["a/inner.zip", "a/x.tar", "a/x.tar.gz", "a/x.7z", "a/x.RAR"])
def test_nested_archive_is_refused_by_name(
    library: DatasetLibrary, tmp_path: Path, inner: str
) -> None:
    entries = {**good_entries(), inner: b"not even an archive"}
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    assert message == (
        f"photos.zip: entry {inner!r} is an archive inside the archive (extract it first); refused"
    )


def test_nested_archive_is_refused_by_content(library: DatasetLibrary, tmp_path: Path) -> None:
    """A ZIP renamed to .png is still a ZIP."""
    inner = write_zip(tmp_path / "inner.zip", good_entries()).read_bytes()
    entries = {**good_entries(), "a/disguised.png": inner}
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    assert "entry 'a/disguised.png' is an archive inside the archive" in message


def test_entry_count_is_capped(
    library: DatasetLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "MAX_ZIP_ENTRIES", 5)
    message = refused(library, write_zip(tmp_path / "photos.zip", good_entries()))
    assert message == "photos.zip: has 6 entries, more than the 5 allowed; refused"


def test_duplicate_entries_are_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    entries = [*good_entries().items(), ("A/0.png", png_bytes())]
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    assert message.startswith("photos.zip: entry 'A/0.png' appears twice")


def test_encrypted_entry_is_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    entries = {**good_entries(), "a/locked.png": png_bytes()}
    data = write_zip(tmp_path / "plain.zip", entries).read_bytes()
    source = tmp_path / "photos.zip"
    source.write_bytes(_patch_headers(data, "a/locked.png", 6, 8, 0x1))  # "encrypted" flag
    message = refused(library, source)
    assert message == "photos.zip: entry 'a/locked.png' is encrypted; refused"


def test_unbounded_compression_methods_are_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    """bzip2 and lzma decompress without an output bound per read: refused outright."""
    source = write_zip(tmp_path / "photos.zip", good_entries(), zipfile.ZIP_BZIP2)
    message = refused(library, source)
    assert message.startswith("photos.zip: entry 'a/0.png' uses compression method 12")


def test_a_file_that_is_not_a_zip_is_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    source = tmp_path / "photos.zip"
    source.write_bytes(b"PK\x03\x04 but then nothing")
    assert refused(library, source).startswith("photos.zip: not a valid ZIP archive")
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert refused(library, other).startswith("notes.txt: not a CSV file (.csv), a ZIP archive")
    assert refused(library, tmp_path / "missing.zip").endswith("not found; nothing was imported")


def test_decompression_bomb_image_is_refused_by_name(
    library: DatasetLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over Pillow's limit (warning range: 1-2x) and far over it (error range): both refused,
    even though unreadable images are otherwise only skipped."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for side, name in ((40, "warned"), (64, "errored")):  # 1600 and 4096 pixels
        entries = {**good_entries(), f"b/{name}.png": png_bytes(size=(side, side))}
        message = refused(library, write_zip(tmp_path / f"{name}.zip", entries))
        assert message.startswith(
            f"{name}.zip: b/{name}.png: image is over Pillow's decompression-bomb limit "
            "of 1000 pixels"
        )
        assert message.endswith("; refused")


def test_cancel_stops_the_import_and_leaves_nothing(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    cancel = threading.Event()
    seen: list[ImportProgress] = []

    def progress(step: ImportProgress) -> None:
        seen.append(step)
        if len(seen) == 3:
            cancel.set()

    source = write_zip(tmp_path / "photos.zip", good_entries())
    with pytest.raises(ImportCancelled, match=r"^import cancelled$"):
        library.import_path(source, progress=progress, cancel=cancel)
    assert len(seen) == 3  # checked per file: the fourth never started
    assert_nothing_written(library)


def test_a_late_failure_leaves_nothing(library: DatasetLibrary, tmp_path: Path) -> None:
    """Refused after extracting, copying and checking (a one-image class): nothing stays."""
    entries = {**good_entries(), "c/only.png": png_bytes()}
    message = refused(library, write_zip(tmp_path / "photos.zip", entries))
    assert "class folder 'c' has only 1 image" in message
    assert library.manifests() == []
