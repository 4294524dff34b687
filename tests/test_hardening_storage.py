"""Storage faults: nothing lost, no debris, no traceback (issue 19, the storage part).

Each test damages a variant the way a crash, a full disk, a read-only home or a hand edit
would, then checks that listing, resume and replay either finish exactly (the uninterrupted
run's weights) or refuse in one line, writing nothing. The read-only and full-disk tests mount
a real tmpfs (they need root; skipped where mounting is not allowed).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
import torch
from helpers.callbacks import StopAfter

from engine.atomic import atomic_write_json
from engine.cli import main
from engine.errors import CheckpointError, TrainwrightError, VariantError
from engine.metadata import ConfigEdited, VariantMetadata
from engine.training import checkpoints as ckpt
from engine.training.chronicle import ChronicleCut, ChronicleWriter, read_chronicle, stable_fields
from engine.variants import Variant
from engine.verify import verify_variant
from engine.workspace import Workspace

FAMILY = "modulo_addition_1layer"
DOMAIN = {"prime": 11}
TRAINING = {"epochs": 6, "resume_every": 1}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: (weights_sha256, its chronicle without timestamps)."""
    ws = Workspace(tmp_path_factory.mktemp("reference"))
    variant = ws.create_variant(FAMILY, DOMAIN, TRAINING)
    session = ws.train(variant)
    assert session.status == "completed"
    return session.weights_sha256, _chronicle(variant)


def _chronicle(variant: Variant) -> list[dict]:
    return [stable_fields(row) for row in read_chronicle(variant.chronicle_path)]


def _stopped(ws: Workspace, after: int = 4, **training) -> Variant:
    """A variant cancelled after epoch `after` (full checkpoints of its last two epochs)."""
    variant = ws.create_variant(FAMILY, DOMAIN, {**TRAINING, **training})
    cancel = threading.Event()
    assert ws.train(variant, [StopAfter(cancel, after)], cancel).status == "cancelled"
    return variant


