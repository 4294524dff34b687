"""The loss registry (`-t loss=`): each loss by hand, the resolve errors, old configs, the CLI."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch
from helpers.cli import run_cli

from engine.training import losses
from engine.training.callbacks import Callback

LOGITS = [[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]
LABELS = [0, 2]
PREDICTIONS = [[1.0], [2.0], [4.0]]  # a regression model's [n, 1] outputs
TARGETS = [1.5, 2.0, 1.0]


def _log_softmax(row: list[float]) -> list[float]:
    total = math.log(sum(math.exp(v) for v in row))
    return [v - total for v in row]


def _classification() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(LABELS)


def _regression() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(PREDICTIONS, dtype=torch.float64), torch.tensor(
        TARGETS, dtype=torch.float64
    )


# ---- each loss against a hand computation ------------------------------------------------------
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy_with_label_smoothing(smoothing):
    expected = 0.0
    for row, label in zip(LOGITS, LABELS, strict=True):
        logp = _log_softmax(row)
        # the target: 1 - smoothing on the label, smoothing spread evenly over all classes
        expected -= (1 - smoothing) * logp[label] + smoothing * sum(logp) / len(logp)
    expected /= len(LABELS)
    loss = losses.loss_function("cross_entropy", smoothing)(*_classification())
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_focal_loss_gamma_two_by_default_and_cross_entropy_at_gamma_zero():
    assert losses.FOCAL_GAMMA == 2.0
    expected = 0.0
    for row, label in zip(LOGITS, LABELS, strict=True):
        logp = _log_softmax(row)[label]
        expected -= (1 - math.exp(logp)) ** 2 * logp
    expected /= len(LABELS)
    outputs, targets = _classification()
    assert losses.loss_function("focal")(outputs, targets).item() == pytest.approx(expected, 1e-12)
    ce = losses.cross_entropy(outputs, targets)
    assert losses.focal(outputs, targets, gamma=0.0).item() == pytest.approx(ce.item(), rel=1e-12)


def test_mse_and_huber():
    errors = [p[0] - t for p, t in zip(PREDICTIONS, TARGETS, strict=True)]  # 0.5, 0, 3
    mse = sum(e * e for e in errors) / len(errors)
    huber = sum(0.5 * e * e if abs(e) <= 1 else abs(e) - 0.5 for e in errors) / len(errors)
    outputs, targets = _regression()
    assert losses.loss_function("mse")(outputs, targets).item() == pytest.approx(mse, rel=1e-12)
    assert losses.loss_function("huber")(outputs, targets).item() == pytest.approx(huber, 1e-12)


def test_each_loss_declares_its_task_types_and_the_schema_offers_them():
    from engine.training.config import TRAINING_PARAMETERS

    assert losses.allowed_losses("classification") == ["auto", "cross_entropy", "focal"]
    assert losses.allowed_losses("regression") == ["auto", "mse", "huber"]
    spec = next(p for p in TRAINING_PARAMETERS if p.name == "loss")
    assert spec.default == "auto" and sorted(spec.choices) == sorted(["auto", *losses.LOSSES])
    smoothing = next(p for p in TRAINING_PARAMETERS if p.name == "label_smoothing")
    assert smoothing.default == 0.0 and (smoothing.min, smoothing.max) == (0, 1)


# ---- validated by resolve_parameters, per field --------------------------------------------------
@pytest.mark.parametrize(
    ("family", "domain", "training", "field", "message"),
    [
        (
            "mlp",
            {"dataset": "two_moons"},
            {"loss": "mse"},
            "loss",
            "mse is for regression; this dataset is classification — "
            "allowed: auto, cross_entropy, focal",
        ),
        (
            "mlp",
            {"dataset": "sine"},
            {"loss": "focal"},
            "loss",
            "focal is for classification; this dataset is regression — allowed: auto, mse, huber",
        ),
        (
            "modulo_addition_1layer",
            {},
            {"loss": "huber"},
            "loss",
            "huber is for regression; this dataset is classification",
        ),
        ("mlp", {}, {"label_smoothing": 0.1}, "label_smoothing", "needs loss=cross_entropy"),
        (
            "mlp",
            {},
            {"loss": "focal", "label_smoothing": 0.1},
            "label_smoothing",
            "needs loss=cross_entropy",
        ),
        ("mlp", {}, {"label_smoothing": 1.5}, "label_smoothing", "out of range"),
        ("mlp", {}, {"loss": "hinge"}, "loss", "'hinge' is not allowed"),
    ],
)
def test_resolve_refuses_a_loss_the_task_does_not_take(
    workspace, family, domain, training, field, message
):
    resolution = workspace.resolve(family, domain, training)
    assert not resolution.ok
    assert message in resolution.errors[field], resolution.errors


@pytest.mark.parametrize(
    ("family", "domain", "training"),
    [
        ("mlp", {"dataset": "iris"}, {"loss": "focal"}),
        ("mlp", {"dataset": "two_moons"}, {"loss": "cross_entropy", "label_smoothing": 0.1}),
        ("mlp", {"dataset": "diabetes"}, {"loss": "huber"}),
        ("modulo_addition_1layer", {}, {"loss": "cross_entropy", "label_smoothing": 0.05}),
    ],
)
def test_resolve_accepts_a_loss_the_task_takes(workspace, family, domain, training):
    resolution = workspace.resolve(family, domain, training)
    assert resolution.ok, resolution.errors


def test_new_parameters_leave_the_names_of_existing_variants_alone(workspace):
    mlp = workspace.resolve("mlp", {}, {"epochs": 5}).config
    assert mlp.variant == "mlp_two_moons_h128x2_seed0_82bedd84"
    explicit = workspace.resolve("mlp", {}, {"epochs": 5, "loss": "auto", "label_smoothing": 0})
    assert explicit.config.variant == mlp.variant
    assert explicit.config.config_hash == mlp.config_hash
    modulo = workspace.resolve("modulo_addition_1layer", {"prime": 23}, {"epochs": 60}).config
    assert modulo.variant == "modulo_addition_1layer_p23_seed999_57811814"
    chosen = workspace.resolve("mlp", {}, {"epochs": 5, "loss": "cross_entropy"}).config
    assert chosen.variant != mlp.variant  # a chosen loss is another variant


def test_the_trainer_uses_the_family_loss_for_auto_and_the_registry_otherwise(workspace):
    from engine.training.trainer import Trainer

    family = workspace.registry.family("modulo_addition_1layer")
    auto = workspace.create_variant("modulo_addition_1layer", {"prime": 5}, {})
    assert Trainer(family, auto).compute_loss == family.compute_loss  # float64 CE kept
    chosen = workspace.create_variant(
        "modulo_addition_1layer", {"prime": 5}, {"loss": "cross_entropy", "label_smoothing": 0.2}
    )
    trainer = Trainer(family, chosen)
    outputs, targets = _classification()
    expected = torch.nn.functional.cross_entropy(outputs, targets, label_smoothing=0.2)
    assert torch.equal(trainer.objective(outputs, targets, outputs), expected)


# ---- a config.json written before `loss` existed ------------------------------------------------
class _CancelAt(Callback):
    def __init__(self, event: threading.Event, step: int) -> None:
        self.event, self.step = event, step

    def on_log(self, row):
        if row["step"] >= self.step:
            self.event.set()


def _write_as_before_losses(variant) -> None:
    """config.json as the engine wrote it before `loss` and `label_smoothing`: without them
    (nor any other parameter added since, such as `retries` or `timeout`), with the config
    hash it computed then."""
    from engine.hashing import config_hash
    from engine.training.config import EXECUTION_PARAMETERS, TRAINING_PARAMETERS

    data = json.loads(variant.config_path.read_text(encoding="utf-8"))
    for key in ("loss", "label_smoothing"):
        del data["training"][key]
    for spec in TRAINING_PARAMETERS:
        if spec.added_in:
            data["training"].pop(spec.name, None)
    training = {k: v for k, v in data["training"].items() if k not in EXECUTION_PARAMETERS}
    identity = {key: data[key] for key in ("family", "domain", "strategy", "strategy_params")}
    data["config_hash"] = config_hash({**identity, "training": training})
    variant.config_path.write_text(json.dumps(data), encoding="utf-8")


def test_a_variant_stored_before_the_loss_parameter_resumes_and_replays(workspace, tmp_path):
    from engine.variants import Variant
    from engine.workspace import Workspace

    params = {"dataset": "two_moons", "hidden_dim": 16, "num_hidden_layers": 2}
    training = {"epochs": 3, "batch_size": 64}
    reference_ws = Workspace(tmp_path / "reference")
    reference = reference_ws.train(reference_ws.create_variant("mlp", params, training))

    new = workspace.create_variant("mlp", params, training)
    new.dir.mkdir(parents=True)
    new.config_path.write_text(json.dumps(new.config.model_dump(mode="json")), encoding="utf-8")
    _write_as_before_losses(new)
    old = Variant.load(new.dir)
    # A parameter added later, at its default, changes neither the name nor the hash.
    assert old.name == new.name and old.config.config_hash == new.config.config_hash
    assert (old.config.training.loss, old.config.training.label_smoothing) == ("auto", 0.0)

    cancel = threading.Event()
    stopped = workspace.train(old, [_CancelAt(cancel, step=10)], cancel, overwrite=True)
    assert stopped.status == "cancelled"
    _write_as_before_losses(old)  # as an older engine left it on disk
    old = workspace.variant(old.name)
    resumed = workspace.resume(old)
    assert resumed.status == "completed", resumed.error_message
    assert resumed.weights_sha256 == reference.weights_sha256
    result = workspace.replay(old)
    assert result.identical, result.message


# ---- end to end through the CLI -----------------------------------------------------------------
def _train(home, *args):
    result = run_cli(home, "train", "mlp", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_huber_on_the_sine_dataset_through_therun_cli(tmp_path):
    from engine.training.chronicle import read_chronicle
    from engine.variants import variant_dir

    home = tmp_path / "home"
    common = ["-p", "dataset=sine", "-p", "hidden_dim=16", "-t", "epochs=2", "-t", "threads=1"]
    huber = _train(home, *common, "-t", "loss=huber")
    mse = _train(home, *common, "-t", "loss=mse")
    assert huber["status"] == mse["status"] == "completed"
    assert huber["variant"] != mse["variant"]
    config = json.loads((variant_dir(home, "mlp", huber["variant"]) / "config.json").read_text())
    assert config["training"]["loss"] == "huber"
    # Same initial weights and first batch: Huber (½e² for small errors) is below MSE (e²).
    first = [
        next(iter(read_chronicle(variant_dir(home, "mlp", r["variant"]) / "chronicle.jsonl")))
        for r in (huber, mse)
    ]
    assert 0 < first[0]["loss"] < first[1]["loss"]

    refused = run_cli(home, "train", "mlp", "-p", "dataset=sine", "-t", "loss=cross_entropy")
    assert refused.returncode == 2
    assert "loss: cross_entropy is for classification; this dataset is regression" in (
        refused.stderr
    )
