"""Bit-identical replay and exact resume: the promises every change protects."""

from __future__ import annotations

import json
import threading

from engine.training.callbacks import Callback
from engine.training.chronicle import read_chronicle, stable_fields


class CancelAt(Callback):
    """Sets the cancel event once the chronicle reaches `step` (mid-epoch when batches > 1)."""

    def __init__(self, event: threading.Event, step: int) -> None:
        self.event, self.step = event, step

    def on_log(self, row):
        if row["step"] >= self.step:
            self.event.set()


def _stable_chronicle(variant):
    return [stable_fields(r) for r in read_chronicle(variant.chronicle_path)]


def _mlp(workspace, **training):
    params = {"dataset": "two_moons", "hidden_dim": 16, "num_hidden_layers": 2}
    training = {"epochs": 4, "batch_size": 64, "log_every": 1, **training}
    return workspace.create_variant("mlp", params, training)


def test_the_same_config_twice_gives_identical_weights(workspace, tmp_path):
    from engine.workspace import Workspace

    first = workspace.train(_mlp(workspace))
    other = Workspace(tmp_path / "other")
    second = other.train(_mlp(other))
    assert first.status == second.status == "completed"
    assert first.weights_sha256 == second.weights_sha256


def test_replay_reports_identical(workspace):
    variant = workspace.create_variant(
        "modulo_addition_1layer", {"prime": 11}, {"epochs": 30, "checkpoint_every": 10}
    )
    workspace.train(variant)
    result = workspace.replay(variant)
    assert result.identical, result.message
    assert result.checkpoints_compared == 4  # epochs 0, 10, 20, 30
    assert result.lines_compared == 30


def test_replay_names_the_first_diverging_step(workspace):
    variant = _mlp(workspace, epochs=2)
    workspace.train(variant)
    lines = variant.chronicle_path.read_text().splitlines()
    row = json.loads(lines[5])
    row["loss"] += 1e-9
    lines[5] = json.dumps(row)
    variant.chronicle_path.write_text("\n".join(lines) + "\n")
    result = workspace.replay(variant)
    assert not result.identical
    assert result.first_divergence["step"] == row["step"]


def test_cancel_mid_epoch_then_resume_equals_an_uninterrupted_run(workspace, tmp_path):
    from engine.workspace import Workspace

    reference_ws = Workspace(tmp_path / "reference")
    reference = reference_ws.train(_mlp(reference_ws))

    variant = _mlp(workspace)
    cancel = threading.Event()
    stopped = workspace.train(variant, [CancelAt(cancel, step=20)], cancel)
    assert stopped.status == "cancelled"
    assert 0 < stopped.steps < reference.steps and stopped.steps % 13 != 0  # inside an epoch
    resumed = workspace.resume(variant)
    assert resumed.status == "completed"
    assert resumed.weights_sha256 == reference.weights_sha256
    assert _stable_chronicle(variant) == _stable_chronicle(reference_ws.variant(variant.name))
    assert [m.epoch for m in resumed.metrics] == [1, 2, 3, 4]
    # The loss EMA is carried by the checkpoint: after the resume it goes on as if never stopped.
    ours = [r["loss_ema"] for r in _stable_chronicle(variant)]
    theirs = [r["loss_ema"] for r in _stable_chronicle(reference_ws.variant(variant.name))]
    assert len(ours) == reference.steps and ours == theirs
    assert ours[0] == _stable_chronicle(variant)[0]["loss"]  # debiased: starts at the loss


def test_resume_with_dropout_and_grokfast_is_exact(workspace, tmp_path):
    from engine.workspace import Workspace

    training = {"grokfast": "ema", "epochs": 3}
    reference_ws = Workspace(tmp_path / "reference")
    reference = reference_ws.train(_mlp(reference_ws, **training))
    variant = _mlp(workspace, **training)
    cancel = threading.Event()
    workspace.train(variant, [CancelAt(cancel, step=17)], cancel)
    resumed = workspace.resume(variant)
    assert resumed.weights_sha256 == reference.weights_sha256


def test_a_run_cancelled_while_waiting_its_turn_starts_cleanly_on_resume(workspace, tmp_path):
    from engine.training.turns import holding_turn
    from engine.workspace import Workspace

    reference_ws = Workspace(tmp_path / "reference")
    reference = reference_ws.train(_mlp(reference_ws, epochs=2))
    variant = _mlp(workspace, epochs=2)
    cancel = threading.Event()
    with holding_turn(threading.Event()):  # another run holds the process-wide settings
        waiting = threading.Thread(target=lambda: workspace.train(variant, [], cancel))
        waiting.start()
        cancel.set()
        waiting.join(timeout=10)
    assert not waiting.is_alive()
    assert workspace.discover_variants()[0].status == "cancelled"
    resumed = workspace.resume(variant)
    assert resumed.weights_sha256 == reference.weights_sha256
