"""Training strategies: auto selection, merged hyperparameters, user strategies, trainer_for."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch.nn.functional as F
from helpers.teacher import STUDENT_DOMAIN

from engine.errors import TrainwrightError
from engine.params import ParameterSpec
from engine.strategies import (
    StrategyConfig,
    StrategyOrchestrator,
    StrategyRejected,
    TrainingStrategy,
    get_strategy,
    register_strategy,
    run_strategy,
    strategy_names,
    trainer_for,
    unregister_strategy,
)

FAST = {"epochs": 2, "threads": 1}


def test_auto_picks_distill_when_a_teacher_is_named_and_native_otherwise(workspace, teacher):
    orchestrator = StrategyOrchestrator(workspace)
    plain = StrategyConfig(family="mlp", domain=STUDENT_DOMAIN, training=FAST)
    assert orchestrator.select(plain).name == "native"
    student = plain.model_copy(update={"strategy_params": {"teacher": teacher}})
    assert orchestrator.select(student).name == "distill"
    assert strategy_names()[-1] == "native"  # native is auto's last resort


def test_explicit_names_and_refusals(workspace, teacher):
    orchestrator = StrategyOrchestrator(workspace)
    config = StrategyConfig(family="mlp", strategy="native", strategy_params={"teacher": teacher})
    with pytest.raises(StrategyRejected, match="takes no strategy parameters"):
        orchestrator.select(config)
    with pytest.raises(StrategyRejected, match="needs a teacher"):
        orchestrator.select(StrategyConfig(family="mlp", strategy="distill"))
    with pytest.raises(TrainwrightError, match="unknown training strategy 'nope'"):
        orchestrator.select(StrategyConfig(family="mlp", strategy="nope"))
    with pytest.raises(StrategyRejected, match="no training strategy accepts"):
        orchestrator.select(StrategyConfig(family="mlp", strategy_params={"smoothing": 0.1}))
    result = run_strategy(workspace, StrategyConfig(family="mlp", strategy="nope"))
    assert set(result) == {"status", "error"} and result["status"] == "error"


def test_merged_hyperparameters_are_what_the_config_records(workspace, teacher):
    config = StrategyConfig(
        family="mlp",
        domain=STUDENT_DOMAIN,
        training=FAST,
        strategy="distill",
        strategy_params={"teacher": teacher, "alpha": 0.5},
    )
    variant = get_strategy("distill", workspace).variant(config)
    assert variant.config.strategy == "distill"
    assert variant.config.strategy_params == {
        "teacher": teacher,
        "teacher_family": "mlp",
        "temperature": 4.0,
        "alpha": 0.5,
    }
    native = workspace.create_variant("mlp", STUDENT_DOMAIN, FAST)
    assert variant.name != native.name and variant.config.config_hash != native.config.config_hash


def test_native_through_the_orchestrator_is_an_ordinary_run(workspace):
    result = run_strategy(
        workspace, StrategyConfig(family="mlp", domain=STUDENT_DOMAIN, training=FAST)
    )
    assert result["status"] == "ok" and result["strategy"] == "native"
    assert result["distilledRun"] is None
    assert result["modelId"] == workspace.create_variant("mlp", STUDENT_DOMAIN, FAST).name
    assert result["metrics"]["epoch"] == 2
    trainer = trainer_for(workspace, workspace.variant(result["modelId"]))
    assert type(trainer.objective).__name__ == "FamilyObjective"


class LabelSmoothing(TrainingStrategy):
    """A user strategy: cross-entropy with label smoothing."""

    name = "label_smoothing"
    parameters: ClassVar[list[ParameterSpec]] = [
        ParameterSpec(name="smoothing", type="float", default=0.1, min=0, max=1)
    ]

    def validate(self, config):
        if "smoothing" not in config.strategy_params:
            raise StrategyRejected("needs strategy_params.smoothing")
        self.resolve(config)

    def objective(self, variant):
        smoothing = variant.config.strategy_params["smoothing"]
        return lambda outputs, targets, inputs: F.cross_entropy(
            outputs, targets, label_smoothing=smoothing
        )

    def metadata_extra(self, variant):
        return {"smoothed": True}


@pytest.fixture
def user_strategy():
    register_strategy(LabelSmoothing)
    yield LabelSmoothing
    unregister_strategy(LabelSmoothing.name)


def test_user_strategies_register_the_same_way(workspace, user_strategy):
    assert strategy_names() == ["distill", "label_smoothing", "native"]
    config = StrategyConfig(
        family="mlp", domain=STUDENT_DOMAIN, training=FAST, strategy_params={"smoothing": 0.2}
    )
    result = run_strategy(workspace, config)
    assert result["status"] == "ok" and result["strategy"] == "label_smoothing"
    variant = workspace.variant(result["modelId"])
    assert variant.config.strategy_params == {"smoothing": 0.2}
    import json

    assert json.loads(variant.metadata_path.read_text())["extra"] == {"smoothed": True}
    trainer = trainer_for(workspace, variant)
    assert trainer.objective is not None and type(trainer.objective).__name__ == "function"
    with pytest.raises(ValueError, match="already registered"):

        class Clash(LabelSmoothing):
            pass

        register_strategy(Clash)