def _snapshot(directory: Path) -> dict[str, str]:
    """Every file under `directory` by its SHA-256: what "writing nothing" compares."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def _finishes_exactly(ws: Workspace, variant: Variant, reference) -> list[str]:
    session = ws.resume(Variant.load(variant.dir))
    assert session.status == "completed", session.error_message
    assert session.weights_sha256 == reference[0]
    assert _chronicle(variant) == reference[1]
    assert verify_variant(variant).verified
    return session.warnings


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _drop_full_records(variant: Variant) -> None:
    meta = VariantMetadata.load(variant.metadata_path)
    meta.checkpoints = [c for c in meta.checkpoints if c.kind != "full"]
    meta.save(variant.metadata_path)


# ---- 1. killed between config.json and metadata.json ---------------------------------------
def test_a_variant_without_metadata_that_never_trained_lists_as_created_and_resumes(
    workspace, reference, capsys
):
    variant = workspace.create_variant(FAMILY, DOMAIN, TRAINING)
    atomic_write_json(variant.config_path, variant.config.model_dump(mode="json"))
    (variant.dir / ".metadata.json.k1ll3d00.tmp").write_text("{")  # the killed write
    assert workspace.summary(variant.name).status == "created"
    code, out, _ = _cli(capsys, "--home", str(workspace.home), "resume", variant.name, "--json")
    assert code == 0 and json.loads(out)["weights_sha256"] == reference[0]
    assert _chronicle(variant) == reference[1]
    assert not list(variant.dir.glob(".*.tmp"))


# ---- 2. killed before the first full checkpoint's sidecar ----------------------------------
def test_no_valid_full_checkpoint_and_none_recorded_starts_over_exactly(workspace, reference):
    variant = _stopped(workspace, after=1)
    (only,) = ckpt.full_checkpoints(variant.checkpoints_dir)
    ckpt.sidecar_path(only).unlink()  # killed between the rename and the sidecar …
    _drop_full_records(variant)  # … so metadata.json never recorded it
    warnings = _finishes_exactly(workspace, variant, reference)
    assert any("started over" in w for w in warnings)


def test_a_recorded_full_checkpoint_that_is_gone_is_refused_in_one_line(workspace):
    variant = _stopped(workspace, after=1)
    (only,) = ckpt.full_checkpoints(variant.checkpoints_dir)
    ckpt.sidecar_path(only).unlink()  # it was recorded: something destroyed it
    before = _snapshot(variant.dir)
    with pytest.raises(CheckpointError, match="no valid resumable checkpoint") as refused:
        workspace.resume(Variant.load(variant.dir))
    assert "\n" not in str(refused.value) and "--overwrite" in str(refused.value)
    assert _snapshot(variant.dir) == before


# ---- 3. debris ---------------------------------------------------------------------------------
DEBRIS = [
    ".metadata.json.a1b2c3d4.tmp",
    ".config.json.zz_9yy8x.tmp",
    "checkpoints/.state_e0000005_s0000000005.pt.q1w2e3r4.tmp",
    "checkpoints/.weights_e0000005.pt.sha256.abcdefgh.tmp",
    "checkpoints/state_e0000001_s0000000001.pt.sha256",  # its checkpoint was pruned
]
NOT_OURS = ["notes.tmp", ".mine.json.a1b2c3d4.tmp", "checkpoints/.weights_e1.pt.old"]


def _plant(variant: Variant, names: list[str]) -> None:
    for name in names:
        (variant.dir / name).write_text("x")


def test_the_next_resume_removes_debris_and_only_debris(workspace, reference):
    variant = _stopped(workspace)
    _plant(variant, DEBRIS + NOT_OURS)
    _finishes_exactly(workspace, variant, reference)
    for name in DEBRIS:
        assert not (variant.dir / name).exists(), name
    for name in NOT_OURS:
        assert (variant.dir / name).exists(), name


def test_replay_removes_debris_too(workspace, capsys):
    variant = workspace.create_variant(FAMILY, DOMAIN, {"epochs": 3})
    workspace.train(variant)
    _plant(variant, DEBRIS[:2])
    code, out, _ = _cli(capsys, "--home", str(workspace.home), "replay", variant.name)
    assert code == 0 and out.startswith("identical")
    assert not list(variant.dir.glob(".*.tmp"))


# ---- 4. the newest full checkpoint is not one of ours ------------------------------------------
def _foreign(workspace: Workspace, newest: Path) -> str:
    other = _stopped(workspace, lr=0.002)  # another config, the same file names
    theirs = ckpt.full_checkpoints(other.checkpoints_dir)[0]
    assert theirs.name == newest.name
    newest.write_bytes(theirs.read_bytes())
    ckpt.sidecar_path(newest).write_bytes(ckpt.sidecar_path(theirs).read_bytes())
    return "written for another config"


def _lacking(workspace: Workspace, newest: Path) -> str:
    payload = ckpt.load_checkpoint(newest)
    del payload["config_hash"]
    ckpt.save_checkpoint(newest, payload)  # a valid file with a valid sidecar
    return "lacks 'config_hash'"


@pytest.mark.parametrize("damage", [_foreign, _lacking])
def test_an_unusable_newest_full_checkpoint_falls_back_to_the_older_one(
    workspace, reference, damage
):
    variant = _stopped(workspace)
    reason = damage(workspace, ckpt.full_checkpoints(variant.checkpoints_dir)[0])
    warnings = _finishes_exactly(workspace, variant, reference)
    assert any(reason in w for w in warnings)


# ---- 5. config.json edited by hand -------------------------------------------------------------
def _edit_config(variant: Variant, **training) -> None:
    config = json.loads(variant.config_path.read_text())
    config["training"].update(training)  # config_hash left as it was
    variant.config_path.write_text(json.dumps(config))


def test_an_edited_config_is_refused_on_resume_and_named(workspace):
    variant = _stopped(workspace)
    _edit_config(variant, weight_decay=0.5)
    before = _snapshot(variant.dir)
    with pytest.raises(ConfigEdited, match=r"config\.json was edited: its config_hash does not"):
        workspace.resume(Variant.load(variant.dir))  # refused before anything is written
    assert _snapshot(variant.dir) == before
    assert workspace.summary(variant.name).status == "broken"
    report = verify_variant(Variant.load(variant.dir))
    assert any(m.what == "config" for m in report.mismatches)


def test_an_edited_config_is_refused_by_replay_writing_nothing(workspace, capsys):
    variant = workspace.create_variant(FAMILY, DOMAIN, {"epochs": 3})
    workspace.train(variant)
    _edit_config(variant, lr=0.5)
    before = _snapshot(variant.dir)
    code, _, err = _cli(capsys, "--home", str(workspace.home), "replay", variant.name)
    assert code == 2
    assert err.count("\n") == 1 and "config.json was edited" in err
    assert _snapshot(variant.dir) == before


# ---- 6. a chronicle cut short ------------------------------------------------------------------
def _offsets(variant: Variant) -> list[int]:
    return [
        ckpt.load_checkpoint(p)["chronicle_offset"]
        for p in ckpt.full_checkpoints(variant.checkpoints_dir)
    ]


@pytest.mark.parametrize("cut", ["deleted", "half"])
def test_a_cut_chronicle_no_checkpoint_covers_is_refused_writing_nothing(workspace, cut):
    variant = _stopped(workspace)
    if cut == "deleted":
        variant.chronicle_path.unlink()
    else:
        data = variant.chronicle_path.read_bytes()
        variant.chronicle_path.write_bytes(data[: len(data) // 2])
    before = _snapshot(variant.dir)
    with pytest.raises(ChronicleCut, match="was cut") as refused:
        workspace.resume(Variant.load(variant.dir))
    assert "\n" not in str(refused.value) and "--overwrite" in str(refused.value)
    assert _snapshot(variant.dir) == before  # never padded with NUL bytes


def test_a_chronicle_cut_between_two_checkpoints_falls_back_to_the_older(workspace, reference):
    variant = _stopped(workspace)
    newer, older = _offsets(variant)
    data = variant.chronicle_path.read_bytes()
    variant.chronicle_path.write_bytes(data[: (newer + older) // 2])
    warnings = _finishes_exactly(workspace, variant, reference)
    assert any("fewer than" in w for w in warnings)


def test_a_changed_chronicle_line_the_checkpoint_covers_falls_back(workspace, reference):
    variant = _stopped(workspace)
    newer, older = _offsets(variant)
    data = bytearray(variant.chronicle_path.read_bytes())
    position = data.rindex(b'"loss":', 0, newer) + len('"loss":')  # in the newer's last lines
    assert position > older
    data[position] = ord("9") if data[position] != ord("9") else ord("8")
    variant.chronicle_path.write_bytes(bytes(data))
    warnings = _finishes_exactly(workspace, variant, reference)
    assert any("not those it covers" in w for w in warnings)


def test_the_chronicle_writer_never_pads(tmp_path):
    path = tmp_path / "chronicle.jsonl"
    path.write_bytes(b'{"step":1}\n')
    with pytest.raises(ChronicleCut):
        ChronicleWriter(path, truncate_at=100)
    assert path.read_bytes() == b'{"step":1}\n'


# ---- 7. full disk and read-only home (a real tmpfs) --------------------------------------------
MLP = ["mlp", "-p", "dataset=two_moons", "-p", "hidden_dim=8", "-p", "num_hidden_layers=1"]
MLP_T = ["-t", "epochs=3", "-t", "resume_every=1", "-t", "checkpoint_every=1", "-t", "threads=1"]


@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(home: Path, leave: int) -> Path:
    """Fill the filesystem of `home` but for about `leave` bytes; the filler's path."""
    stats = os.statvfs(home)
    filler = home / "filler"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


