"""The run-level features of 0.3.0: a target metric that ends a run early (completed), the
best weights kept beside the last (keep_best), and batch augmentation drawn from a generator
of its own; each exact across a stop and resume, and in a replay."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
import torch
from helpers.callbacks import StopAfter

from engine.errors import VariantError
from engine.hashing import weights_sha256
from engine.metadata import VariantMetadata
from engine.training import checkpoints as ckpt
from engine.training.best import BEST_FILE
from engine.training.callbacks import Callback


def _iris(workspace, **training):
    params = {"dataset": "iris", "hidden_dim": 16}
    training = {"epochs": 60, "target_metric": 0.9, "checkpoint_every": 1, **training}
    return workspace.create_variant("mlp", params, training)


def _moons(workspace, **training):
    params = {"dataset": "two_moons", "hidden_dim": 16}
    training = {"epochs": 8, "batch_size": 64, "checkpoint_every": 1, **training}
    return workspace.create_variant("mlp", params, training)


def _weights_entry(meta, epoch):
    return next(c for c in meta.checkpoints if c.kind == "weights" and c.epoch == epoch)


# ---- target_metric --------------------------------------------------------------------------
def test_a_run_stops_completed_once_its_target_is_reached(workspace):
    variant = _iris(workspace)
    session = workspace.train(variant)
    assert session.status == "completed"
    assert 0 < session.epochs_completed < 60
    epoch = session.epochs_completed
    accuracy = session.metrics[-1].test_accuracy
    assert accuracy >= 0.9 and all(m.test_accuracy < 0.9 for m in session.metrics[:-1])
    assert session.stop_reason == (
        f"target test_accuracy ≥ 0.9 reached at epoch {epoch} ({accuracy:.4f})"
    )
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.status == "completed" and meta.stop_reason == session.stop_reason
    assert (meta.epochs_completed, meta.total_epochs) == (epoch, 60)
    assert meta.weights_sha256 == session.weights_sha256
    # The final weights and full checkpoints are at the stop.
    assert _weights_entry(meta, epoch).weights_sha256 == session.weights_sha256
    full = [c for c in meta.checkpoints if c.kind == "full"]
    assert full[-1].epoch == epoch and full[-1].weights_sha256 == session.weights_sha256

    with pytest.raises(VariantError, match="already completed"):
        workspace.resume(variant)
    replayed = workspace.replay(variant)
    assert replayed.identical, replayed.message
    assert replayed.weights_sha256 == session.weights_sha256


def test_a_stopped_target_run_resumes_to_the_same_stop(workspace, tmp_path):
    from engine.workspace import Workspace

    other = Workspace(tmp_path / "reference")
    reference = other.train(_iris(other))
    variant = _iris(workspace)
    cancel = threading.Event()
    stopped = workspace.train(variant, [StopAfter(cancel, 1)], cancel)
    assert stopped.status == "cancelled" and stopped.stop_reason is None
    resumed = workspace.resume(variant)
    assert resumed.status == "completed"
    assert resumed.epochs_completed == reference.epochs_completed
    assert resumed.weights_sha256 == reference.weights_sha256
    assert resumed.stop_reason == reference.stop_reason


def test_a_run_killed_after_its_stop_was_saved_ends_there_on_resume(workspace):
    """The stop is part of the final full checkpoint: a resume from it (a crash before
    metadata.json said completed) ends at once instead of training on past the target."""
    variant = _iris(workspace)
    session = workspace.train(variant)
    data = json.loads(variant.metadata_path.read_text())
    data["status"], data["stop_reason"] = "training", None  # what a crash leaves
    variant.metadata_path.write_text(json.dumps(data))
    resumed = workspace.resume(variant)
    assert resumed.status == "completed"
    assert resumed.epochs_completed == session.epochs_completed
    assert resumed.weights_sha256 == session.weights_sha256
    assert resumed.stop_reason == session.stop_reason


def test_the_cli_says_why_a_run_stopped(tmp_path):
    args = ["mlp", "-p", "dataset=iris", "-p", "hidden_dim=16", "-t", "epochs=60"]
    args += ["-t", "target_metric=0.9"]
    cli = [sys.executable, "-m", "engine.cli", "--home", str(tmp_path / "home"), "train"]
    text = subprocess.run([*cli, *args], capture_output=True, text=True, check=True).stdout
    assert "stopped early: target test_accuracy ≥ 0.9 reached at epoch" in text
    done = subprocess.run([*cli, *args, "--json", "--overwrite"], capture_output=True, check=True)
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert result["stop_reason"].startswith("target test_accuracy ≥ 0.9 reached at epoch")


def test_a_sweep_row_of_a_target_run_is_completed(workspace):
    from engine.sweeps import sweep

    domain = {"dataset": "iris", "hidden_dim": 16}
    record = sweep(workspace, "mlp", {"lr": "0.01"}, domain, {"epochs": 60, "target_metric": 0.9})
    (row,) = record.rows
    assert record.status == "completed" and row.result == "completed", row.error
    meta = VariantMetadata.load(workspace.variant(row.variant).metadata_path)
    assert meta.stop_reason and meta.epochs_completed < 60


# ---- keep_best ------------------------------------------------------------------------------
def test_the_best_weights_are_those_of_the_best_evaluation(workspace):
    variant = _moons(workspace)
    session = workspace.train(variant)
    meta = VariantMetadata.load(variant.metadata_path)
    best = meta.best
    assert best is not None and best.metric == "test_accuracy" and best.file == BEST_FILE
    # Strict improvement, ties to the lower test loss: the first epoch with the top pair.
    ranked = [(m.test_accuracy, -m.test_loss, -m.epoch) for m in session.metrics]
    top = max(ranked)
    assert (best.value, best.test_loss, best.epoch) == (top[0], -top[1], -top[2])
    entry = next(c for c in meta.checkpoints if c.kind == "best")
    assert (entry.epoch, entry.step, entry.weights_sha256) == (
        best.epoch,
        best.step,
        best.weights_sha256,
    )
    payload = ckpt.load_checkpoint(variant.checkpoints_dir / BEST_FILE)  # verifies the sidecar
    assert (payload["epoch"], payload["step"]) == (best.epoch, best.step)
    assert weights_sha256(payload["model"]) == best.weights_sha256
    assert (
        entry.sha256 == ckpt.sidecar_path(variant.checkpoints_dir / BEST_FILE).read_text().strip()
    )
    # checkpoint_every=1: the weights checkpoint of that epoch holds the same weights.
    assert _weights_entry(meta, best.epoch).weights_sha256 == best.weights_sha256
    assert entry.confusion == _weights_entry(meta, best.epoch).confusion is not None

    from engine.verify import verify_variant

    report = verify_variant(variant)
    assert report.verified, [m.line() for m in report.mismatches]
    path = variant.checkpoints_dir / BEST_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = verify_variant(variant)
    assert {(m.file, m.what) for m in report.mismatches} == {
        (BEST_FILE, "file"),
        (BEST_FILE, "sidecar"),
    }


def test_the_best_is_exact_after_a_stop_and_resume(workspace, tmp_path):
    from engine.workspace import Workspace

    other = Workspace(tmp_path / "reference")
    reference_variant = _moons(other, checkpoint_every=0)
    other.train(reference_variant)
    reference = VariantMetadata.load(reference_variant.metadata_path).best

    variant = _moons(workspace, checkpoint_every=0)
    cancel = threading.Event()
    workspace.train(variant, [StopAfter(cancel, 3)], cancel)
    stopped = VariantMetadata.load(variant.metadata_path).best
    assert stopped is not None and stopped.epoch <= 3  # written with the Stop's checkpoint
    workspace.resume(variant)
    assert VariantMetadata.load(variant.metadata_path).best == reference


def test_a_resume_from_before_the_best_on_disk_rewrites_it(workspace, tmp_path):
    """best.pt newer than the full checkpoint a resume goes back to (a crash in between):
    put in line again, and the run ends with the uninterrupted run's best."""
    from engine.workspace import Workspace

    other = Workspace(tmp_path / "reference")
    reference_variant = _moons(other, resume_every=2)
    other.train(reference_variant)
    reference = VariantMetadata.load(reference_variant.metadata_path)

    variant = _moons(workspace, resume_every=2)
    cancel = threading.Event()
    workspace.train(variant, [StopAfter(cancel, 5)], cancel)
    assert VariantMetadata.load(variant.metadata_path).best.epoch == 5  # newer than epoch 4
    newest = ckpt.full_checkpoints(variant.checkpoints_dir)[0]
    assert ckpt.full_position(newest)[0] == 5
    newest.unlink()  # as if killed before this Stop's checkpoint: the resume goes back to 4
    ckpt.sidecar_path(newest).unlink()
    resumed = workspace.resume(variant)
    assert resumed.weights_sha256 == reference.weights_sha256
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.best == reference.best
    payload = ckpt.load_checkpoint(variant.checkpoints_dir / BEST_FILE)
    assert weights_sha256(payload["model"]) == reference.best.weights_sha256
    assert [c for c in meta.checkpoints if c.kind == "best"] == [
        c for c in reference.checkpoints if c.kind == "best"
    ]


