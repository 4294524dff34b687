"""Random and TPE searches (Optuna) with pruning: their spaces and refusals, the study beside
sweep.json, pruned trials, reproducibility by seed, stop/kill and resume, the CLI."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from helpers.sweeps import kill_sweep_midway, read_sweep_json

from engine.metadata import VariantMetadata
from engine.sweeps import SweepError, list_sweeps, load_sweep, plan_sweep, run_sweep, sweep
from engine.sweeps.search import STUDY_FILE, study_path
from engine.training.callbacks import Callback
from engine.training.checkpoints import latest_valid_full

optuna = pytest.importorskip("optuna", reason="random and TPE searches need the optuna package")

SMALL = {"num_hidden_layers": 1}
FAST = {"threads": 1}
ROOT = Path(__file__).resolve().parents[1]


def stable(rows):
    """Rows without what records when or how long (compared across runs)."""
    return [r.model_dump(exclude={"duration_s", "finished_at"}) for r in rows]


def search(workspace, kind="random", trials=4, grid=None, training=None, **options):
    grid = grid or {"hidden_dim": "8..32", "lr": "1e-3..1e-1:log"}
    training = {**FAST, "epochs": 3, **(training or {})}
    return sweep(workspace, "mlp", grid, SMALL, training, search=kind, trials=trials, **options)


# ---- the space ---------------------------------------------------------------------------------
def test_ranges_and_lists_make_the_space(workspace):
    plan = plan_sweep(
        workspace,
        "mlp",
        {"hidden_dim": "8..256", "lr": "1e-4..1e-1:log", "optimizer": "adam, sgd"},
        search="tpe",
        trials=5,
    )
    spec = plan.spec
    assert spec.search == "tpe" and spec.trials == 5 and plan.total == 5
    assert plan.combinations == []  # drawn as the search runs
    assert spec.grid == {"optimizer": ["adam", "sgd"]}
    hidden, lr = spec.ranges["hidden_dim"], spec.ranges["lr"]
    assert (hidden.low, hidden.high, hidden.integer, hidden.log) == (8, 256, True, False)
    assert (lr.low, lr.high, lr.integer, lr.log) == (1e-4, 1e-1, False, True)
    assert spec.objective == "test_accuracy:max"  # two_moons is a classification
    regression = plan_sweep(
        workspace, "mlp", {"lr": "1e-3..1e-2"}, {"dataset": "diabetes"}, search="random"
    )
    assert regression.spec.objective == "test_loss:min" and regression.spec.trials == 20


@pytest.mark.parametrize(
    "grid, options, message",
    [
        ({"epochs": "0..10"}, {}, "Epoch out of range (1-500): 0"),
        ({"lr": "0..0.1:log"}, {}, "out of range"),
        ({"lr": "0.1..0.01"}, {}, "a range goes from low to high"),
        ({"hidden_dim": "8..8"}, {}, "two different ends"),
        ({"optimizer": "adam..sgd"}, {}, "takes a list of values, not a range"),
        ({"hidden_dim": "8..32"}, {"search": "grid"}, "needs --search random, tpe or llm"),
        (
            {"lr": "1e-3,1e-2"},
            {"search": "grid", "trials": 4},
            "--trials is for random, tpe and llm searches",
        ),
        ({"lr": "1e-3,1e-2"}, {"search": "grid", "prune": "median"}, "pruning is for random"),
        ({"lr": "1e-3,1e-2"}, {"trials": 0}, "trials must be between 1 and 1000"),
        ({"lr": "1e-3,1e-2"}, {"objective": "accuracy"}, "the metric must be one of"),
        ({"lr": "1e-3,1e-2"}, {"objective": "test_loss:up"}, "max or min"),
        ({"lr": "1e-3,1e-2"}, {"search": "bayes"}, "search 'bayes' is not one of"),
    ],
)
def test_a_bad_space_is_refused_with_the_rule(workspace, grid, options, message):
    options = {"search": "random", **options}
    with pytest.raises(SweepError) as caught:
        plan_sweep(workspace, "mlp", grid, **options)
    assert message in str(caught.value)


def test_a_log_range_must_start_above_zero(workspace):
    with pytest.raises(SweepError, match="a :log range needs a low end above 0"):
        plan_sweep(workspace, "mlp", {"dropout": "0..0.5:log"}, search="random")


# ---- running ---------------------------------------------------------------------------------
def test_tpe_with_median_pruning_prunes_and_finds_a_good_model(workspace):
    """The acceptance search: 12 TPE trials with median pruning on two_moons."""
    record = search(
        workspace,
        "tpe",
        trials=12,
        grid={"hidden_dim": "8..64", "lr": "1e-3..1e-1:log"},
        training={"epochs": 10},
        prune="median",
    )
    assert record.status == "completed" and len(record.rows) == 12
    assert study_path(workspace.home, record.id).name == STUDY_FILE
    assert study_path(workspace.home, record.id).is_file()
    pruned = [r for r in record.rows if r.result == "pruned"]
    completed = [r for r in record.rows if r.result == "completed"]
    assert pruned and completed and len(pruned) + len(completed) == 12
    assert max(r.objective for r in completed) >= 0.97
    for row in pruned:  # stopped early, resumable, and the study knows it was pruned
        assert 1 <= row.stopped_epoch < 10 and row.error is None
        variant = workspace.variant(row.variant)
        meta = VariantMetadata.load(variant.metadata_path)
        assert meta.status == "cancelled" and meta.epochs_completed == row.stopped_epoch
        latest_valid_full(variant.checkpoints_dir)  # raises if there is none
    for row in completed:  # the objective is the variant's own final test accuracy
        meta = VariantMetadata.load(workspace.variant(row.variant).metadata_path)
        assert row.objective == meta.final_metrics["test_accuracy"] == row.metric_score
    study = optuna.load_study(
        study_name="sweep",
        storage=optuna.storages.journal.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(study_path(workspace.home, record.id)))
        ),
    )
    states = [t.state.name for t in study.trials]
    assert states == ["PRUNED" if r.result == "pruned" else "COMPLETE" for r in record.rows]
    assert [t.params["hidden_dim"] for t in study.trials] == [
        r.parameters["hidden_dim"] for r in record.rows
    ]


def test_the_same_seed_draws_the_same_trials_and_results(workspace, tmp_path):
    from engine.workspace import Workspace

    first = search(workspace, "random", seed=7)
    again = search(Workspace(tmp_path / "again"), "random", seed=7)
    other = search(Workspace(tmp_path / "other"), "random", seed=8)
    assert stable(first.rows) == stable(again.rows)
    assert [r.weights_sha256 for r in first.rows] == [r.weights_sha256 for r in again.rows]
    assert [r.parameters for r in first.rows] != [r.parameters for r in other.rows]
    assert len({r.parameters["hidden_dim"] for r in first.rows}) > 1  # drawn, not repeated
    for row in first.rows:
        assert 8 <= row.parameters["hidden_dim"] <= 32 and 1e-3 <= row.parameters["lr"] <= 1e-1


class StopAfter(Callback):
    """Sets `cancel` at the end of the epoch number `epochs` counted over the whole sweep."""

    def __init__(self, cancel: threading.Event, epochs: int) -> None:
        self.cancel, self.left = cancel, epochs

    def on_epoch_end(self, metrics) -> None:
        self.left -= 1
        if self.left == 0:
            self.cancel.set()


def test_a_stopped_search_resumes_to_the_same_trials(workspace, tmp_path):
    from engine.workspace import Workspace

    options = {"training": {"epochs": 4}, "prune": "median", "trials": 5}
    clean = search(Workspace(tmp_path / "clean"), "tpe", **options)
    cancel = threading.Event()
    record = search(
        workspace, "tpe", callbacks=[StopAfter(cancel, 6)], cancel_event=cancel, **options
    )
    assert record.status == "cancelled"
    assert [r.result for r in record.rows][-1] == "cancelled"  # the second trial, mid-run
    resumed = run_sweep(workspace, record.id)
    assert resumed.status == "completed"
    assert stable(resumed.rows) == stable(clean.rows)
    assert [r.weights_sha256 for r in resumed.rows] == [r.weights_sha256 for r in clean.rows]


def test_a_killed_search_resumes_without_rerunning_finished_trials(workspace, tmp_path):
    """SIGKILL `trainwright sweep --search random` once a trial is stored and the next has a
    checkpoint; `sweep resume` trains only what is left and matches an uninterrupted search."""
    from engine.cli import main
    from engine.workspace import Workspace

    home = workspace.home
    command = [sys.executable, "-m", "engine.cli", "sweep", "mlp", "--search", "random"]
    command += ["--trials", "3", "--seed", "3", "-g", "hidden_dim=8..32", "-g", "epochs=3..30"]
    command += ["-p", "num_hidden_layers=1", "-t", "threads=1", "-t", "resume_every=1"]
    log = home.parent / "sweep.log"
    killed_in = kill_sweep_midway(command, home, log)
    assert killed_in is not None, log.read_text()[-2000:]
    (sweep_file,) = (home / "sweeps").glob("*/sweep.json")
    before = read_sweep_json(sweep_file)
    finished = {r["variant"]: r["finished_at"] for r in before["rows"]}
    assert [s.status for s in list_sweeps(workspace)] == ["interrupted"]

    assert main(["sweep", "resume", sweep_file.parent.name, "--json"]) == 0
    resumed = load_sweep(workspace, sweep_file.parent.name)
    for row in resumed.rows:  # the trials finished before the kill were not run again
        if row.variant in finished:
            assert row.finished_at == finished[row.variant]
    meta = VariantMetadata.load(home / "variants" / "mlp" / killed_in / "metadata.json")
    assert meta.status == "completed"

    clean_ws = Workspace(tmp_path / "clean")
    grid = {"hidden_dim": "8..32", "epochs": "3..30"}
    training = {**FAST, "resume_every": 1}
    clean = sweep(clean_ws, "mlp", grid, SMALL, training, search="random", trials=3, seed=3)
    assert stable(resumed.rows) == stable(clean.rows)
    assert [r.weights_sha256 for r in resumed.rows] == [r.weights_sha256 for r in clean.rows]


@pytest.mark.slow  # two spawned worker processes each import torch
def test_a_search_runs_trials_in_parallel_workers(workspace):
    # The workers report to the study through its journal; with 2 epochs no trial can be
    # pruned (the median pruner waits for step 2, the last), whichever trials finish first.
    record = search(
        workspace, "random", trials=3, parallel=2, prune="median", seed=1, training={"epochs": 2}
    )
    assert record.status == "completed" and len(record.rows) == 3
    assert all(r.result == "completed" for r in record.rows)
    assert [r.index for r in record.rows] == [0, 1, 2]


# ---- CLI -------------------------------------------------------------------------------------
def test_cli_dry_run_prints_the_space(capsys):
    from engine.cli import main

    argv = ["sweep", "mlp", "--search", "tpe", "--trials", "8", "-g", "lr=1e-4..1e-1:log"]
    assert main([*argv, "-g", "hidden_dim=16..256", "--prune", "hyperband", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "lr = 0.0001..0.1:log" in out and "hidden_dim = 16..256" in out
    assert "tpe search: 8 trials, objective test_accuracy:max, pruning hyperband, seed 0" in out


def test_cli_search_prints_each_trial_and_the_best(workspace, capsys):
    from engine.cli import main

    argv = ["sweep", "mlp", "--search", "random", "--trials", "2", "-g", "hidden_dim=8..16"]
    argv += ["-p", "num_hidden_layers=1", "-t", "epochs=2", "-t", "threads=1"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert ": 2 trials" in captured.err and "[2/2] completed" in captured.err
    assert "best: mlp_two_moons_h" in captured.out and "(test_accuracy " in captured.out


def test_cli_refuses_a_range_in_a_grid_with_exit_2(capsys):
    from engine.cli import main

    assert main(["sweep", "mlp", "-g", "hidden_dim=8..32"]) == 2
    err = capsys.readouterr().err
    assert "a range (8..32) needs --search random, tpe or llm" in err
    assert main(["sweep", "resume", "x", "--search", "tpe"]) == 2


def test_the_sweeps_tab_shows_a_searchs_trials_and_pruned_runs(workspace, qtbot):
    """A past search in the Sweeps tab's runs table: a column per searched name (ranges
    too), pruned rows said to be pruned, with the epoch they reached."""
    from PySide6.QtCore import Qt

    from desktop_app.sweeps.runs_model import RunsTableModel

    record = search(workspace, "tpe", trials=6, training={"epochs": 6}, prune="median", seed=2)
    model = RunsTableModel()
    model.set_record(record, workspace.registry.spec("mlp"))
    assert model.rowCount() == 6
    assert "hidden_dim" in model.column_keys() and "lr" in model.column_keys()
    result = model.column_of("result")
    texts = [model.index(r, result).data() for r in range(6)]
    assert texts == [row.result for row in record.rows]
    pruned = [r for r, row in enumerate(record.rows) if row.result == "pruned"]
    assert pruned, texts
    tip = model.index(pruned[0], result).data(Qt.ItemDataRole.ToolTipRole)
    assert f"after epoch {record.rows[pruned[0]].stopped_epoch}" in tip
    assert model.best_row() is not None
