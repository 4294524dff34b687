"""`trainwright verify`, schedule records and state hashes: what a checkpoint promises is checked."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from helpers.callbacks import StopAfter

from engine.cli import main
from engine.metadata import VariantMetadata
from engine.training import checkpoints as ckpt
from engine.training.optim import build_scheduler, describe_schedule, schedule_changes
from engine.variants import Variant
from engine.verify import verify_variant
from engine.workspace import Workspace

FAMILY = "modulo_addition_1layer"
# Weights every 2 epochs, a full checkpoint every 2 (the two newest kept) and at the end.
# No best.pt (keep_best off; tests/test_target_best.py verifies one): the counts below hold.
TRAINING = {"epochs": 6, "checkpoint_every": 2, "resume_every": 2, "scheduler": "cosine"}
TRAINING["keep_best"] = False


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A completed variant's directory, trained once for the module."""
    workspace = Workspace(tmp_path_factory.mktemp("verify-home"))
    variant = workspace.create_variant(FAMILY, {"prime": 11}, TRAINING)
    assert workspace.train(variant).status == "completed"
    return variant.dir


@pytest.fixture
def variant(trained, workspace) -> Variant:
    """This test's own copy of the trained variant."""
    target = workspace.home / "variants" / FAMILY / trained.name
    shutil.copytree(trained, target)
    return Variant.load(target)


