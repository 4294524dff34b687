"""Exporting published model versions (ONNX, safetensors, torch.export, bundle ZIP) and
importing bundles into another home: outputs reproduced, hashes kept, tampering refused."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import onnxruntime
import pytest
import torch
from safetensors import safe_open

from engine.hashing import weights_sha256
from engine.registry.bundle import import_bundle
from engine.registry.export import (
    BUNDLE_ENTRIES,
    MANIFEST_ENTRY,
    METADATA_KEYS,
    export_version,
    manifest_bytes,
    onnx_bytes,
    shaped_batch,
)
from engine.registry.export_cli import add_commands
from engine.registry.loading import load_model, load_state, read_preprocessing
from engine.registry.publish import publish
from engine.registry.records import (
    ModelVersion,
    RegistryError,
    models_root,
    read_version,
    resolve_version_dir,
    version_numbers,
)
from engine.workspace import Workspace

TRAINING = {"threads": 1}
RUNS = {
    "iris": ("mlp", {"dataset": "iris", "hidden_dim": 8}, {"epochs": 2}),
    "digits": ("image_classifier", {"dataset": "digits", "conv_channels": [8, 16]}, {"epochs": 1}),
    "modulo": ("modulo_addition_1layer", {"prime": 11}, {"epochs": 2}),
}
ONNX_TOLERANCE = 1e-4


# ---- published versions, one home per module --------------------------------------------


def publish_for_test(workspace: Workspace, variant: Any, name: str) -> ModelVersion:
    """Publish the variant's final weights as the next version of model `name` (the real
    engine.registry.publish)."""
    return publish(workspace, variant.name, name, checkpoint="final")


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Workspace:
    """A home with iris (mlp), digits (image_classifier) and modulo (mod 11) published."""
    ws = Workspace(tmp_path_factory.mktemp("export_home"))
    for name, (family, domain, training) in RUNS.items():
        variant = ws.create_variant(family, domain, {**TRAINING, **training})
        session = ws.train(variant)
        assert session.status == "completed", session.error_message
        publish_for_test(ws, variant, name)
    return ws


def _test_inputs(ws: Workspace, name: str) -> torch.Tensor:
    version = read_version(resolve_version_dir(ws.home, name))
    family = ws.registry.family(version.family)
    training = version.config["training"]
    split = family.generate_training_dataset(
        version.config["domain"], training["training_fraction"], training["data_seed"]
    )
    return split[2][:50]  # not the exporter's 64: other batch sizes must work too


def _torch_outputs(ws: Workspace, name: str, x: torch.Tensor) -> torch.Tensor:
    model, _ = load_model(ws, resolve_version_dir(ws.home, name))
    with torch.inference_mode():
        return model(x)


# ---- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["iris", "digits", "modulo"])
def test_onnx_export_reproduces_the_torch_model_on_any_batch_size(published, tmp_path, name):
    out = tmp_path / f"{name}.onnx"
    result = export_version(published, name, "onnx", out)
    assert (result.path, result.format, result.version) == (out, "onnx", 1)
    assert result.size_bytes == out.stat().st_size
    assert result.max_abs_diff is not None and result.max_abs_diff <= ONNX_TOLERANCE
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    x = _test_inputs(published, name)
    for batch in (x, x[:3], x[:1]):
        theirs = torch.from_numpy(session.run(None, {"input": batch.numpy()})[0])
        ours = _torch_outputs(published, name, batch)
        assert theirs.shape == ours.shape
        assert (theirs - ours).abs().max().item() <= ONNX_TOLERANCE


def test_safetensors_export_holds_the_weights_and_the_records(published, tmp_path):
    out = tmp_path / "iris.safetensors"
    result = export_version(published, "iris:1", "safetensors", out)
    folder = resolve_version_dir(published.home, "iris")
    version = read_version(folder)
    original = load_state(folder, version)
    with safe_open(str(out), framework="pt") as handle:
        metadata = handle.metadata()
        loaded = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    assert result.max_abs_diff is None and result.size_bytes == out.stat().st_size
    assert set(loaded) == set(original)
    assert all(torch.equal(loaded[key], original[key]) for key in original)
    assert weights_sha256(loaded) == version.weights_sha256
    assert set(metadata) == set(METADATA_KEYS)
    assert json.loads(metadata["trainwright.config"]) == version.config
    assert json.loads(metadata["trainwright.preprocessing"]) == read_preprocessing(folder)
    identity = json.loads(metadata["trainwright.version"])
    assert (identity["name"], identity["version"]) == ("iris", 1)
    assert identity["weights_sha256"] == version.weights_sha256


@pytest.mark.parametrize("name", ["iris", "modulo"])
def test_torch_export_program_loads_and_gives_the_same_outputs(published, tmp_path, name):
    out = tmp_path / f"{name}.pt2"
    export_version(published, name, "torch-export", out)
    program = torch.export.load(str(out))
    x = _test_inputs(published, name)
    for batch in (x, x[:5]):
        theirs = program.module()(batch)
        assert torch.allclose(theirs, _torch_outputs(published, name, batch), atol=1e-6)


def test_an_existing_output_is_kept_unless_forced(published, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "taken.safetensors"
    out.write_bytes(b"mine")
    with pytest.raises(RegistryError, match="already exists"):
        export_version(published, "iris", "safetensors", out)
    assert out.read_bytes() == b"mine"
    export_version(published, "iris", "safetensors", out, force=True)
    assert out.read_bytes() != b"mine"
    assert [p.name for p in folder.iterdir()] == ["taken.safetensors"]  # no temp file left


def test_unknown_formats_models_and_versions_are_refused(published, tmp_path):
    out = tmp_path / "exports" / "x"
    with pytest.raises(RegistryError, match="unknown export format"):
        export_version(published, "iris", "pickle", out)
    with pytest.raises(RegistryError, match="no model named"):
        export_version(published, "nobody", "onnx", out)
    with pytest.raises(RegistryError, match="no version"):
        export_version(published, "iris:7", "onnx", out)
    assert not out.parent.exists()


def test_a_made_up_batch_has_the_recorded_input_shape():
    table = shaped_batch({"kind": "table", "mean": [0.0] * 5})
    image = shaped_batch({"kind": "image", "channels": 3, "image_size": 6})
    modulo = shaped_batch({"kind": "modulo", "prime": 7})
    assert table.shape == (8, 5) and table.dtype == torch.float32
    assert image.shape == (8, 3, 6, 6) and image.dtype == torch.float32
    assert modulo.shape == (8, 3) and modulo.dtype == torch.int64
    assert bool((modulo[:, 2] == 7).all()) and int(modulo[:, :2].max()) < 7
    with pytest.raises(RegistryError, match="kind"):
        shaped_batch({"kind": "sound"})


# ---- bundles ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris_bundle(published, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "iris.zip"
    result = export_version(published, "iris", "bundle", out)
    assert result.max_abs_diff is not None and result.max_abs_diff <= ONNX_TOLERANCE
    return out


def _entries(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _nothing_written(home: Path) -> bool:
    root = models_root(home)
    return not root.exists() or not any(root.rglob("*"))


def test_a_bundle_lists_every_entry_in_its_manifest_and_card(published, iris_bundle):
    entries = _entries(iris_bundle)
    assert list(entries) == list(BUNDLE_ENTRIES)
    manifest = json.loads(entries[MANIFEST_ENTRY])
    for name, data in entries.items():
        if name != MANIFEST_ENTRY:
            listed = manifest["entries"][name]
            assert listed == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    folder = resolve_version_dir(published.home, "iris")
    assert entries["weights.safetensors"] == (folder / "weights.safetensors").read_bytes()
    card = entries["MODEL_CARD.md"].decode("utf-8")
    version = read_version(folder)
    for expected in ("# iris v1", "mlp", "iris", version.weights_sha256, "trainwright predict"):
        assert expected in card
    assert f"{version.parameters:,}" in card


def test_a_bundle_imports_into_a_fresh_home_with_the_same_weights_and_outputs(
    published, iris_bundle, tmp_path
):
    fresh = Workspace(tmp_path / "fresh")
    imported = import_bundle(fresh, iris_bundle)
    original_dir = resolve_version_dir(published.home, "iris")
    original = read_version(original_dir)
    folder = resolve_version_dir(fresh.home, "iris:1")
    assert (imported.name, imported.version) == ("iris", 1)
    assert read_version(folder) == imported
    assert (imported.weights_sha256, imported.file_sha256) == (
        original.weights_sha256,
        original.file_sha256,
    )
    assert imported.config == original.config and imported.metrics == original.metrics
    assert read_preprocessing(folder) == read_preprocessing(original_dir)
    for name in ("weights.safetensors", "model.onnx"):
        assert (folder / name).is_file()
    x = _test_inputs(published, "iris")
    model, _ = load_model(fresh, folder)
    with torch.inference_mode():
        ours = model(x)
    assert torch.allclose(ours, _torch_outputs(published, "iris", x), atol=1e-5)

    again = import_bundle(fresh, iris_bundle)  # the next version, or another model
    renamed = import_bundle(fresh, iris_bundle, name="flowers")
    assert (again.name, again.version) == ("iris", 2)
    assert (renamed.name, renamed.version) == ("flowers", 1)
    assert version_numbers(models_root(fresh.home) / "iris") == [1, 2]


@pytest.mark.parametrize("entry", BUNDLE_ENTRIES)
def test_a_bundle_with_one_changed_byte_is_refused_naming_the_entry(iris_bundle, tmp_path, entry):
    entries = _entries(iris_bundle)
    if entry == MANIFEST_ENTRY:  # a changed digit of a listed hash, the JSON still valid
        digest = hashlib.sha256(entries["version.json"]).hexdigest()
        other = digest[:-1] + ("0" if digest[-1] != "0" else "1")
        data = entries[entry].replace(digest.encode(), other.encode())
        changed = "version.json"
    else:
        changed_bytes = bytearray(entries[entry])
        middle = len(changed_bytes) // 2
        changed_bytes[middle] = (changed_bytes[middle] + 1) % 256
        data, changed = bytes(changed_bytes), entry
    assert data != entries[entry]
    entries[entry] = data
    bundle = _zip(tmp_path / "changed.zip", entries)
    fresh = Workspace(tmp_path / "fresh")
    with pytest.raises(RegistryError, match=re.escape(repr(changed))):
        import_bundle(fresh, bundle)
    assert _nothing_written(fresh.home)


def test_a_damaged_zip_is_refused_and_nothing_written(iris_bundle, tmp_path):
    raw = bytearray(iris_bundle.read_bytes())
    with zipfile.ZipFile(iris_bundle) as archive:
        info = archive.getinfo("weights.safetensors")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    fresh = Workspace(tmp_path / "fresh")
    with pytest.raises(RegistryError, match=r"weights\.safetensors"):
        import_bundle(fresh, damaged)
    assert _nothing_written(fresh.home)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("zip_slip", r"'\.\./evil\.txt' leaves the archive"),
        ("absolute", "absolute path"),
        ("extra", "'notes.txt' does not belong"),
        ("no_manifest", "'MANIFEST.json' is missing"),
        ("in_folder", "'sub/model.onnx' is not one of a bundle's files"),
        ("twice", "appears twice"),
    ],
)
def test_unsafe_or_incomplete_bundles_are_refused(iris_bundle, tmp_path, change, message):
    entries = list(_entries(iris_bundle).items())
    if change == "zip_slip":
        entries.append(("../evil.txt", b"x"))
    elif change == "absolute":
        entries.append(("/tmp/evil.txt", b"x"))
    elif change == "extra":
        entries.append(("notes.txt", b"x"))
    elif change == "no_manifest":
        entries = [(n, d) for n, d in entries if n != MANIFEST_ENTRY]
    elif change == "in_folder":
        entries = [("sub/" + n if n == "model.onnx" else n, d) for n, d in entries]
    else:
        entries.append(("model.onnx", b"again"))
    bundle = tmp_path / "unsafe.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name)  # writestr(name) would clean a leading "/" away
            archive.writestr(info, data)
    fresh = Workspace(tmp_path / "fresh")
    with pytest.raises(RegistryError, match=message):
        import_bundle(fresh, bundle)
    assert _nothing_written(fresh.home)


def test_a_version_record_that_disagrees_with_the_weights_is_refused(iris_bundle, tmp_path):
    entries = _entries(iris_bundle)
    record = json.loads(entries["version.json"])
    record["weights_sha256"] = "0" * 64
    entries["version.json"] = json.dumps(record).encode()
    entries[MANIFEST_ENTRY] = manifest_bytes(entries)  # a consistent manifest: a forger's
    bundle = _zip(tmp_path / "forged.zip", entries)
    fresh = Workspace(tmp_path / "fresh")
    with pytest.raises(RegistryError, match="weights_sha256"):
        import_bundle(fresh, bundle)
    assert _nothing_written(fresh.home)


def test_a_forged_model_onnx_with_a_consistent_manifest_is_refused(iris_bundle, tmp_path):
    """The manifest catches damage, not forgery: model.onnx is run against the weights."""
    entries = _entries(iris_bundle)
    features = len(json.loads(entries["preprocessing.json"])["mean"])
    other = torch.nn.Linear(features, 3).eval()  # same inputs and outputs, other numbers
    entries["model.onnx"] = onnx_bytes(other, torch.randn(8, features))[0]
    entries[MANIFEST_ENTRY] = manifest_bytes(entries)
    bundle = _zip(tmp_path / "forged-onnx.zip", entries)
    fresh = Workspace(tmp_path / "fresh")
    with pytest.raises(RegistryError, match=r"'model\.onnx' does not compute what"):
        import_bundle(fresh, bundle)
    assert _nothing_written(fresh.home)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"kind": "table"}, "columns: missing"),
        ({"kind": "image", "image_size": 200000}, "image_size: 200000 is not in"),
        (None, "records no preprocessing"),
    ],
)
def test_a_preprocessing_record_that_cannot_work_is_refused(iris_bundle, tmp_path, record, message):
    entries = _entries(iris_bundle)
    entries["preprocessing.json"] = json.dumps(record).encode()
    entries[MANIFEST_ENTRY] = manifest_bytes(entries)
    bundle = _zip(tmp_path / "bad-record.zip", entries)
    fresh = Workspace(tmp_path / "fresh")
    with pytest.raises(RegistryError, match=re.escape(message)):
        import_bundle(fresh, bundle)
    assert _nothing_written(fresh.home)


# ---- the CLI ------------------------------------------------------------------------------


def _models_cli(ws: Workspace, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="trainwright models")
    add_commands(parser.add_subparsers(dest="action"))
    args = parser.parse_args(list(argv))
    return args.handler(ws, args)


def test_cli_exports_and_imports_a_bundle_as_json(published, tmp_path, capsys):
    out = tmp_path / "iris.zip"
    assert (
        _models_cli(
            published, "export", "iris:1", "--format", "bundle", "--out", str(out), "--json"
        )
        == 0
    )
    exported = json.loads(capsys.readouterr().out)
    assert exported["path"] == str(out) and exported["format"] == "bundle"
    assert exported["size_bytes"] == out.stat().st_size and exported["max_abs_diff"] <= 1e-4

    fresh = Workspace(tmp_path / "fresh")
    assert _models_cli(fresh, "import", str(out), "--name", "petals", "--json") == 0
    imported = json.loads(capsys.readouterr().out)
    assert (imported["name"], imported["version"]) == ("petals", 1)
    assert (
        read_version(resolve_version_dir(fresh.home, "petals")).weights_sha256
        == (imported["weights_sha256"])
    )


def test_cli_prints_where_the_format_and_the_size(published, tmp_path, capsys):
    out = tmp_path / "iris.onnx"
    assert _models_cli(published, "export", "iris", "--format", "onnx", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "onnx" in printed
    assert f"{out.stat().st_size} bytes" in printed and "max abs difference" in printed
    with pytest.raises(RegistryError, match="--force"):
        _models_cli(published, "export", "iris", "--format", "onnx", "--out", str(out))
    with pytest.raises(SystemExit):
        _models_cli(published, "export", "iris", "--format", "pickle", "--out", str(out))
    capsys.readouterr()


def test_the_bundle_model_card_is_text_a_reader_can_follow(iris_bundle):
    card = _entries(iris_bundle)["MODEL_CARD.md"].decode("utf-8")
    for heading in ("## Data", "## Metrics", "## Lineage", "## How to predict"):
        assert heading in card
    assert io.StringIO(card).readline().startswith("# iris")


def test_an_imported_model_onnx_changed_afterwards_is_not_run(iris_bundle, tmp_path):
    """Import records model.onnx's sha256 in version.json; predict with onnxruntime checks it
    before running the file, so a model.onnx swapped after the import is refused."""
    from engine.inference.predictor import load_predictor

    fresh = Workspace(tmp_path / "fresh")
    imported = import_bundle(fresh, iris_bundle)
    folder = resolve_version_dir(fresh.home, "iris:1")
    onnx = folder / "model.onnx"
    assert imported.onnx_sha256 == hashlib.sha256(onnx.read_bytes()).hexdigest()
    assert load_predictor(fresh, "iris", backend="onnx") is not None
    features = len(read_preprocessing(folder)["mean"])
    other = torch.nn.Linear(features, 3).eval()
    onnx.write_bytes(onnx_bytes(other, torch.randn(8, features))[0])
    with pytest.raises(RegistryError, match=r"iris v1: model\.onnx does not match its recorded"):
        load_predictor(fresh, "iris", backend="onnx")
