"""MLPs on any dataset of the dataset registry: tables, and images as flattened pixels.

Nothing is cached here: a dataset is looked up on every call (the registry keeps the parsed
rows of a user's table per content hash), so an edited CSV is what the next run trains on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.datasets import (
    DatasetError,
    TargetColumnError,
    data_record,
    dataset_defaults,
    get_dataset,
)
from engine.errors import ParameterError
from engine.families.base import FamilyBase, Split

if TYPE_CHECKING:
    from torch import nn

    from engine.datasets import DataRecord, Dataset, LoadedDataset
    from engine.datasets.split import FittedSplit

# Linear baseline mode has no hidden layers; its runs record these fixed values instead.
LINEAR_BASELINE_FIXED = {"hidden_dim": 128, "num_hidden_layers": 2, "dropout": 0.1}


class MLPFamily(FamilyBase):
    def validate_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        params = dict(params)
        if params["linear_baseline"]:
            params.update(LINEAR_BASELINE_FIXED)
        try:
            # A built-in's or an image dataset's target and task are fixed: a different one is
            # refused, not ignored.
            source = self._source(params)
            if source.info.source in ("csv", "imported") and source.info.kind == "tabular":
                source.load(seed=params["seed"])  # a bad cell is reported now, not mid-run
        except TargetColumnError as exc:
            raise ParameterError("target", str(exc)) from None
        except DatasetError as exc:
            raise ParameterError("dataset", str(exc)) from None
        return params

    def task_type(self, params: dict[str, Any]) -> str:
        return self._source(params).info.task_type

    def training_defaults(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.with_dataset_defaults(dataset_defaults(params["dataset"], self.home))

    def defaults_source(self, params: dict[str, Any]) -> str:
        return f"dataset {params['dataset']}"

    def class_names(self, params: dict[str, Any]) -> list[str] | None:
        """Each class index's name: an image dataset's classes, a table's target values (its
        encoded labels); None for regression. A table without names gets "0", "1", …"""
        source = self._source(params)
        if source.info.kind == "images":
            return [str(name) for name in source.class_names]
        if source.info.task_type == "regression":
            return None  # no need to load the data
        data = source.load(seed=params["seed"])
        if data.task_type != "classification":
            return None
        if data.class_names is not None:
            return [str(name) for name in data.class_names]
        return [str(index) for index in range(data.num_classes or 0)]

    def data_record(self, params: dict[str, Any]) -> DataRecord | None:
        """The content hash of the user's data these parameters train on (None: built-in)."""
        return data_record(params["dataset"], self.home)

    def create_model(self, params: dict[str, Any]) -> nn.Module:
        from engine.models import DynamicMLPModel, LayerConfig, MLPConfig

        input_dim, output_dim, task_type = _model_shape(self._source(params), params["seed"])
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
            input_dim=input_dim, output_dim=output_dim, task_type=task_type, layers=layers
        )
        return DynamicMLPModel(config)

    def generate_training_dataset(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> Split:
        """Features standardised by the train rows; a regression target too (`target_scale`
        gives its mean and std, so metrics can be reported in the target's units)."""
        s = self._split(params, training_fraction, data_seed)
        return s.train_x, s.train_y, s.test_x, s.test_y

    def target_scale(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> tuple[float, float] | None:
        """(mean, std) of the regression target over the train rows of this split, which the
        model learns standardised; None for classification."""
        if self.task_type(params) != "regression":
            return None  # no need to load the data
        target = self._split(params, training_fraction, data_seed).target
        return (target.mean, target.std) if target is not None else None

    def preprocessing(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> dict[str, Any]:
        """What a raw input goes through before this model, as JSON, so a trained variant can
        be used on new data (engine.inference): a table's raw columns, text categories and the
        train rows' feature (and target) scaling; an image dataset's size, channels and the
        per-pixel scaling. Read from the same load and split the run trains on."""
        from engine.datasets import fit_split

        source = self._source(params)
        data = source.load(seed=params["seed"])
        split = fit_split(data, 1.0 - training_fraction, data_seed)
        scaling = {
            "mean": [float(v) for v in split.features.mean.tolist()],
            "std": [float(v) for v in split.features.std.tolist()],
        }
        if source.info.kind == "images":
            from engine.datasets.image_sources import mlp_image_size

            return {
                "kind": "image_flat",
                "image_size": mlp_image_size(source.native_size),
                "channels": source.channels,
                **scaling,
                "class_names": _class_names(data),
            }
        columns, categories = _raw_columns(source, data)
        target = split.target
        return {
            "kind": "table",
            "columns": columns,
            "categories": categories,
            "feature_names": list(data.feature_names),
            **scaling,
            "target": getattr(source, "target", None),  # a synthetic table has no column
            "task_type": data.task_type,
            "class_names": _class_names(data),
            "target_mean": target.mean if target is not None else None,
            "target_std": target.std if target is not None else None,
        }

    def _split(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> FittedSplit:
        from engine.datasets import fit_split

        data = self._source(params).load(seed=params["seed"])
        return fit_split(data, 1.0 - training_fraction, data_seed)

    def _source(self, params: dict[str, Any]) -> Dataset:
        task = None if params["task_type"] == "auto" else params["task_type"]
        return get_dataset(
            params["dataset"], home=self.home, target=params["target"] or None, task_type=task
        )


def _model_shape(source: Any, seed: int) -> tuple[int, int, str]:
    """Inputs, outputs and task of the model for ``source``: an image dataset's from its
    description (flattened at `mlp_image_size`, as its `load` does, without decoding), a
    table's from its rows."""
    if source.info.kind == "images":
        from engine.datasets.image_sources import mlp_image_size

        side = mlp_image_size(source.native_size)
        return source.channels * side * side, len(source.class_names), "classification"
    data = source.load(seed=seed)
    return data.num_features, data.num_classes or 1, data.task_type


def _class_names(data: LoadedDataset) -> list[str] | None:
    """Each class index's name (as `MLPFamily.class_names` gives them); None: regression."""
    if data.task_type != "classification":
        return None
    if data.class_names is not None:
        return [str(name) for name in data.class_names]
    return [str(index) for index in range(data.num_classes or 0)]


def _raw_columns(source: Any, data: LoadedDataset) -> tuple[list[str], dict[str, list[str]]]:
    """A table's raw feature columns in file order and each text column's sorted categories.

    A file-backed table's header and cells are read again with the loader's own rules (which
    column is text, which categories), so new rows can be encoded as its rows were; a
    synthetic table's features are its columns, all numeric. DatasetError if the file no
    longer encodes to the features the run loaded (it changed in between)."""
    from engine.datasets import tabular

    text = _table_text(source)
    if text is None:
        return list(data.feature_names), {}
    shown = getattr(source, "filename", None) or source.info.display_name
    header, rows = tabular._read_rows(text, shown)
    columns = [name for name in header if name != source.target]
    categories: dict[str, list[str]] = {}
    encoded: list[str] = []
    for name in columns:
        j = header.index(name)
        cells = [row[j] for row in rows]
        if tabular._looks_numeric(cells):
            encoded.append(name)
        else:
            categories[name] = sorted(set(cells))
            encoded.extend(f"{name}={category}" for category in categories[name])
    if encoded != list(data.feature_names):
        raise DatasetError(f"{shown}: the table changed while the run started; start it again")
    return columns, categories


def _table_text(source: Any) -> str | None:
    """The CSV text of a bundled, `csv:PATH` or imported table; None for a synthetic one."""
    read_text = getattr(source, "read_text", None)
    if callable(read_text):
        return read_text()
    path = getattr(source, "path", None)
    if path is None:
        return None
    from engine.datasets import tabular

    return tabular._decode(tabular._read_file(path), path)
