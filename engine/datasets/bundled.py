"""Real datasets shipped in ``resources/datasets`` (sources and licences in SOURCES.md).

The table is torch-free; a dataset is parsed (torch) when it is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from engine.datasets.types import DatasetDefaults, DatasetInfo, LoadedDataset


@dataclass(frozen=True)
class BundledCsvDataset:
    """A real dataset shipped in ``resources/datasets`` (read via importlib so wheels work)."""

    info: DatasetInfo
    filename: str
    target: str
    defaults: DatasetDefaults

    def read_text(self) -> str:
        return (files("resources") / "datasets" / self.filename).read_text(encoding="utf-8-sig")

    def load(self, seed: int = 0) -> LoadedDataset:
        """The bundled rows (``seed`` is unused: real data has no randomness to seed)."""
        from engine.datasets.tabular import parse_csv_text

        return parse_csv_text(
            self.read_text(),
            source=self.filename,
            target=self.target,
            task_type=self.info.task_type,
            defaults=self.defaults,
        )


BUNDLED_DATASETS: tuple[BundledCsvDataset, ...] = (
    BundledCsvDataset(
        DatasetInfo(
            "iris",
            "Iris",
            "Fisher's iris flowers: 4 measurements, 3 species, 150 rows (UCI, CC BY 4.0).",
            "classification",
            "bundled",
        ),
        "iris.csv",
        "species",
        DatasetDefaults(epochs=30, lr=1e-2, batch_size=16),
    ),
    BundledCsvDataset(
        DatasetInfo(
            "wine",
            "Wine",
            "Chemical analysis of wines from 3 cultivars: 13 features, 178 rows (UCI, CC BY 4.0).",
            "classification",
            "bundled",
        ),
        "wine.csv",
        "cultivar",
        DatasetDefaults(epochs=40, lr=1e-2, batch_size=16),
    ),
    BundledCsvDataset(
        DatasetInfo(
            "diabetes",
            "Diabetes",
            "Disease progression of 442 diabetes patients from 10 baseline measurements "
            "(Efron et al. 2004, via scikit-learn, BSD-3-Clause).",
            "regression",
            "bundled",
        ),
        "diabetes.csv",
        "progression",
        DatasetDefaults(epochs=100, lr=3e-3, batch_size=32),
    ),
)
