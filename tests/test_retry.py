"""A run whose loss diverges is retried at a smaller learning rate, the same way every time.

The run below (a linear network on the sine table: one hidden layer of 16 with the identity
activation, MSE, SGD with momentum, lr 0.4 reached by a 150-step warm-up) diverges at epoch 6,
step 149; at lr 0.2 it does not. With `retries=1` its second attempt goes back to the newest
retry anchor (the end of epoch 4: anchors sit at every tenth of the 20 epochs) and succeeds.

A linear network's loss grows geometrically once the learning rate passes its bound, so the
step it diverges at is the same on every CPU tried (AMD and Intel, AVX2 and AVX-512 kernels);
only the digits of the diverged loss differ, and the tests do not pin them. (A ReLU network
at a high learning rate is chaotic: whether it diverges at all changed with the CPU.)
"""

from __future__ import annotations

import threading

import pytest

from engine.metadata import VariantMetadata
from engine.training import checkpoints as ckpt
from engine.training.callbacks import Callback
from engine.training.chronicle import is_epoch_end, read_chronicle, stable_fields

DOMAIN = {
    "dataset": "sine",
    "hidden_dim": 16,
    "num_hidden_layers": 1,
    "activation": "identity",
    "dropout": 0.0,
}
DIVERGING = {
    "epochs": 20,
    "lr": 0.4,
    "optimizer": "sgd",
    "momentum": 0.9,
    "warmup_steps": 150,
    "log_every": 1,
    "threads": 1,
}
STEPS_PER_EPOCH = 25
LR, RETRY_LR = 0.4, 0.2
DIVERGED = "(above divergence_threshold 1e+06) at epoch 6, step 149"


class Heard(Callback):
    """What a run said: its warnings and the attempts its starts announced."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.starts: list[tuple[int, int, bool]] = []  # (attempt, start_epoch, resumed)

    def on_warning(self, message: str) -> None:
        self.warnings.append(message)

    def on_train_start(self, info) -> None:
        self.starts.append((info["attempt"], info["start_epoch"], info["resumed"]))


def _train(workspace, callbacks=None, cancel_event=None, **training):
    variant = workspace.create_variant("mlp", DOMAIN, {**DIVERGING, **training})
    return variant, workspace.trainer(variant, callbacks, cancel_event).train()


def test_without_retries_the_diverging_run_fails_as_before(workspace):
    variant, session = _train(workspace)
    assert session.status == "failed"
    assert session.error_message.startswith("loss diverged to ")
    assert session.error_message.endswith(DIVERGED)
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.status == "failed"
    assert [(a.attempt, a.lr, a.epoch, a.step) for a in meta.attempts] == [(1, LR, 6, 149)]
    assert meta.attempts[0].error == session.error_message
    assert session.attempts == 1 and meta.effective_lr == LR


def test_a_diverged_run_is_retried_from_its_anchor_at_half_the_lr(workspace):
    heard = Heard()
    variant, session = _train(workspace, [heard], retries=1)
    assert session.status == "completed", session.error_message
    assert session.attempts == 2 and session.effective_lr == RETRY_LR

    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.status == "completed" and meta.effective_lr == RETRY_LR
    first, second = meta.attempts
    assert (first.attempt, first.lr, first.lr_scale, first.epoch, first.step) == (
        1,
        LR,
        1.0,
        6,
        149,
    )
    assert first.error.startswith("loss diverged to ") and first.error.endswith(DIVERGED)
    assert (second.attempt, second.lr, second.lr_scale, second.error) == (2, RETRY_LR, 0.5, None)
    assert (second.from_epoch, second.from_step) == (4, 4 * STEPS_PER_EPOCH)
    retried = f"attempt 1 failed ({first.error}); retrying from epoch 4 at lr 0.2"
    assert heard.warnings == [retried] and retried in meta.warnings
    assert heard.starts == [(1, 0, False), (2, 4, True)]

    # The chronicle was cut back to the anchor: each step once, the retried ones at the
    # halved lr, which the warm-up still ramps up (step s uses lr x s / 150 until step 150).
    rows = list(read_chronicle(variant.chronicle_path))
    assert [r["step"] for r in rows] == list(range(1, 20 * STEPS_PER_EPOCH + 1))
    for row in rows:
        peak = LR if row["step"] <= 4 * STEPS_PER_EPOCH else RETRY_LR
        assert row["lr"] == pytest.approx(peak * min(1.0, row["step"] / 150), rel=1e-12)
    assert [r["epoch"] for r in rows if is_epoch_end(r)] == list(range(1, 21))
    assert [m.epoch for m in session.metrics] == list(range(1, 21))

    assert workspace.verify(variant).verified
    replayed = workspace.replay(variant)
    assert replayed.identical, replayed.message


def test_the_retry_point_does_not_depend_on_execution_settings(workspace, tmp_path):
    """resume_every (an execution setting) writes checkpoints after the anchor; the retry
    still goes back to the anchor, so the result is the one without them."""
    from engine.workspace import Workspace

    variant, session = _train(workspace, retries=1)
    other = Workspace(tmp_path / "other")
    twin, twin_session = _train(other, retries=1, resume_every=1)
    assert twin.name == variant.name
    assert twin_session.status == session.status == "completed"
    assert twin_session.weights_sha256 == session.weights_sha256
    second = VariantMetadata.load(twin.metadata_path).attempts[1]
    assert (second.from_epoch, second.from_step) == (4, 100)


def test_with_no_anchor_yet_the_retry_starts_over(workspace):
    """Without the warm-up, lr 0.2 diverges at step 37, before the first anchor (the end of
    epoch 2): the retry at lr 0.1 starts from the beginning."""
    heard = Heard()
    variant, session = _train(workspace, [heard], retries=1, warmup_steps=0, lr=RETRY_LR)
    assert session.status == "completed", session.error_message
    meta = VariantMetadata.load(variant.metadata_path)
    first, second = meta.attempts
    assert (first.epoch, first.step) == (2, 37)
    assert (second.lr, second.from_epoch, second.from_step) == (0.1, 0, 0)
    assert heard.warnings[0].endswith("retrying from the start at lr 0.1")
    assert heard.starts == [(1, 0, False), (2, 0, False)]
    rows = list(read_chronicle(variant.chronicle_path))
    assert [r["step"] for r in rows] == list(range(1, 20 * STEPS_PER_EPOCH + 1))
    assert {r["lr"] for r in rows} == {0.1}
    assert workspace.replay(variant).identical


def test_the_retries_run_out(workspace):
    """A lower divergence threshold that attempt 2 crosses too: with one retry, it fails."""
    variant, session = _train(workspace, retries=1, divergence_threshold=1.0)
    assert session.status == "failed"
    meta = VariantMetadata.load(variant.metadata_path)
    assert [a.attempt for a in meta.attempts] == [1, 2]
    assert all(a.error and "above divergence_threshold 1" in a.error for a in meta.attempts)
    assert meta.error_message == meta.attempts[-1].error
    assert [a.lr for a in meta.attempts] == [LR, RETRY_LR]


class StopAt(Callback):
    """Sets the run's cancel event after the given (attempt, step)s."""

    def __init__(self, event: threading.Event, points: set[tuple[int, int]]) -> None:
        self.event, self.points, self.attempt = event, points, 1

    def on_train_start(self, info) -> None:
        self.attempt = info["attempt"]

    def on_after_step(self, info) -> None:
        if (self.attempt, info.step) in self.points:
            self.event.set()


