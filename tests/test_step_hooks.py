"""The step hooks (on_before_step / on_after_step) and the loss EMA of old checkpoints."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from engine.training import checkpoints as ckpt
from engine.training.callbacks import Callback, CallbackList, StepInfo
from engine.training.chronicle import read_chronicle


class Recorder(Callback):
    def __init__(self) -> None:
        self.before: list[StepInfo] = []
        self.after: list[StepInfo] = []

    def on_before_step(self, info: StepInfo) -> None:
        self.before.append(info)

    def on_after_step(self, info: StepInfo) -> None:
        self.after.append(info)


class CancelAfterStep(Callback):
    def __init__(self, event: threading.Event, step: int) -> None:
        self.event, self.step = event, step

    def on_after_step(self, info: StepInfo) -> None:
        if info.step == self.step:
            self.event.set()


def _mlp(workspace, **training):
    params = {"dataset": "two_moons", "hidden_dim": 16, "num_hidden_layers": 2}
    training = {"epochs": 3, "batch_size": 64, "log_every": 5, **training}
    return workspace.create_variant("mlp", params, training)


def test_the_loop_asks_only_for_hooks_someone_overrides():
    class OnlyAfter(Callback):
        def on_after_step(self, info):
            pass

    assert not CallbackList([Callback(), Callback()]).overrides("on_before_step")
    assert not CallbackList().overrides("on_after_step")
    assert CallbackList([Callback(), OnlyAfter()]).overrides("on_after_step")
    assert not CallbackList([OnlyAfter()]).overrides("on_before_step")
    assert CallbackList([CallbackList([OnlyAfter()])]).overrides("on_after_step")
    patched = Callback()
    patched.on_before_step = lambda info: None
    assert CallbackList([patched]).overrides("on_before_step")


def test_step_hooks_see_every_step_read_only_and_leave_the_weights_alone(workspace, tmp_path):
    from engine.workspace import Workspace

    plain_ws = Workspace(tmp_path / "plain")
    plain = plain_ws.train(_mlp(plain_ws))
    recorder = Recorder()
    variant = _mlp(workspace)
    session = workspace.train(variant, [recorder])
    assert session.status == "completed"
    assert session.weights_sha256 == plain.weights_sha256

    assert [i.step for i in recorder.before] == list(range(1, session.steps + 1))
    assert recorder.after == recorder.before  # the same step, seen before and after
    per_epoch = session.steps // 3
    assert [i.batch_index for i in recorder.before[:per_epoch]] == list(range(per_epoch))
    assert recorder.before[-1].epoch == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        recorder.before[0].loss = 0.0  # type: ignore[misc]

    rows = {r["step"]: r for r in read_chronicle(variant.chronicle_path)}
    for info in recorder.before:
        row = rows.get(info.step)
        if row is None:  # not logged: the grad norm was not computed
            assert info.grad_norm is None
            continue
        assert (info.loss, info.lr, info.grad_norm, info.epoch) == (
            row["loss"],
            row["lr"],
            row["grad_norm"],
            row["epoch"],
        )


def test_cancel_from_an_after_step_hook_then_resume_is_exact(workspace, tmp_path):
    from engine.workspace import Workspace

    reference_ws = Workspace(tmp_path / "reference")
    reference = reference_ws.train(_mlp(reference_ws, log_every=1))
    variant = _mlp(workspace, log_every=1)
    cancel = threading.Event()
    stopped = workspace.train(variant, [CancelAfterStep(cancel, 17)], cancel)
    assert (stopped.status, stopped.steps) == ("cancelled", 17)
    resumed = workspace.resume(variant)
    assert resumed.weights_sha256 == reference.weights_sha256
    ema = [r["loss_ema"] for r in read_chronicle(variant.chronicle_path)]
    ref_ema = [
        r["loss_ema"] for r in read_chronicle(reference_ws.variant(variant.name).chronicle_path)
    ]
    assert ema == ref_ema


def test_a_checkpoint_from_before_the_loss_ema_resumes_with_a_fresh_one(workspace):
    variant = _mlp(workspace, log_every=1)
    cancel = threading.Event()
    workspace.train(variant, [CancelAfterStep(cancel, 17)], cancel)
    path = ckpt.full_checkpoints(variant.checkpoints_dir)[-1]
    state = ckpt.load_checkpoint(path)
    del state["loss_ema"]
    state["accumulator"].pop("loss_comp")
    ckpt.save_checkpoint(path, state)  # as an older engine wrote it
    resumed = workspace.resume(variant)
    assert resumed.status == "completed"
    rows = list(read_chronicle(variant.chronicle_path))
    assert rows[17]["step"] == 18 and rows[17]["loss_ema"] == rows[17]["loss"]  # started afresh
