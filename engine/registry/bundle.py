"""Import a model bundle (a ZIP made by `models export --format bundle`) as a new version.

A bundle comes from anywhere, so everything is checked before anything is written: the ZIP
safety rules of dataset imports (engine.datasets.archive: entry names that stay inside, no
links, no encryption, stored/deflate only, sizes and expansion ratios counted while reading),
exactly the expected entries, each entry's sha256 and size as MANIFEST.json lists them,
version.json as a ModelVersion whose file_sha256 and weights_sha256 match weights.safetensors,
and preprocessing.json as a JSON object. Only then is a new version folder created (the next
number, exist_ok=False), its files written atomically and version.json last: a version exists
only once it is complete. On any failure while writing, the folder is removed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.atomic import atomic_write_bytes, atomic_write_json
from engine.datasets import archive
from engine.datasets.types import DatasetImportError
from engine.metadata import now
from engine.registry.export import (
    BUNDLE_ENTRIES,
    BUNDLE_FORMAT,
    MANIFEST_ENTRY,
    ONNX_ENTRY,
)
from engine.registry.records import (
    PREPROCESSING_FILE,
    VERSION_FILE,
    WEIGHTS_FILE,
    ModelVersion,
    RegistryError,
    check_model_name,
    claim_version_folder,
    model_dir,
)

# Written in this order; version.json last (with its new name and number), so a half-written
# folder is never a version.
_FILES_WRITTEN = (WEIGHTS_FILE, PREPROCESSING_FILE, ONNX_ENTRY)


def import_bundle(
    workspace: Any,
    zip_path: Path | str,
    *,
    name: str | None = None,
    notes: list[str] | None = None,
) -> ModelVersion:
    """Add the bundle's model as the next version of `name` (default: the name it was
    exported under) in this home; RegistryError naming the entry and the rule when the
    bundle is unsafe, incomplete or altered (then nothing is written).

    The manifest catches damage, not forgery (whoever edits an entry can rewrite it): so the
    weights must hash to what version.json says, and model.onnx must compute what the weights
    compute, run against the family's model holding them. Where that model cannot be built
    here (its family, or the dataset it is sized from, is missing) or ONNX Runtime is not
    installed, the check is skipped and `notes` (if given) says so."""
    source = Path(zip_path).expanduser()
    entries = read_bundle(source)
    original = check_bundle(source.name, entries)
    target = check_model_name(name if name is not None else original.name)
    skipped = _check_onnx(workspace, source.name, original, entries)
    if skipped and notes is not None:
        notes.append(skipped)
    return _write_version(Path(workspace.home), target, original, entries)


def _check_onnx(
    workspace: Any, label: str, version: ModelVersion, entries: dict[str, bytes]
) -> str | None:
    """RegistryError unless model.onnx gives the weights' outputs (within the export check's
    tolerance) on the version's test inputs or a batch of its input shape; a note instead of a
    check when the weights' model cannot be built or run here."""
    from safetensors.torch import load as load_safetensors

    from engine.analysis.classification import model_with_weights
    from engine.registry.export import ONNX_TOLERANCE, example_inputs, onnx_max_abs_diff

    domain = dict(version.config.get("domain", {}))
    try:
        family = workspace.registry.family(version.family)
        model = model_with_weights(family, domain, load_safetensors(entries[WEIGHTS_FILE]), label)
        preprocessing = json.loads(entries[PREPROCESSING_FILE])
        example = example_inputs(workspace, version, preprocessing)
    except Exception as exc:
        return f"{ONNX_ENTRY} was not checked against the weights here ({exc})"
    batches = [example, example[: max(2, len(example) // 2)]]
    try:
        difference = onnx_max_abs_diff(entries[ONNX_ENTRY], model, batches)
    except ModuleNotFoundError:
        return f"{ONNX_ENTRY} was not checked: ONNX Runtime is not part of this install"
    except RegistryError as exc:
        raise RegistryError(f"{label}: entry {ONNX_ENTRY!r}: {exc}; refused") from None
    if difference > ONNX_TOLERANCE:
        raise RegistryError(
            f"{label}: entry {ONNX_ENTRY!r} does not compute what {WEIGHTS_FILE} holds (max "
            f"difference {difference:.3g}, over {ONNX_TOLERANCE:g}); refused"
        )
    return None


# ---- reading -----------------------------------------------------------------------------


def read_bundle(source: Path) -> dict[str, bytes]:
    """Every entry's bytes, read under the dataset importer's ZIP rules; RegistryError naming
    the archive and entry otherwise (an unexpected, missing or repeated entry among them)."""
    label = source.name
    try:
        zf = zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise RegistryError(f"{label}: not a valid ZIP archive ({exc})") from None
    except OSError as exc:
        raise RegistryError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > archive.MAX_ZIP_ENTRIES:
            raise RegistryError(f"{label}: has {len(infos)} entries; refused")
        names = [_entry_name(info, label) for info in infos]
        _check_entry_set(label, names)
        entries: dict[str, bytes] = {}
        total = 0
        for info, entry in zip(infos, names, strict=True):
            entries[entry] = _read_entry(zf, info, label, total)
            total += len(entries[entry])
    return entries


def _entry_name(info: zipfile.ZipInfo, label: str) -> str:
    """The entry's name once the dataset importer's rules accept it (names inside the
    archive, no links, no encryption, stored/deflate); a bundle has no folders."""
    try:
        parts = archive.entry_parts(info, label)
    except DatasetImportError as exc:
        raise RegistryError(str(exc)) from None
    if info.is_dir() or len(parts) != 1:
        raise RegistryError(
            f"{label}: entry {info.filename!r} is not one of a bundle's files "
            f"({', '.join(BUNDLE_ENTRIES)}); refused"
        )
    return parts[0]


def _check_entry_set(label: str, names: list[str]) -> None:
    seen: set[str] = set()
    for entry in names:
        if entry in seen:
            raise RegistryError(f"{label}: entry {entry!r} appears twice; refused")
        seen.add(entry)
    extra = sorted(seen - set(BUNDLE_ENTRIES))
    if extra:
        raise RegistryError(
            f"{label}: entry {extra[0]!r} does not belong in a model bundle (it holds "
            f"{', '.join(BUNDLE_ENTRIES)}); refused"
        )
    missing = [entry for entry in BUNDLE_ENTRIES if entry not in seen]
    if missing:
        raise RegistryError(f"{label}: entry {missing[0]!r} is missing; not a complete bundle")


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, total: int) -> bytes:
    """One entry's bytes, counted while decompressing (the archive's total and the entry's
    expansion ratio, as dataset imports count them), never trusting the header's sizes."""
    name = info.filename
    compressed = max(info.compress_size, 1)
    chunks: list[bytes] = []
    size = 0
    try:
        with zf.open(info) as stream:
            while chunk := stream.read(archive.CHUNK_BYTES):
                size += len(chunk)
                if total + size > archive.MAX_UNCOMPRESSED_BYTES:
                    raise RegistryError(
                        f"{label}: entry {name!r} takes the bundle past "
                        f"{archive.MAX_UNCOMPRESSED_BYTES} bytes uncompressed; refused"
                    )
                if size > archive.RATIO_EXEMPT_BYTES and size > archive.MAX_RATIO * compressed:
                    raise RegistryError(
                        f"{label}: entry {name!r} expands more than {archive.MAX_RATIO}:1 "
                        "(a zip bomb); refused"
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, ValueError, zlib.error) as exc:
        raise RegistryError(f"{label}: entry {name!r} is corrupt ({exc}); refused") from None
    except (NotImplementedError, OSError) as exc:
        raise RegistryError(f"{label}: entry {name!r} cannot be read ({exc})") from None
    return b"".join(chunks)


# ---- checking ----------------------------------------------------------------------------


def check_bundle(label: str, entries: dict[str, bytes]) -> ModelVersion:
    """The bundle's ModelVersion once every entry matches MANIFEST.json and the records agree
    with the weights; RegistryError naming the entry otherwise."""
    listed = _manifest_entries(label, entries[MANIFEST_ENTRY])
    for entry in BUNDLE_ENTRIES:
        if entry != MANIFEST_ENTRY:
            _check_listed(label, entry, entries[entry], listed.get(entry))
    version = _parsed_version(label, entries[VERSION_FILE])
    _check_weights(label, version, entries[WEIGHTS_FILE])
    _check_preprocessing(label, entries[PREPROCESSING_FILE])
    return version


def _manifest_entries(label: str, data: bytes) -> dict[str, Any]:
    where = f"{label}: entry {MANIFEST_ENTRY!r}"
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RegistryError(f"{where} is not valid JSON ({exc}); refused") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise RegistryError(f"{where} is not a Trainwright model bundle manifest; refused")
    listed = manifest.get("entries")
    if not isinstance(listed, dict):
        raise RegistryError(f"{where} lists no entries; refused")
    expected = set(BUNDLE_ENTRIES) - {MANIFEST_ENTRY}
    if set(listed) != expected:
        odd = sorted(set(listed) ^ expected)
        raise RegistryError(f"{where} does not list exactly the bundle's files ({odd}); refused")
    return listed


def _check_listed(label: str, entry: str, data: bytes, listed: Any) -> None:
    """The entry's bytes against its MANIFEST.json line: a changed byte is named here."""
    if not isinstance(listed, dict):
        raise RegistryError(f"{label}: entry {entry!r} has no sha256 and size in {MANIFEST_ENTRY}")
    if listed.get("size") != len(data) or listed.get("sha256") != hashlib.sha256(data).hexdigest():
        raise RegistryError(
            f"{label}: entry {entry!r} does not match the sha256 and size {MANIFEST_ENTRY} "
            "lists for it (changed or damaged); refused"
        )


def _parsed_version(label: str, data: bytes) -> ModelVersion:
    try:
        return ModelVersion.model_validate_json(data)
    except ValidationError as exc:
        from engine.metadata import validation_summary

        raise RegistryError(
            f"{label}: entry {VERSION_FILE!r} is not a model version "
            f"({validation_summary(exc)}); refused"
        ) from None


def _check_weights(label: str, version: ModelVersion, data: bytes) -> None:
    """weights.safetensors is what version.json says it is: its file hash, and its tensors'
    hash once safetensors (no pickle) has read them."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    from engine.hashing import weights_sha256

    where = f"{label}: entry {WEIGHTS_FILE!r}"
    if hashlib.sha256(data).hexdigest() != version.file_sha256:
        raise RegistryError(f"{where} does not match the file_sha256 of {VERSION_FILE}; refused")
    try:
        state = load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise RegistryError(f"{where} is not readable safetensors ({exc}); refused") from None
    if weights_sha256(state) != version.weights_sha256:
        raise RegistryError(
            f"{where}: its tensors do not hash to the weights_sha256 of {VERSION_FILE}; refused"
        )


def _check_preprocessing(label: str, data: bytes) -> None:
    try:
        preprocessing = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RegistryError(
            f"{label}: entry {PREPROCESSING_FILE!r} is not valid JSON ({exc}); refused"
        ) from None
    from engine.inference.inputs import InputError, check_preprocessing

    try:
        check_preprocessing(preprocessing)
    except InputError as exc:
        raise RegistryError(f"{label}: entry {PREPROCESSING_FILE!r}: {exc}; refused") from None


# ---- writing -----------------------------------------------------------------------------


def _write_version(
    home: Path, name: str, original: ModelVersion, entries: dict[str, bytes]
) -> ModelVersion:
    """The files in a new version folder of `name`, version.json last; the folder removed if
    anything fails before that."""
    number, folder = claim_version_folder(model_dir(home, name))
    try:
        for entry in _FILES_WRITTEN:
            atomic_write_bytes(folder / entry, entries[entry])
        version = original.model_copy(
            update={
                "name": name,
                "version": number,
                "created_at": now(),
                "onnx_sha256": hashlib.sha256(entries[ONNX_ENTRY]).hexdigest(),
            }
        )
        atomic_write_json(folder / VERSION_FILE, version.model_dump(mode="json"))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return version