def test_a_full_disk_says_what_could_not_be_written_and_the_run_resumes(tmp_path, capsys):
    code, out, _ = _cli(capsys, "--home", str(tmp_path / "ref"), "train", *MLP, *MLP_T, "--json")
    expected = json.loads(out)["weights_sha256"]
    with _tmpfs(tmp_path / "disk", "4m") as home:
        _cli(capsys, "--home", str(home), "variants")  # the home's own folders, written first
        filler = _fill(home, 0)
        code, out, err = _cli(capsys, "--home", str(home), "train", *MLP, *MLP_T, "--json")
        assert code == 2 and err.count("\n") == 1, err
        assert "could not write" in err and "No space left on device" in err
        filler.unlink()

        filler = _fill(home, 72 * 1024)  # room for the start of the run, not for all of it
        code, out, err = _cli(
            capsys, "--home", str(home), "train", *MLP, *MLP_T, "--overwrite", "--json"
        )
        result = json.loads(out)
        assert code == 1 and result["status"] == "failed"
        message = result["error_message"]
        assert "No space left on device" in message and "resumable" in message, message
        assert "\n" not in message
        filler.unlink()

        code, out, _ = _cli(capsys, "--home", str(home), "resume", result["variant"], "--json")
        assert code == 0 and json.loads(out)["weights_sha256"] == expected
        assert not list(Path(result["path"]).rglob("*.tmp"))


