"""A sweep's estimated duration from the per-epoch time of earlier runs of its family."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.sweeps.estimate import (
    EpochTime,
    estimate_seconds,
    family_epoch_time,
    format_duration,
    total_epochs,
    variant_epoch_time,
)
from engine.training.config import TrainingConfig
from engine.variants import RunConfig


def make_variant(
    home: Path,
    family: str,
    name: str,
    epoch_times: list[float],
    *,
    status: str = "completed",
    mtime: float | None = None,
) -> Path:
    """A variant directory as discovery reads it, with a chronicle of step and epoch rows."""
    directory = home / "variants" / family / name
    directory.mkdir(parents=True)
    config = RunConfig(family=family, variant=name, domain={}, training=TrainingConfig())
    (directory / "config.json").write_text(config.with_hash().model_dump_json(), encoding="utf-8")
    meta = {
        "family": family,
        "variant": name,
        "config_hash": "x",
        "status": status,
        "created_at": "2024-01-01T00:00:00+00:00",
    }
    (directory / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    lines = []
    for epoch, seconds in enumerate(epoch_times, 1):
        lines.append(json.dumps({"epoch": epoch, "step": epoch * 2 - 1, "loss": 0.5}))
        lines.append(
            json.dumps(
                {"epoch": epoch, "step": epoch * 2, "train_loss": 0.5, "epoch_time": seconds}
            )
        )
    (directory / "chronicle.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if mtime is not None:
        for path in directory.iterdir():
            os.utime(path, (mtime, mtime))
    return directory


def test_a_variant_epoch_time_is_the_median_of_its_epoch_rows(tmp_path):
    directory = make_variant(tmp_path, "mlp", "a", [0.1, 0.3, 0.2, 9.0])
    assert variant_epoch_time(directory) == pytest.approx(0.25)
    assert variant_epoch_time(tmp_path / "missing") is None


def test_only_the_tail_of_a_long_chronicle_is_read(tmp_path):
    directory = make_variant(tmp_path, "mlp", "a", [5.0] * 200 + [0.5] * 200)
    # The tail holds only the last, faster epochs; a cut line at its start is skipped.
    assert variant_epoch_time(directory, tail_bytes=4000) == pytest.approx(0.5)


def test_a_chronicle_without_epoch_time_gives_none(tmp_path):
    directory = make_variant(tmp_path, "mlp", "a", [])
    (directory / "chronicle.jsonl").write_text('{"epoch": 1, "train_loss": 1}\nnot json\n')
    assert variant_epoch_time(directory) is None


def test_family_epoch_time_uses_completed_runs_of_that_family_only(tmp_path):
    make_variant(tmp_path, "mlp", "a", [0.1, 0.1], mtime=1_000_000)
    make_variant(tmp_path, "mlp", "b", [0.3, 0.3], mtime=2_000_000)
    make_variant(tmp_path, "mlp", "c", [0.2], mtime=3_000_000)
    make_variant(tmp_path, "mlp", "failed", [50.0], status="failed")
    make_variant(tmp_path, "other", "d", [70.0])
    assert family_epoch_time(tmp_path, "mlp") == EpochTime(seconds=0.2, runs=3)
    # The most recently modified first: with two runs, c (0.2) and b (0.3).
    assert family_epoch_time(tmp_path, "mlp", runs=2) == EpochTime(seconds=0.25, runs=2)
    assert family_epoch_time(tmp_path, "modulo_addition_1layer") is None
    assert family_epoch_time(tmp_path / "empty", "mlp") is None


def test_total_epochs_and_the_estimate_use_swept_or_fixed_epochs():
    combos = [{"epochs": 1, "lr": 0.1}, {"epochs": 2, "lr": 0.1}, {"lr": 0.2}]
    assert total_epochs(combos, 10) == 13
    assert estimate_seconds(combos, 10, 0.5) == pytest.approx(6.5)
    assert estimate_seconds([], 10, 0.5) == 0
    assert estimate_seconds(combos, 10, -1.0) == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "under 1 s"),
        (40.4, "about 40 s"),
        (59.4, "about 59 s"),
        (150, "about 2 min"),
        (3600, "about 1 h"),
        (5400, "about 1.5 h"),
        (3 * 86400, "about 3 days"),
        (math.inf, "unknown"),
    ],
)
def test_durations_read_as_words(seconds, text):
    assert format_duration(seconds) == text


def test_the_estimate_imports_no_torch():
    code = "import sys, engine.sweeps.estimate; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
