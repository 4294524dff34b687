"""Safe ZIP extraction: every entry checked before anything is written, sizes counted as read.

A ZIP comes from anywhere, so nothing in it is trusted: an entry name must stay inside the
destination (no absolute path, no '..', no drive letter, no backslash, no ':'), a symlink, an
encrypted entry, a nested archive or an unusual compression method is refused, and the sizes
in its headers are never believed. Bytes are counted as they are decompressed: the total
(`MAX_UNCOMPRESSED_BYTES`) and each entry's ratio of output to compressed input (`MAX_RATIO`,
a zip bomb) are enforced while streaming, so a bomb is stopped after at most one chunk past
the limit. (zipfile itself also stops an entry at its declared size and checks its CRC, so a
header that understates a size is refused as corrupt.)

Every refusal is a `DatasetImportError` naming the archive, the entry and the rule, and on any
refusal, error or cancel the destination folder is removed: nothing is left.
"""

from __future__ import annotations

import re
import shutil
import stat
import threading
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from engine.datasets.manifest import ImportProgress, check_cancel
from engine.datasets.types import DatasetImportError

# Limits: module constants so a test can make them small.
MAX_ZIP_ENTRIES = 100_000
MAX_UNCOMPRESSED_BYTES = 4 * 1024**3  # all entries together, counted while streaming
MAX_RATIO = 100  # per entry: bytes out / compressed bytes in, checked while streaming
RATIO_EXEMPT_BYTES = 1024**2  # entries that stay under this many bytes may compress better
CHUNK_BYTES = 64 * 1024

NESTED_ARCHIVE_SUFFIXES = frozenset({".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar"})
# The first bytes of archive formats, so a renamed archive ("x.png" that is a ZIP) is refused.
_ARCHIVE_MAGIC = (
    b"PK\x03\x04",  # zip
    b"PK\x05\x06",  # empty zip
    b"PK\x07\x08",  # spanned zip
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf\x27\x1c",  # 7-Zip
    b"Rar!\x1a\x07",  # RAR
    b"\xfd7zXZ\x00",  # xz
)
_TAR_MAGIC_OFFSET = 257  # "ustar" in a tar header
# Only these decompress with a bounded output per call (zipfile's bzip2/lzma readers do not,
# so one read of a bzip2 bomb could fill memory before any count sees it).
_ALLOWED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_DRIVE = re.compile(r"^[A-Za-z]:")
# Names that operating systems and archivers add: left out (and listed) rather than imported.
_SYSTEM_NAMES = frozenset({"__macosx", "thumbs.db", "ehthumbs.db", "desktop.ini"})
HIDDEN_REASON = "hidden/system file"
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{d}{n}" for d in ("COM", "LPT") for n in range(1, 10)}
)

Progress = Callable[[ImportProgress], None]


@dataclass
class Extracted:
    """What `extract_zip` wrote: the files (posix paths relative to the destination, sorted)
    and the entries it left out (hidden or system files) with the reason."""

    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def is_hidden(parts: tuple[str, ...]) -> int | None:
    """The index of the first hidden or system component ('.DS_Store', '__MACOSX',
    'Thumbs.db'), or None: such files are operating-system litter, never data."""
    for index, part in enumerate(parts):
        if part.startswith(".") or part.lower() in _SYSTEM_NAMES:
            return index
    return None


def is_archive_name(name: str) -> bool:
    return PurePosixPath(name.lower()).suffix in NESTED_ARCHIVE_SUFFIXES


def looks_like_archive(head: bytes) -> bool:
    """Whether the first bytes of a file are those of an archive (zip, gzip, tar, 7z, ...)."""
    if head.startswith(_ARCHIVE_MAGIC):
        return True
    return head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar"


def entry_parts(info: zipfile.ZipInfo, archive: str) -> tuple[str, ...]:
    """The components of an entry's name once checked: they can only name a place inside the
    destination. DatasetImportError naming the entry and the rule otherwise."""
    name = info.filename

    def refuse(rule: str) -> DatasetImportError:
        return DatasetImportError(f"{archive}: entry {name!r} {rule}; refused")

    if not name or "\x00" in name:
        raise refuse("has an empty or invalid name")
    if "\\" in name:
        raise refuse("has a backslash in its path (a Windows path separator)")
    if name.startswith("/"):
        raise refuse("has an absolute path")
    if _DRIVE.match(name):
        raise refuse("starts with a drive letter")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise refuse("leaves the archive (path with '..')")
    if any(":" in p for p in parts):
        raise refuse("has a ':' in its path (a drive letter or a Windows stream)")
    if not parts:
        raise refuse("has an empty name")
    if any(_is_reserved(p) for p in parts):
        raise refuse("has a name Windows reserves for devices (CON, NUL, COM1, ...)")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise refuse("is a symbolic link")
    if info.is_dir():
        return parts
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # no type bits: a plain file
        raise refuse("is not a regular file")
    if info.flag_bits & 0x1:
        raise refuse("is encrypted")
    if info.compress_type not in _ALLOWED_METHODS:
        raise refuse(
            f"uses compression method {info.compress_type}; only stored and deflate are "
            "accepted (re-save the ZIP with standard compression)"
        )
    if is_archive_name(parts[-1]):
        raise refuse("is an archive inside the archive (extract it first)")
    return parts