def test_a_read_only_home_lists_replays_and_refuses_writes_in_one_line(tmp_path, capsys):
    with _tmpfs(tmp_path / "ro", "32m") as home:
        ws = Workspace(home)
        done = ws.create_variant(FAMILY, DOMAIN, {"epochs": 3})
        ws.train(done)
        stopped = _stopped(ws)
        mounted = subprocess.run(["mount", "-o", "remount,ro", str(home)], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip("cannot remount read-only here")
        with pytest.raises(OSError):
            (home / "probe").write_text("x")  # really read-only, even for root

        code, out, _ = _cli(capsys, "--home", str(home), "variants", "--json")
        assert code == 0
        assert {v["variant"]: v["status"] for v in json.loads(out)} == {
            done.name: "completed",
            stopped.name: "cancelled",
        }
        code, _, err = _cli(capsys, "--home", str(home), "resume", stopped.name)
        assert code == 2 and err.count("\n") == 1
        assert "Read-only file system" in err and "nothing was changed" in err
        code, _, err = _cli(capsys, "--home", str(home), "train", *MLP, *MLP_T)
        assert code != 0 and err.strip().count("\n") == 0 and "Read-only file system" in err
        code, out, _ = _cli(capsys, "--home", str(home), "replay", done.name)
        assert code == 0 and out.startswith("identical")


# ---- 8. damaged files: listed as broken, refused in one line -----------------------------------
def _damaged_home(workspace: Workspace) -> dict[str, Variant]:
    made = {}
    for index, damage in enumerate(
        ["healthy", "metadata-json", "metadata-types", "config-json", "config-types", "nul"]
    ):
        variant = workspace.create_variant(FAMILY, {"prime": 11, "seed": index}, {"epochs": 2})
        workspace.train(variant)
        made[damage] = variant
    made["metadata-json"].metadata_path.write_bytes(b'{"family": "x", \xff\xfe')
    meta = json.loads(made["metadata-types"].metadata_path.read_text())
    meta["checkpoints"] = [{"file": 3}]
    made["metadata-types"].metadata_path.write_text(json.dumps(meta))
    made["config-json"].config_path.write_text("{not json")
    config = json.loads(made["config-types"].config_path.read_text())
    config["training"] = "fast"
    made["config-types"].config_path.write_text(json.dumps(config))
    config = json.loads(made["nul"].config_path.read_text())
    config["variant"] = "evil\x00name"
    made["nul"].config_path.write_text(json.dumps(config))
    return made


def test_damaged_files_list_as_broken_with_the_reason_and_the_rest_normally(workspace, capsys):
    made = _damaged_home(workspace)
    code, out, _ = _cli(capsys, "--home", str(workspace.home), "variants", "--json")
    assert code == 0
    found = {v["variant"]: v for v in json.loads(out)}
    assert found[made["healthy"].name]["status"] == "completed"
    expected = {
        "metadata-json": "metadata.json is unreadable",
        "metadata-types": "metadata.json is unreadable: checkpoints.0",
        "config-json": "config.json is unreadable",
        "config-types": "config.json is unreadable: training",
        "nul": "config.json names",
    }
    for damage, problem in expected.items():
        summary = found[made[damage].name]
        assert summary["status"] == "broken", damage
        assert summary["problem"].startswith(problem), (damage, summary["problem"])
        assert "\n" not in summary["problem"]
    code, out, _ = _cli(capsys, "--home", str(workspace.home), "variants")
    assert code == 0 and out.count("broken") == len(expected)


@pytest.mark.parametrize("command", ["resume", "replay"])
def test_resume_and_replay_of_unreadable_metadata_refuse_in_one_line(workspace, capsys, command):
    made = _damaged_home(workspace)
    for damage in ("metadata-json", "metadata-types"):
        before = _snapshot(made[damage].dir)
        code, _, err = _cli(capsys, "--home", str(workspace.home), command, made[damage].name)
        assert code == 2 and err.count("\n") == 1 and "metadata.json is unreadable" in err
        assert _snapshot(made[damage].dir) == before


def test_the_chronicle_reader_skips_lines_that_are_not_json_objects(tmp_path):
    path = tmp_path / "chronicle.jsonl"
    path.write_bytes(b'{"step":1}\n\xff\xfe\x00{\n[1, 2]\n"text"\n{"step":2}\n{"step":')
    assert list(read_chronicle(path)) == [{"step": 1}, {"step": 2}]


def test_garbage_in_the_chronicle_is_no_crash_for_resume_or_replay(workspace, reference, capsys):
    variant = _stopped(workspace)
    with open(variant.chronicle_path, "ab") as handle:  # after the last checkpoint: dropped
        handle.write(b"\xff\xfe garbage\n[1, 2]\n")
    _finishes_exactly(workspace, variant, reference)
    with open(variant.chronicle_path, "ab") as handle:  # in a completed run's chronicle
        handle.write(b"[3]\n\xff\xfe\n")
    code, out, _ = _cli(capsys, "--home", str(workspace.home), "replay", variant.name)
    assert code == 0 and out.startswith("identical")  # lines that are not rows are skipped


# ---- 9. an unsafe checkpoint ---------------------------------------------------------------------
def test_an_unsafe_checkpoint_is_refused_in_one_line_without_torch_advice(tmp_path):
    path = tmp_path / "state_e0000001_s0000000001.pt"
    buffer = io.BytesIO()
    torch.save({"f": print}, buffer)
    path.write_bytes(buffer.getvalue())
    ckpt.sidecar_path(path).write_text(hashlib.sha256(buffer.getvalue()).hexdigest())
    with pytest.raises(CheckpointError) as refused:
        ckpt.load_checkpoint(path)
    message = str(refused.value)
    assert "\n" not in message and path.name in message and "print" in message
    assert "weights_only=False" not in message and "weights_only` set to `False" not in message


def test_storage_errors_are_trainwright_errors_and_os_errors(tmp_path):
    from engine.atomic import StorageError, atomic_write_bytes

    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError) as failed:
        atomic_write_bytes(tmp_path / "file" / "below", b"data")  # a file is no folder
    assert isinstance(failed.value, TrainwrightError) and isinstance(failed.value, OSError)
    assert str(failed.value).startswith(f"could not write {tmp_path / 'file' / 'below'}")
    assert not isinstance(failed.value, VariantError)
