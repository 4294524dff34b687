"""MLPs on tabular data: a DynamicMLPModel over any dataset of the dataset registry."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from engine.datasets import DatasetError, TargetColumnError, dataset_defaults, get_dataset
from engine.errors import ParameterError
from engine.families.base import FamilyBase, Split

if TYPE_CHECKING:
    from torch import nn

# Linear baseline mode has no hidden layers; its runs record these fixed values instead.
LINEAR_BASELINE_FIXED = {"hidden_dim": 128, "num_hidden_layers": 2, "dropout": 0.1}


class MLPFamily(FamilyBase):
    def validate_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        params = dict(params)
        if params["linear_baseline"]:
            params.update(LINEAR_BASELINE_FIXED)
        try:
            source = _source(params["dataset"], params["target"] or None, _task(params))
            if not params["dataset"].startswith("csv:"):
                # A built-in's target and task are fixed: a different one is refused, not ignored.
                get_dataset(
                    params["dataset"], target=params["target"] or None, task_type=_task(params)
                )
        except TargetColumnError as exc:
            raise ParameterError("target", str(exc)) from None
        except DatasetError as exc:
            raise ParameterError("dataset", str(exc)) from None
        if params["dataset"].startswith("csv:"):
            source.load(seed=params["seed"])  # a bad cell is reported now, not mid-run
        return params

    def task_type(self, params: dict[str, Any]) -> str:
        return _source(params["dataset"], params["target"] or None, _task(params)).info.task_type

    def training_defaults(self, params: dict[str, Any]) -> dict[str, Any]:
        source = _source(params["dataset"], params["target"] or None, _task(params))
        return {**self.spec.training_defaults, **_defaults(source)}

    def defaults_source(self, params: dict[str, Any]) -> str:
        return f"dataset {params['dataset']}"

    def create_model(self, params: dict[str, Any]) -> nn.Module:
        from engine.models import DynamicMLPModel, LayerConfig, MLPConfig

        data = _source(params["dataset"], params["target"] or None, _task(params)).load(
            seed=params["seed"]
        )
        layers = (
            []
            if params["linear_baseline"]
            else [
                LayerConfig(
                    units=params["hidden_dim"],
                    activation=params["activation"],
                    dropout=params["dropout"],
                    batch_norm=params["batch_norm"],
                )
                for _ in range(params["num_hidden_layers"])
            ]
        )
        config = MLPConfig(
            input_dim=data.num_features,
            output_dim=data.num_classes or 1,
            task_type=data.task_type,
            layers=layers,
        )
        return DynamicMLPModel(config)

    def generate_training_dataset(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> Split:
        from engine.datasets import train_test_split

        source = _source(params["dataset"], params["target"] or None, _task(params))
        data = source.load(seed=params["seed"])
        return train_test_split(data, 1.0 - training_fraction, data_seed)


def _task(params: dict[str, Any]) -> str | None:
    return None if params["task_type"] == "auto" else params["task_type"]


@cache
def _source(dataset: str, target: str | None, task_type: str | None) -> Any:
    if dataset.startswith("csv:"):
        return get_dataset(dataset, target=target, task_type=task_type)
    return get_dataset(dataset)


def _defaults(source: Any) -> dict[str, Any]:
    defaults = dataset_defaults(source.info.id)
    return {"epochs": defaults.epochs, "lr": defaults.lr, "batch_size": defaults.batch_size}