def test_no_best_without_an_evaluation_or_with_keep_best_off(workspace):
    variant = _moons(workspace, epochs=2)
    cancel = threading.Event()

    class StopAtStep(Callback):
        def on_log(self, row):
            if row["step"] >= 3:
                cancel.set()

    workspace.train(variant, [StopAtStep()], cancel)  # inside epoch 1: nothing evaluated
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.best is None and not (variant.checkpoints_dir / BEST_FILE).exists()
    assert not any(c.kind == "best" for c in meta.checkpoints)

    off = _moons(workspace, epochs=2, keep_best=False)
    assert off.name == variant.name  # an execution setting: same variant
    workspace.train(off, overwrite=True)
    meta = VariantMetadata.load(off.metadata_path)
    assert meta.status == "completed" and meta.best is None
    assert not (off.checkpoints_dir / BEST_FILE).exists()


def test_a_regression_run_keeps_its_best_r2(workspace):
    variant = workspace.create_variant(
        "mlp", {"dataset": "sine", "hidden_dim": 16}, {"epochs": 4, "batch_size": 64}
    )
    session = workspace.train(variant)
    best = VariantMetadata.load(variant.metadata_path).best
    assert best.metric == "test_r2"
    assert best.value == max(m.test_r2 for m in session.metrics)


