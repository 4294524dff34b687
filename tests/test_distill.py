"""Distillation: a student on a trained teacher's soft targets, its failures, resume, CLI."""

from __future__ import annotations

import json
import threading

import pytest
import torch
import torch.nn.functional as F
from helpers.teacher import STUDENT_DOMAIN, STUDENT_TRAINING, copy_variant

from engine.distill import compare_distillation, distill
from engine.metadata import VariantMetadata
from engine.strategies import trainer_for
from engine.strategies.distill.objective import distillation_loss
from engine.training.callbacks import Callback

SUCCESS_KEYS = {"status", "strategy", "metrics", "modelId", "modelPath", "distilledRun"}


# ---- the loss --------------------------------------------------------------------------------
def test_the_loss_mixes_soft_and_hard_terms():
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 3), torch.randn(5, 3)
    labels = torch.tensor([0, 1, 2, 1, 0])
    hard = F.cross_entropy(student, labels)
    assert torch.allclose(distillation_loss(student, teacher, hard, 4.0, 0.0), hard)
    assert distillation_loss(teacher, teacher, hard, 4.0, 1.0).abs() < 1e-6  # no KL to itself
    t, a = 2.0, 0.3
    p = F.softmax(teacher / t, -1)
    kl = (p * (p.log() - F.log_softmax(student / t, -1))).sum(-1).mean()
    expected = a * t * t * kl + (1 - a) * hard
    assert torch.allclose(distillation_loss(student, teacher, hard, t, a), expected, atol=1e-6)


# ---- success ---------------------------------------------------------------------------------
def test_a_distilled_student_reaches_090_and_names_its_teacher(workspace, teacher):
    """A 16x2 student of a 32x2 teacher (0.995) on two_moons: 0.985 test accuracy after 10
    epochs on the reference machine; the bar is 0.9."""
    result = distill(workspace, teacher, "mlp", STUDENT_DOMAIN, STUDENT_TRAINING)
    assert result["status"] == "ok", result
    assert set(result) == SUCCESS_KEYS and result["strategy"] == "distill"
    assert result["metrics"]["test_accuracy"] >= 0.9
    student = workspace.variant(result["modelId"])
    assert str(student.dir) == result["modelPath"]
    teacher_meta = VariantMetadata.load(workspace.variant(teacher).metadata_path)
    record = {"variant": teacher, "family": "mlp", "weights_sha256": teacher_meta.weights_sha256}
    meta = VariantMetadata.load(student.metadata_path)
    assert meta.extra["teacher"] == record
    assert result["distilledRun"]["teacher"] == record
    assert (result["distilledRun"]["temperature"], result["distilledRun"]["alpha"]) == (4.0, 0.7)
    config = student.config
    assert config.strategy == "distill"
    assert config.strategy_params == {
        "teacher": teacher,
        "teacher_family": "mlp",
        "temperature": 4.0,
        "alpha": 0.7,
    }
    # Same data as the teacher; its own (smaller) architecture.
    assert config.domain["dataset"] == "two_moons" and config.domain["hidden_dim"] == 16
    assert (
        config.training.training_fraction
        == workspace.variant(teacher).config.training.training_fraction
    )
    assert meta.status == "completed" and student.chronicle_path.is_file()
    assert any(c.kind == "weights" and c.epoch == 10 for c in meta.checkpoints)


def test_the_comparison_measures_both_models(workspace, teacher):
    result = distill(workspace, teacher, "mlp", STUDENT_DOMAIN, {**STUDENT_TRAINING, "epochs": 3})
    comparison = compare_distillation(workspace, result["modelId"], repeats=3)
    assert comparison.teacher.variant == teacher
    assert comparison.student.variant == result["modelId"]
    assert comparison.teacher.parameter_count > comparison.student.parameter_count > 0
    assert comparison.student.test_accuracy == pytest.approx(result["metrics"]["test_accuracy"])
    assert comparison.student.test_loss == pytest.approx(result["metrics"]["test_loss"], rel=1e-5)
    assert comparison.teacher.test_accuracy >= 0.9
    assert (
        comparison.teacher.inference_ms_per_1000 > 0
        and comparison.student.inference_ms_per_1000 > 0
    )
    assert comparison.parameter_ratio < 1


def test_a_small_transformer_distils_a_larger_one(workspace):
    from engine.workspace import Workspace

    ws: Workspace = workspace
    small = {"prime": 7, "d_model": 16, "n_heads": 2, "d_mlp": 16}
    teacher = ws.create_variant("modulo_addition_1layer", small, {"epochs": 3, "threads": 1})
    assert ws.train(teacher).status == "completed"
    student_domain = {"d_model": 8, "n_heads": 1, "d_mlp": 8}
    result = distill(ws, teacher.name, "modulo_addition_1layer", student_domain, {"epochs": 3})
    assert result["status"] == "ok", result
    student = ws.variant(result["modelId"])
    assert student.config.domain["prime"] == 7 and student.config.domain["d_model"] == 8


