"""Real datasets shipped in ``resources/datasets`` (sources and licences in SOURCES.md).

The table is torch-free; a dataset is parsed (torch) when it is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from engine.datasets.types import DatasetDefaults, DatasetInfo, LoadedDataset, read_catalog


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
        """The bundled rows (``seed`` is unused: real data has no randomness to seed).

        Parsed once per process: the file ships with the app and never changes under it."""
        from engine.datasets.tabular import cached_table

        return cached_table(
            f"bundled:{self.filename}",
            "bundled",  # versioned with the app: one content per process
            self.read_text,
            source=self.filename,
            target=self.target,
            task_type=self.info.task_type,
            defaults=self.defaults,
        )[0]


def _from_catalog(entry: dict[str, Any]) -> BundledCsvDataset:
    info = DatasetInfo(
        entry["id"], entry["name"], entry["description"], entry["task_type"], "bundled"
    )
    return BundledCsvDataset(
        info, entry["file"], entry["target"], DatasetDefaults(**entry["defaults"])
    )


# The table is data: resources/datasets/catalog.json.
BUNDLED_DATASETS: tuple[BundledCsvDataset, ...] = tuple(
    _from_catalog(entry) for entry in read_catalog()["bundled"]
)