def _cli(workspace, capsys, *args):
    code = main(["--home", str(workspace.home), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_an_intact_variant_is_verified(variant, workspace, capsys):
    report = verify_variant(variant)
    assert report.verified, report.mismatches
    assert report.mismatches == [] and report.notes == []
    meta = VariantMetadata.load(variant.metadata_path)
    assert report.checkpoints_checked == len(meta.checkpoints) == 6  # weights 0,2,4,6; full 4,6
    assert report.state_hashes_checked == 2
    assert report.chronicle_lines == 6
    full = [c for c in meta.checkpoints if c.kind == "full"]
    assert all(len(c.state_sha256 or "") == 64 for c in full)
    assert full[-1].chronicle_lines == 6
    assert full[-1].chronicle_bytes == variant.chronicle_path.stat().st_size

    code, out, _ = _cli(workspace, capsys, "verify", variant.name)
    assert code == 0
    assert out.startswith("verified: 6 checkpoints (2 state hashes), 6 chronicle lines")
    assert out.count("\n") == 1
    code, out, _ = _cli(workspace, capsys, "verify", variant.name, "--json")
    assert code == 0 and json.loads(out)["verified"] is True


def test_a_flipped_byte_in_any_checkpoint_is_reported(variant, workspace, capsys):
    files = sorted(variant.checkpoints_dir.glob("*.pt"))
    assert {p.name[:5] for p in files} == {"weigh", "state"}
    for path in files:
        original = path.read_bytes()
        _flip(path, len(original) // 2)
        report = verify_variant(variant)
        assert not report.verified
        assert {m.file for m in report.mismatches} == {path.name}
        assert {m.what for m in report.mismatches} == {"file", "sidecar"}
        code, out, _ = _cli(workspace, capsys, "verify", variant.name)
        assert code == 1
        lines = out.splitlines()
        assert len(lines) == 2 and all(line.startswith(f"{path.name}: ") for line in lines)
        assert "does not match metadata.json" in out
        path.write_bytes(original)
    assert verify_variant(variant).verified


def test_a_consistently_rewritten_full_checkpoint_fails_its_state_hash(variant):
    """File, sidecar and metadata SHA-256 all rewritten: only the state hash can tell."""
    path = ckpt.full_checkpoints(variant.checkpoints_dir)[0]
    payload = ckpt.load_checkpoint(path)
    state = payload["optimizer"]["state"][0]
    state["exp_avg"] = state["exp_avg"] + 1e-6
    digest = ckpt.save_checkpoint(path, payload)
    meta = VariantMetadata.load(variant.metadata_path)
    for entry in meta.checkpoints:
        if entry.file == path.name:
            entry.sha256 = digest
    meta.save(variant.metadata_path)
    report = verify_variant(variant)
    assert [(m.file, m.what) for m in report.mismatches] == [(path.name, "state")]


def test_a_truncated_chronicle_is_reported(variant, workspace, capsys):
    lines = variant.chronicle_path.read_bytes().splitlines(keepends=True)
    variant.chronicle_path.write_bytes(b"".join(lines[:-2]))
    report = verify_variant(variant)
    assert not report.verified
    assert [m.what for m in report.mismatches] == ["chronicle"]
    assert "is truncated: 4 lines" in report.mismatches[0].message
    assert "recorded 6 lines" in report.mismatches[0].message
    code, out, _ = _cli(workspace, capsys, "verify", variant.name)
    assert code == 1 and out.startswith("chronicle.jsonl: is truncated")


def test_an_edited_chronicle_line_is_reported(variant):
    text = variant.chronicle_path.read_text()
    edited = text.replace('"epoch":3,', '"epoch":9,', 1)
    assert edited != text and len(edited) == len(text)
    variant.chronicle_path.write_text(edited)
    report = verify_variant(variant)
    assert [m.what for m in report.mismatches] == ["chronicle"]
    assert "were modified" in report.mismatches[0].message


def test_verify_of_an_unknown_variant_is_bad_input(workspace, capsys):
    code, out, err = _cli(workspace, capsys, "verify", "nope")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "no trained variant named 'nope'" in err


# ---- schedules -----------------------------------------------------------------------------
def test_the_schedule_description_names_its_parameters_and_what_changed(variant):
    cfg = variant.config.training
    description = describe_schedule(cfg, 3)
    assert description == {
        "kind": "cosine",
        "lr": cfg.lr,
        "warmup_steps": 0,
        "steps_per_epoch": 3,
        "total_steps": 18,
    }
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    scheduler = build_scheduler(optimizer, cfg, 3)
    assert scheduler.serialize() == description
    assert len(scheduler.sha256()) == 64
    assert "_description" not in scheduler.state_dict()  # the saved state is LambdaLR's
    step = cfg.model_copy(update={"scheduler": "step", "milestones": [4, 2], "gamma": 0.5})
    assert describe_schedule(step, 3)["milestones"] == [2, 4]
    assert schedule_changes(description, describe_schedule(step, 3)) == [
        "gamma (none) → 0.5",
        "kind cosine → step",
        "milestones (none) → [2, 4]",
    ]


def _stopped(workspace: Workspace, training: dict) -> Variant:
    variant = workspace.create_variant(FAMILY, {"prime": 11}, training)
    cancel = threading.Event()
    session = workspace.train(variant, [StopAfter(cancel, 3)], cancel)
    assert session.status == "cancelled"
    return variant


def test_a_changed_schedule_is_refused_on_resume_and_named(workspace, tmp_path):
    # The config cannot change under a run (an edited config.json is refused as such), but
    # the schedule can: rows added to a CSV change the steps per epoch and so the schedule.
    # (A variant that records its data's hash is refused before that, naming the data; this
    # one is made like a variant stored before data records existed.)
    table = tmp_path / "table.csv"
    rows = [f"{i % 7},{i % 5},{'ab'[i % 2]}" for i in range(40)]
    table.write_text("x1,x2,y\n" + "\n".join(rows) + "\n", encoding="utf-8")
    domain = {"dataset": f"csv:{table}", "hidden_dim": 8}
    training = {"epochs": 6, "batch_size": 8, "resume_every": 1, "scheduler": "cosine"}
    recorded = workspace.create_variant("mlp", domain, training)
    variant = Variant(recorded.home, recorded.config.model_copy(update={"data": None}).with_hash())
    cancel = threading.Event()
    assert workspace.train(variant, [StopAfter(cancel, 3)], cancel).status == "cancelled"
    table.write_text(table.read_text() + "\n".join(rows) + "\n", encoding="utf-8")  # 80 rows
    resumed = subprocess.run(  # a new process reads the CSV again (one process caches it)
        [sys.executable, "-m", "engine.cli", "--home", str(workspace.home), "resume", variant.name],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 1, resumed.stderr
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.error_message.startswith("CheckpointError: the schedule changed since the")
    assert "steps_per_epoch 4 → 8" in meta.error_message
    assert "total_steps 24 → 48" in meta.error_message
    table.write_text("x1,x2,y\n" + "\n".join(rows) + "\n", encoding="utf-8")  # put back


def test_old_checkpoints_and_metadata_without_the_new_records_still_resume(workspace, tmp_path):
    reference_ws = Workspace(tmp_path / "reference")
    reference = reference_ws.train(reference_ws.create_variant(FAMILY, {"prime": 11}, TRAINING))
    variant = _stopped(workspace, TRAINING)
    for path in ckpt.full_checkpoints(variant.checkpoints_dir):
        payload = ckpt.load_checkpoint(path)
        del payload["schedule"], payload["schedule_sha256"]
        digest = ckpt.save_checkpoint(path, payload)  # with a new sidecar
        meta = VariantMetadata.load(variant.metadata_path)
        for entry in meta.checkpoints:
            if entry.file == path.name:
                entry.sha256 = digest
        meta.save(variant.metadata_path)
    # Metadata as written before the state hash and the chronicle mark existed.
    raw = json.loads(variant.metadata_path.read_text())
    for entry in raw["checkpoints"]:
        for key in ("state_sha256", "chronicle_bytes", "chronicle_lines", "chronicle_sha256"):
            entry.pop(key, None)
    variant.metadata_path.write_text(json.dumps(raw))

    report = verify_variant(variant)
    assert report.verified, report.mismatches
    assert report.state_hashes_checked == 0
    assert any("no state hash recorded" in n for n in report.notes)
    assert any("not recorded; not checked" in n for n in report.notes)

    resumed = workspace.resume(variant)
    assert resumed.status == "completed"
    assert resumed.weights_sha256 == reference.weights_sha256
    assert verify_variant(variant).verified