def test_stops_before_and_after_the_retry_resume_to_the_uninterrupted_result(workspace, tmp_path):
    from engine.workspace import Workspace

    reference, uninterrupted = _train(Workspace(tmp_path / "ref"), retries=1)

    event = threading.Event()
    stopper = StopAt(event, {(1, 90), (2, 120)})
    variant, session = _train(workspace, [stopper], event, retries=1)
    sessions = [session.status]
    while session.status == "cancelled":
        event.clear()
        session = workspace.trainer(variant, [stopper], event).resume()
        sessions.append(session.status)
    assert sessions == ["cancelled", "cancelled", "completed"]
    assert session.weights_sha256 == uninterrupted.weights_sha256
    meta = VariantMetadata.load(variant.metadata_path)
    assert [(a.attempt, a.lr, a.from_step) for a in meta.attempts] == [
        (1, LR, 0),
        (2, RETRY_LR, 100),
    ]
    ours = [stable_fields(r) for r in read_chronicle(variant.chronicle_path)]
    theirs = [stable_fields(r) for r in read_chronicle(reference.chronicle_path)]
    assert ours == theirs


def test_the_anchor_survives_the_pruning_of_later_checkpoints(workspace, tmp_path):
    """Stops after the anchor write more full checkpoints than are kept; the anchor stays,
    and the retry goes back to it (without it, it would start over)."""
    from engine.workspace import Workspace

    _, uninterrupted = _train(Workspace(tmp_path / "ref"), retries=1)
    event = threading.Event()
    stopper = StopAt(event, {(1, 105), (1, 110), (1, 115)})
    variant, session = _train(workspace, [stopper], event, retries=1)
    while session.status == "cancelled":
        event.clear()
        session = workspace.trainer(variant, [stopper], event).resume()
    assert session.status == "completed"
    meta = VariantMetadata.load(variant.metadata_path)
    assert (meta.attempts[1].from_epoch, meta.attempts[1].from_step) == (4, 100)
    assert session.weights_sha256 == uninterrupted.weights_sha256


def test_pruning_keeps_the_newest_anchor_besides_the_newest_two(tmp_path):
    for epoch, step in [(2, 50), (4, 100), (4, 105), (4, 110), (4, 115)]:
        ckpt.save_checkpoint(tmp_path / ckpt.full_name(epoch, step), {"step": step})
    ckpt.prune_full_checkpoints(tmp_path, protect=lambda p: p.name.endswith("0050.pt"))
    kept = [ckpt.full_position(p) for p in ckpt.full_checkpoints(tmp_path)]
    assert kept == [(4, 115), (4, 110), (2, 50)]
    ckpt.prune_full_checkpoints(tmp_path)
    assert [ckpt.full_position(p) for p in ckpt.full_checkpoints(tmp_path)] == [(4, 115), (4, 110)]


def test_exceptions_other_than_a_diverged_loss_are_not_retried(workspace):
    class Boom(Callback):
        def on_epoch_end(self, metrics):
            if metrics.epoch == 2:
                raise RuntimeError("callback exploded")

    variant, session = _train(workspace, [Boom()], retries=3)
    assert session.status == "failed"
    assert session.error_message == "RuntimeError: callback exploded"
    meta = VariantMetadata.load(variant.metadata_path)
    assert [(a.attempt, a.error) for a in meta.attempts] == [(1, "RuntimeError: callback exploded")]


def test_retry_settings_join_the_identity_only_when_set(workspace):
    plain = workspace.create_variant("mlp", DOMAIN, DIVERGING)
    defaults = workspace.create_variant(
        "mlp", DOMAIN, {**DIVERGING, "retries": 0, "retry_lr_factor": 0.5}
    )
    retried = workspace.create_variant("mlp", DOMAIN, {**DIVERGING, "retries": 1})
    gentler = workspace.create_variant(
        "mlp", DOMAIN, {**DIVERGING, "retries": 1, "retry_lr_factor": 0.25}
    )
    assert plain.name == defaults.name
    assert len({plain.name, retried.name, gentler.name}) == 3
