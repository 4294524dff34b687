"""A run that fails ends as a failed session with its partial metrics, never as a crash."""

from __future__ import annotations

from engine.metadata import VariantMetadata


def test_a_huge_learning_rate_fails_with_a_message_and_keeps_partial_metrics(workspace):
    variant = workspace.create_variant(
        "mlp",
        {"dataset": "two_moons", "hidden_dim": 16, "dropout": 0.0},
        {"epochs": 20, "lr": 1e6, "optimizer": "sgd", "batch_size": 0},
    )
    session = workspace.train(variant)
    assert session.status == "failed"
    assert "diverged" in session.error_message or "loss became" in session.error_message
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.status == "failed" and meta.error_message == session.error_message
    assert variant.chronicle_path.read_text().strip()  # partial chronicle kept


def test_nan_loss_fails_at_once(workspace):
    variant = workspace.create_variant(
        "modulo_addition_1layer",
        {"prime": 11},
        {"epochs": 50, "lr": 1e6, "optimizer": "sgd", "divergence_threshold": 1e300},
    )
    session = workspace.train(variant)
    assert session.status == "failed"
    assert "loss became nan" in session.error_message or "loss became inf" in session.error_message
    assert session.epochs_completed < 50


def test_an_exception_inside_the_loop_becomes_a_failed_session(workspace):
    from engine.training.callbacks import Callback

    class Boom(Callback):
        def on_epoch_end(self, metrics):
            if metrics.epoch == 2:
                raise RuntimeError("callback exploded")

    variant = workspace.create_variant("modulo_addition_1layer", {"prime": 11}, {"epochs": 5})
    session = workspace.train(variant, [Boom()])
    assert session.status == "failed"
    assert session.error_message == "RuntimeError: callback exploded"
    assert len(session.metrics) == 2


def test_stagnation_is_a_warning_not_a_failure(workspace):
    variant = workspace.create_variant(
        "modulo_addition_1layer", {"prime": 11}, {"epochs": 40, "stagnation_patience": 5}
    )
    session = workspace.train(variant)
    assert session.status == "completed"
    assert any("no improvement" in w for w in session.warnings)
    rows = [line for line in variant.chronicle_path.read_text().splitlines() if '"warning"' in line]
    assert rows
