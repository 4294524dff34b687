"""Checkpoints are verified before loading; a corrupt one is refused and resume falls back."""

from __future__ import annotations

import threading

import pytest
import torch

from engine.errors import CheckpointError
from engine.training import checkpoints as ckpt
from engine.training.callbacks import Callback


def test_a_flipped_byte_inside_tensor_data_is_detected(tmp_path):
    path = tmp_path / "w.pt"
    ckpt.save_checkpoint(path, {"model": {"w": torch.arange(1000, dtype=torch.float32)}})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt or was modified"):
        ckpt.load_checkpoint(path)


def test_a_checkpoint_without_its_sha256_record_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    ckpt.save_checkpoint(path, {"x": torch.zeros(2)})
    path.with_name("w.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match=r"no \.sha256 record"):
        ckpt.load_checkpoint(path)


def test_pickled_code_is_refused_by_weights_only_loading(tmp_path):
    import hashlib
    import io

    path = tmp_path / "evil.pt"
    buffer = io.BytesIO()
    torch.save({"f": print}, buffer)  # a callable: not allowed under weights_only
    path.write_bytes(buffer.getvalue())
    path.with_name("evil.pt.sha256").write_text(hashlib.sha256(buffer.getvalue()).hexdigest())
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        ckpt.load_checkpoint(path)


def test_resume_falls_back_to_the_previous_valid_checkpoint(workspace, tmp_path):
    from engine.workspace import Workspace

    training = {"epochs": 6, "resume_every": 1}
    reference_ws = Workspace(tmp_path / "reference")
    reference = reference_ws.train(
        reference_ws.create_variant("modulo_addition_1layer", {"prime": 11}, training)
    )

    class StopAfter(Callback):
        def __init__(self, event):
            self.event = event

        def on_epoch_end(self, metrics):
            if metrics.epoch == 4:
                self.event.set()

    variant = workspace.create_variant("modulo_addition_1layer", {"prime": 11}, training)
    cancel = threading.Event()
    workspace.train(variant, [StopAfter(cancel)], cancel)
    newest = ckpt.full_checkpoints(variant.checkpoints_dir)[0]
    data = bytearray(newest.read_bytes())
    data[-100] ^= 0xFF
    newest.write_bytes(bytes(data))
    session = workspace.resume(variant)
    assert session.status == "completed"
    assert any("corrupt" in w for w in session.warnings)
    assert session.weights_sha256 == reference.weights_sha256


def test_only_the_two_newest_full_checkpoints_are_kept(workspace):
    variant = workspace.create_variant(
        "modulo_addition_1layer", {"prime": 11}, {"epochs": 6, "resume_every": 1}
    )
    workspace.train(variant)
    assert len(ckpt.full_checkpoints(variant.checkpoints_dir)) == 2


def test_save_load_save_gives_a_byte_identical_file(workspace, tmp_path):
    """A checkpoint's bytes depend on its content alone: not on the file name, the time, or
    whether the payload was just built or loaded back (mid-epoch, with Grokfast and dropout)."""
    from engine.training.chronicle import read_chronicle

    variant = workspace.create_variant(
        "mlp",
        {"dataset": "two_moons", "hidden_dim": 8, "num_hidden_layers": 1},
        {"epochs": 3, "batch_size": 64, "log_every": 1, "grokfast": "ema"},
    )
    cancel = threading.Event()

    class CancelAtStep(Callback):
        def on_log(self, row):
            if row["step"] >= 5:
                cancel.set()

    assert workspace.train(variant, [CancelAtStep()], cancel).status == "cancelled"
    assert len(list(read_chronicle(variant.chronicle_path))) == 5
    for original in [
        *ckpt.full_checkpoints(variant.checkpoints_dir),
        *ckpt.weights_files(variant.checkpoints_dir).values(),
    ]:
        payload = ckpt.load_checkpoint(original)
        if "perm" in payload:
            assert payload["perm"] is not None and payload["grokfast"] is not None  # mid-epoch
        first = ckpt.save_checkpoint(tmp_path / "a.pt", payload)
        second = ckpt.save_checkpoint(
            tmp_path / "other_name.pt", ckpt.load_checkpoint(tmp_path / "a.pt")
        )
        assert (tmp_path / "a.pt").read_bytes() == original.read_bytes()
        assert (tmp_path / "other_name.pt").read_bytes() == original.read_bytes()
        assert first == second == ckpt.sha256_file(original)
        if "optimizer" in payload:
            reloaded = ckpt.load_checkpoint(tmp_path / "other_name.pt")
            assert ckpt.state_sha256(reloaded) == ckpt.state_sha256(payload)