# ---- failures: only {status, error} ---------------------------------------------------------
def _tamper(workspace, teacher):
    meta = VariantMetadata.load(workspace.variant(teacher).metadata_path)
    final = max((c for c in meta.checkpoints if c.kind == "weights"), key=lambda c: c.epoch)
    path = workspace.variant(teacher).checkpoints_dir / final.file
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))


def _wider_student(workspace, teacher):
    """The student's family (here the same MLP family) builds a model with a third output."""
    family = workspace.registry.family("mlp")
    create = family.create_model

    def create_model(params):
        model = create(params)
        if params["hidden_dim"] == STUDENT_DOMAIN["hidden_dim"]:
            return torch.nn.Sequential(model, torch.nn.Linear(2, 3))
        return model

    family.create_model = create_model


def _regression_teacher(workspace, teacher):
    variant = workspace.create_variant("mlp", {"dataset": "sine", "hidden_dim": 8}, {"epochs": 1})
    assert workspace.train(variant).status == "completed"
    return variant.name


FAILURES = [
    (
        "missing teacher",
        lambda ws, t: "no_such_variant",
        {},
        "teacher variant 'no_such_variant' was not found",
    ),
    ("tampered weights", _tamper, {}, "is corrupt or was modified"),
    (
        "output shapes",
        _wider_student,
        {},
        "outputs shape (2,) per example but the student outputs (3,)",
    ),
    ("training failure", lambda ws, t: t, {"divergence_threshold": 1e-9}, "loss diverged"),
    ("regression teacher", _regression_teacher, {}, "is a regression model"),
    ("other split", lambda ws, t: t, {"data_seed": 7}, "data_seed 7 differs from the teacher's 0"),
]


@pytest.mark.parametrize(
    ("setup", "training", "message"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_a_failing_downstream_step_returns_only_status_and_error(
    workspace, teacher, setup, training, message
):
    name = setup(workspace, teacher) or teacher
    result = distill(workspace, name, "mlp", STUDENT_DOMAIN, {**STUDENT_TRAINING, **training})
    assert set(result) == {"status", "error"}, result
    assert result["status"] == "error"
    assert message in result["error"]


def test_other_data_is_refused(workspace, teacher):
    result = distill(workspace, teacher, "mlp", {**STUDENT_DOMAIN, "seed": 3}, STUDENT_TRAINING)
    assert result == {"status": "error", "error": result["error"]}
    assert "data differs from teacher" in result["error"]
    result = distill(workspace, teacher, "mlp", {"dataset": "circles"}, STUDENT_TRAINING)
    assert "dataset 'circles' differs from the teacher's 'two_moons'" in result["error"]


# ---- resume and replay -----------------------------------------------------------------------
class StopAtStep(Callback):
    def __init__(self, event, step):
        self.event, self.step = event, step

    def on_log(self, row):
        if row["step"] == self.step:
            self.event.set()


def test_a_stopped_student_resumes_with_its_distillation_loss(
    workspace, teacher, tmp_path, teacher_home
):
    from engine.workspace import Workspace

    training = {**STUDENT_TRAINING, "epochs": 4, "log_every": 1}
    clean_ws = Workspace(tmp_path / "clean")
    copy_variant(teacher_home[0], clean_ws.home, teacher)
    clean = distill(clean_ws, teacher, "mlp", STUDENT_DOMAIN, training)
    assert clean["status"] == "ok"

    stop = threading.Event()
    stopped = distill(
        workspace, teacher, "mlp", STUDENT_DOMAIN, training,
        callbacks=[StopAtStep(stop, 37)], cancel_event=stop,
    )  # fmt: skip
    assert stopped["status"] == "error" and "trainwright resume" in stopped["error"]
    student = workspace.variant(clean["modelId"])
    assert VariantMetadata.load(student.metadata_path).extra["teacher"]["variant"] == teacher
    session = trainer_for(workspace, student).resume()
    assert session.status == "completed"
    assert session.weights_sha256 == clean["distilledRun"]["weights_sha256"]
    assert type(trainer_for(workspace, student).objective).__name__ == "DistillObjective"

    # Replay trains a copy at another home; the teacher is still found in the workspace.
    copy = student.at_home(tmp_path / "replay")
    replayed = trainer_for(workspace, copy).train()
    assert replayed.weights_sha256 == session.weights_sha256


# ---- CLI -------------------------------------------------------------------------------------
def test_cli_distill(workspace, teacher, capsys):
    from engine.cli import main

    argv = ["distill", teacher, "mlp", "-p", "hidden_dim=16", "-p", "num_hidden_layers=2"]
    argv += ["-t", "epochs=2", "-t", "threads=1", "-t", "temperature=2", "-t", "alpha=0.5"]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "ok"
    config = workspace.variant(result["modelId"]).config
    assert (config.strategy_params["temperature"], config.strategy_params["alpha"]) == (2.0, 0.5)
    assert config.training.epochs == 2
    assert main(argv) == 2  # it exists now
    assert "already exists" in capsys.readouterr().err
    assert main(["distill", "nope", "mlp"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "trainwright: error: teacher variant 'nope' was not found"
    )
    assert main(["distill", teacher, "mlp", "-t", "alpha=2"]) == 2
    assert "alpha" in capsys.readouterr().err