# ---- augmentation ---------------------------------------------------------------------------
AUGMENTED_FAMILY_PY = """
import torch
from torch import nn
from engine.families.base import FamilyBase

class Family(FamilyBase):
    def create_model(self, params):
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    def generate_training_dataset(self, params, training_fraction, data_seed):
        g = torch.Generator().manual_seed(data_seed)
        x = torch.randn(90, 4, generator=g)
        y = (x[:, 0] + x[:, 1] > 0).long()
        return x[:70], y[:70], x[70:], y[70:]

    def batch_augment(self, params):
        if not params["augment"]:
            return None
        def jitter(batch, generator):
            return batch + 0.3 * torch.randn(batch.shape, generator=generator)
        return jitter
"""


@pytest.fixture
def augmented(trainwright_home):
    folder = trainwright_home / "families" / "jitter"
    folder.mkdir(parents=True)
    spec = {
        "name": "jitter",
        "display_name": "Jitter",
        "variant_pattern": "jitter_a{augment}_s{seed}",
        "domain_parameters": [
            {"name": "augment", "type": "bool", "default": True},
            {"name": "seed", "type": "int", "default": 0, "min": 0},
        ],
        "training_defaults": {"epochs": 4, "batch_size": 16, "lr": 0.01, "log_every": 1},
    }
    (folder / "family.json").write_text(json.dumps(spec))
    (folder / "family.py").write_text(AUGMENTED_FAMILY_PY)
    from engine.workspace import Workspace

    return Workspace(trainwright_home)


@pytest.mark.parametrize("batch_size", [16, 0])  # mini-batches, and the full batch
def test_augmentation_resumes_bit_for_bit(augmented, tmp_path, batch_size):
    import shutil

    from engine.workspace import Workspace

    training = {"batch_size": batch_size, "epochs": 4 if batch_size else 12}
    shutil.copytree(augmented.home / "families", tmp_path / "ref" / "families")
    other = Workspace(tmp_path / "ref")
    reference = other.train(other.create_variant("jitter", {}, training))
    plain = other.train(other.create_variant("jitter", {"augment": False}, training))
    assert plain.weights_sha256 != reference.weights_sha256  # it does change the batches

    variant = augmented.create_variant("jitter", {}, training)
    cancel = threading.Event()

    class StopMidEpoch(Callback):
        def on_log(self, row):
            if row["step"] >= 7:
                cancel.set()

    stopped = augmented.train(variant, [StopMidEpoch()], cancel)
    assert stopped.status == "cancelled"
    state = ckpt.load_checkpoint(ckpt.full_checkpoints(variant.checkpoints_dir)[0])
    assert isinstance(state["rng"]["augment"], torch.Tensor)
    resumed = augmented.resume(variant)
    assert resumed.status == "completed"
    assert resumed.weights_sha256 == reference.weights_sha256
    assert augmented.replay(variant).identical