def _is_reserved(part: str) -> bool:
    """A device name on Windows (opening 'CON.png' there opens the console), or a name
    Windows silently changes (a trailing dot or space)."""
    stem = part.split(".")[0].rstrip(" ").upper()
    return stem in _WINDOWS_DEVICES or part.endswith((".", " "))


def extract_zip(
    source: Path,
    dest: Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Extracted:
    """Extract the ZIP `source` into the new folder `dest` (which must not exist), checking
    every entry first (names, links, methods, count) and the sizes while streaming.

    Hidden and system entries are left out and listed in `Extracted.skipped`. On any refusal,
    error or cancel (`cancel` is checked per entry and per chunk), `dest` is removed.
    """
    source = Path(source)
    archive = source.name
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    try:
        return _extract(source, archive, dest, progress, cancel)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _extract(
    source: Path,
    archive: str,
    dest: Path,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> Extracted:
    try:
        zf = zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise DatasetImportError(f"{archive}: not a valid ZIP archive ({exc})") from None
    except OSError as exc:
        raise DatasetImportError(f"{archive}: cannot be read ({exc.strerror or exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise DatasetImportError(
                f"{archive}: has {len(infos)} entries, more than the {MAX_ZIP_ENTRIES} allowed; "
                "refused"
            )
        # Check every name before writing anything.
        plan: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
        result = Extracted()
        hidden_seen: set[str] = set()
        for info in infos:
            parts = entry_parts(info, archive)
            hidden = is_hidden(parts)
            if hidden is not None:
                shown = "/".join(parts[: hidden + 1])
                if hidden + 1 < len(parts) or info.is_dir():
                    shown += "/"
                if shown not in hidden_seen:
                    hidden_seen.add(shown)
                    result.skipped.append((shown, HIDDEN_REASON))
                continue
            if not info.is_dir():
                plan.append((info, parts))
        total_out = 0
        written: set[str] = set()
        for done, (info, parts) in enumerate(plan, start=1):
            check_cancel(cancel)
            relpath = "/".join(parts)
            key = relpath.casefold()  # two names that differ only in case are one file on
            if key in written:  # Windows and macOS: refuse rather than overwrite
                raise DatasetImportError(
                    f"{archive}: entry {info.filename!r} appears twice in the archive "
                    "(names may differ only in case); refused"
                )
            written.add(key)
            total_out = _extract_entry(zf, info, archive, dest / Path(*parts), total_out, cancel)
            result.files.append(relpath)
            if progress is not None:
                progress(ImportProgress("extracting", done, len(plan), relpath))
    result.files.sort()
    result.skipped.sort()
    return result


def _extract_entry(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    archive: str,
    target: Path,
    total_out: int,
    cancel: threading.Event | None,
) -> int:
    """Stream one entry to `target`; the running total of bytes written to the archive's
    files. Refuses (naming the entry) as soon as a limit is passed."""
    name = info.filename
    compressed = max(info.compress_size, 1)
    entry_out = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        raise DatasetImportError(
            f"{archive}: entry {name!r} lies under a file of the same name; refused"
        ) from None
    try:
        with zf.open(info) as src, open(target, "xb") as out:
            first = True
            while True:
                check_cancel(cancel)
                chunk = src.read(CHUNK_BYTES)
                if not chunk:
                    break
                if first and looks_like_archive(chunk):
                    raise DatasetImportError(
                        f"{archive}: entry {name!r} is an archive inside the archive "
                        "(extract it first); refused"
                    )
                first = False
                entry_out += len(chunk)
                total_out += len(chunk)
                if total_out > MAX_UNCOMPRESSED_BYTES:
                    raise DatasetImportError(
                        f"{archive}: entry {name!r} takes the archive past "
                        f"{MAX_UNCOMPRESSED_BYTES} bytes uncompressed (counted while "
                        "extracting); refused"
                    )
                if entry_out > RATIO_EXEMPT_BYTES and entry_out > MAX_RATIO * compressed:
                    raise DatasetImportError(
                        f"{archive}: entry {name!r} expands more than {MAX_RATIO}:1 "
                        f"(a zip bomb; {entry_out} bytes from {info.compress_size}); refused"
                    )
                out.write(chunk)
    except DatasetImportError:
        raise
    except FileExistsError:
        raise DatasetImportError(
            f"{archive}: entry {name!r} appears twice in the archive; refused"
        ) from None
    except (
        zipfile.BadZipFile,
        EOFError,
        ValueError,
        zlib.error,
    ) as exc:  # a bad CRC, a truncated stream
        raise DatasetImportError(f"{archive}: entry {name!r} is corrupt ({exc}); refused") from None
    except NotImplementedError as exc:
        raise DatasetImportError(f"{archive}: entry {name!r} cannot be read ({exc})") from None
    except OSError as exc:
        raise DatasetImportError(
            f"{archive}: entry {name!r} cannot be extracted ({exc.strerror or exc})"
        ) from None
    return total_out
