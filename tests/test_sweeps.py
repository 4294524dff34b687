"""Sweeps: list validators, the grid, the runner (failures, reuse, stop/kill and resume), CLI."""

from __future__ import annotations

import json
import sys
import threading

import pytest
from helpers.sweeps import kill_sweep_midway

from engine.sweeps import (
    NA,
    SweepError,
    count_combinations,
    create_sweep,
    list_sweeps,
    load_sweep,
    plan_sweep,
    run_sweep,
    sweep,
    validate_sweep_list,
)
from engine.training.callbacks import Callback

# Tiny, fast runs: a 8-unit, 1-layer MLP on two_moons (1000 rows), one torch thread.
SMALL = {"hidden_dim": 8, "num_hidden_layers": 1}
FAST = {"threads": 1}


def stable(rows):
    """Rows without what records when or how long (compared across runs)."""
    return [r.model_dump(exclude={"duration_s", "finished_at"}) for r in rows]


# ---- validators ------------------------------------------------------------------------------
def test_zero_epochs_gives_the_exact_message():
    answer = validate_sweep_list("epochs", "0,10")
    assert not answer.ok
    assert answer.error == "Epoch out of range (1-500): 0"
    assert answer.values is None


def test_valid_lists_parse_to_typed_values():
    assert validate_sweep_list("epochs", "10, 50, 100").values == [10, 50, 100]
    assert validate_sweep_list("lr", "1e-3, 3e-3").values == [0.001, 0.003]
    assert validate_sweep_list("dropout", "0 0.5").values == [0.0, 0.5]  # spaces separate too
    assert validate_sweep_list("epochs", [1, 2]).values == [1, 2]  # a list works as well
    assert all(isinstance(v, int) for v in validate_sweep_list("batch_size", "1e1, 20").values)


EDGES = [
    # name, allowed at the edge, just past the edge, the message for the latter
    ("epochs", "1", "0", "Epoch out of range (1-500): 0"),
    ("epochs", "500", "501", "Epoch out of range (1-500): 501"),
    ("batch_size", "1", "0", "Batch size out of range (1-200): 0"),
    ("batch_size", "200", "201", "Batch size out of range (1-200): 201"),
    ("hidden_dim", "8", "7", "Hidden dim out of range (8-500): 7"),
    ("hidden_dim", "500", "501", "Hidden dim out of range (8-500): 501"),
    ("num_hidden_layers", "1", "0", "Number of hidden layers out of range (1-15): 0"),
    ("num_hidden_layers", "15", "16", "Number of hidden layers out of range (1-15): 16"),
    ("dropout", "0", "-0.01", "Dropout out of range (0-0.9): -0.01"),
    ("dropout", "0.9", "0.91", "Dropout out of range (0-0.9): 0.91"),
    ("test_size", "0.001", "0", "Test size out of range (0-1, exclusive): 0"),
    ("test_size", "0.999", "1", "Test size out of range (0-1, exclusive): 1"),
    ("lr", "1e-9", "0", "Learning rate out of range (0-1, excluding 0): 0"),
    ("lr", "1", "1.001", "Learning rate out of range (0-1, excluding 0): 1.001"),
]


@pytest.mark.parametrize(("name", "edge", "past", "message"), EDGES)
def test_each_bound_at_and_just_past_its_edge(name, edge, past, message):
    assert validate_sweep_list(name, edge).ok
    answer = validate_sweep_list(name, f"{edge}, {past}")
    assert (answer.ok, answer.error) == (False, message)


LABELS = [
    ("epochs", "Epoch"),
    ("batch_size", "Batch size"),
    ("hidden_dim", "Hidden dim"),
    ("num_hidden_layers", "Number of hidden layers"),
    ("dropout", "Dropout"),
    ("test_size", "Test size"),
    ("lr", "Learning rate"),
]


@pytest.mark.parametrize(("name", "label"), LABELS)
def test_a_value_that_is_not_a_number(name, label):
    answer = validate_sweep_list(name, "abc")
    assert (answer.ok, answer.error) == (False, f"{label} values must be numbers: abc")
    assert validate_sweep_list(name, "nan").error == f"{label} values must be numbers: nan"


def test_other_list_problems_have_messages():
    assert validate_sweep_list("epochs", "2.5").error == "Epoch values must be whole numbers: 2.5"
    assert validate_sweep_list("epochs", " , ").error == "Epoch needs at least one value"
    assert validate_sweep_list("epochs", "10, 10").error == "Epoch values must not repeat: 10"
    assert "cannot sweep 'device'" in validate_sweep_list("device", "cpu").error
    assert validate_sweep_list("optimizer", "adam, sgd").values == ["adam", "sgd"]
    assert validate_sweep_list("optimizer", "adam, foo").error.startswith(
        "Optimizer value not allowed: foo"
    )


def test_other_families_use_their_general_schema(workspace):
    answer = validate_sweep_list("epochs", "600", "modulo_addition_1layer", registry=workspace)
    assert answer.ok  # only mlp narrows epochs to 500 for sweeps
    answer = validate_sweep_list("d_model", "4", "modulo_addition_1layer", registry=workspace)
    assert answer.error == "D model out of range (8-1024): 4"


# ---- the grid --------------------------------------------------------------------------------
def test_test_size_maps_to_training_fraction(workspace):
    plan = plan_sweep(workspace, "mlp", {"test_size": "0.2, 0.3"}, SMALL)
    from engine.sweeps.plan import combination_config
    from engine.sweeps.schema import sweep_schema

    schema = sweep_schema(workspace.registry.spec("mlp"))
    fractions = [combination_config(schema, plan.spec, c)[1] for c in plan.combinations]
    assert fractions == [{"training_fraction": 0.8}, {"training_fraction": 0.7}]
    with pytest.raises(SweepError, match="both swept and fixed"):
        plan_sweep(workspace, "mlp", {"test_size": "0.2"}, training={"training_fraction": 0.5})


def test_more_than_1000_combinations_are_refused_with_the_count(workspace):
    grid = {
        "epochs": ", ".join(str(e) for e in range(1, 12)),  # 11
        "hidden_dim": ", ".join(str(h) for h in range(8, 18)),  # 10
        "lr": ", ".join(f"{0.01 * k:g}" for k in range(1, 11)),  # 10
    }
    with pytest.raises(SweepError, match="1100 combinations; at most 1000"):
        plan_sweep(workspace, "mlp", grid)
    grid["epochs"] = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    assert plan_sweep(workspace, "mlp", grid).total == 1000


def test_linear_baseline_lists_do_not_multiply_the_grid(workspace):
    spec = workspace.registry.spec("mlp")
    grid = {"hidden_dim": [16, 32], "num_hidden_layers": [1, 3], "dropout": [0.0, 0.5]}
    assert count_combinations(spec, {**grid, "epochs": [1, 2]}, {"linear_baseline": True}) == 2
    assert count_combinations(spec, {**grid, "epochs": [1, 2]}) == 16
    swept = {"linear_baseline": [False, True], "hidden_dim": [16, 32]}
    plan = plan_sweep(workspace, "mlp", swept)
    assert plan.total == count_combinations(spec, plan.spec.grid) == 3
    assert plan.combinations == [  # schema order: hidden_dim varies slower than the switch
        {"hidden_dim": 16, "linear_baseline": False},
        {"linear_baseline": True},
        {"hidden_dim": 32, "linear_baseline": False},
    ]


# ---- running ---------------------------------------------------------------------------------
def test_three_by_two_runs_six_combinations_in_a_stable_order(workspace):
    progress = []
    # Given lr first: the order is still the schema's (epochs, then lr varying fastest).
    record = sweep(
        workspace,
        "mlp",
        {"lr": "0.01, 0.02", "epochs": "1, 2, 3"},
        SMALL,
        FAST,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert progress == [(i, 6) for i in range(1, 7)]
    assert record.status == "completed" and record.total == 6 and len(record.rows) == 6
    expected = [{"epochs": e, "lr": lr} for e in (1, 2, 3) for lr in (0.01, 0.02)]
    assert [r.parameters for r in record.rows] == expected
    assert [r.index for r in record.rows] == list(range(6))
    for row in record.rows:
        assert row.result == "completed" and row.metric_name == "accuracy"
        assert 0 <= row.metric_score <= 1
        assert isinstance(row.train_loss, float) and isinstance(row.test_loss, float)
        variant = workspace.variant(row.variant)
        assert variant.config.training.epochs == row.parameters["epochs"]
        assert variant.config.training.lr == row.parameters["lr"]
    stored = json.loads((workspace.home / "sweeps" / record.id / "sweep.json").read_text())
    assert stored["rows"] == [r.model_dump(mode="json") for r in record.rows]
    assert stored["spec"]["grid"] == {"epochs": [1, 2, 3], "lr": [0.01, 0.02]}
    assert [s.status for s in list_sweeps(workspace)] == ["completed"]


def test_a_failing_combination_gives_an_na_row_and_the_sweep_goes_on(workspace):
    # A divergence threshold no loss can stay under fails the first combination.
    record = sweep(
        workspace, "mlp", {"divergence_threshold": "1e-9, 1e6", "epochs": "1"}, SMALL, FAST
    )
    failed, completed = record.rows
    assert failed.result == "failed"
    assert (failed.metric_name, failed.metric_score, failed.train_loss, failed.test_loss) == (
        NA,
        NA,
        NA,
        NA,
    )
    assert "diverged" in failed.error and failed.variant
    assert completed.result == "completed" and completed.metric_name == "accuracy"
    assert record.status == "completed"


def test_regression_rows_report_r2(workspace):
    record = sweep(workspace, "mlp", {"epochs": "1"}, {**SMALL, "dataset": "sine"}, FAST)
    assert record.rows[0].metric_name == "r2"


def test_linear_baseline_runs_record_the_fixed_values(workspace):
    grid = {"hidden_dim": "16, 32", "num_hidden_layers": "1, 3", "dropout": "0, 0.5"}
    record = sweep(workspace, "mlp", {**grid, "epochs": "1, 2"}, {"linear_baseline": True}, FAST)
    assert record.total == 2 and len(record.rows) == 2
    assert record.ignored == ["hidden_dim", "num_hidden_layers", "dropout"]
    for row in record.rows:
        domain = workspace.variant(row.variant).config.domain
        assert (domain["hidden_dim"], domain["num_hidden_layers"], domain["dropout"]) == (
            128,
            2,
            0.1,
        )
        assert row.parameters == {
            "hidden_dim": 128,
            "num_hidden_layers": 2,
            "dropout": 0.1,
            "epochs": row.parameters["epochs"],
        }
    assert [r.parameters["epochs"] for r in record.rows] == [1, 2]


def test_completed_variants_are_reused_so_sweeps_compose(workspace):
    first = sweep(workspace, "mlp", {"epochs": "1, 2"}, SMALL, FAST)
    before = {r.variant: r.weights_sha256 for r in first.rows}
    mtimes = {v: (workspace.variant(v).metadata_path).stat().st_mtime_ns for v in before}
    second = sweep(workspace, "mlp", {"epochs": "2, 3"}, SMALL, FAST)
    reused, fresh = second.rows
    assert reused.reused and not fresh.reused
    assert reused.variant == first.rows[1].variant
    assert reused.weights_sha256 == before[reused.variant]
    assert (
        workspace.variant(reused.variant).metadata_path.stat().st_mtime_ns == mtimes[reused.variant]
    )


class StopAt(Callback):
    """Sets the event at an epoch of the n-th run (counting on_train_start calls)."""

    def __init__(self, event, run, epoch):
        self.event, self.run, self.epoch, self.runs = event, run, epoch, 0

    def on_train_start(self, info):
        self.runs += 1

    def on_epoch_end(self, metrics):
        if self.runs == self.run and metrics.epoch == self.epoch:
            self.event.set()


def test_a_stopped_sweep_resumes_to_the_rows_of_an_uninterrupted_one(workspace, tmp_path):
    from engine.workspace import Workspace

    grid = {"epochs": "3, 4", "lr": "0.01, 0.02"}
    clean = sweep(Workspace(tmp_path / "clean"), "mlp", grid, SMALL, FAST)

    record = create_sweep(workspace, "mlp", grid, SMALL, FAST)
    stop = threading.Event()
    progress = []
    stopped = run_sweep(
        workspace,
        record.id,
        callbacks=[StopAt(stop, run=2, epoch=2)],
        cancel_event=stop,
        on_progress=lambda d, t: progress.append((d, t)),
    )
    assert stopped.status == "cancelled"
    assert [r.result for r in stopped.rows] == ["completed", "cancelled"]
    assert progress == [(1, 4)]
    assert [s.status for s in list_sweeps(workspace)] == ["cancelled"]
    interrupted = workspace.variant(stopped.rows[1].variant)
    assert json.loads(interrupted.metadata_path.read_text())["epochs_completed"] == 2

    resumed = run_sweep(workspace, record.id, on_progress=lambda d, t: progress.append((d, t)))
    assert resumed.status == "completed"
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert stable(resumed.rows) == stable(clean.rows)
    assert stable(load_sweep(workspace, record.id).rows) == stable(clean.rows)


def test_a_sweep_killed_midway_resumes_to_the_same_rows_and_weights(workspace, tmp_path):
    """SIGKILL a `trainwright sweep` process once a row is stored and the next run has a
    resumable checkpoint, then `trainwright sweep resume`: rows and weights match a sweep
    that was never interrupted."""
    from engine.cli import main
    from engine.workspace import Workspace

    grid = {"epochs": "3, 20, 4"}
    fixed_training = {**FAST, "resume_every": 1}  # a full checkpoint every epoch
    home = workspace.home
    command = [sys.executable, "-m", "engine.cli", "sweep", "mlp", "-g", "epochs=3,20,4"]
    command += ["-p", "hidden_dim=8", "-p", "num_hidden_layers=1", "-t", "threads=1"]
    command += ["-t", "resume_every=1", "--json"]
    log = home.parent / "sweep.log"
    killed_in = kill_sweep_midway(command, home, log)
    assert killed_in is not None, log.read_text()[-2000:]
    (sweep_file,) = (home / "sweeps").glob("*/sweep.json")
    before = json.loads(sweep_file.read_text())
    assert len(before["rows"]) < 3 and before["status"] == "running"
    assert [s.status for s in list_sweeps(workspace)] == ["interrupted"]
    meta = json.loads((home / "variants" / "mlp" / killed_in / "metadata.json").read_text())
    assert meta["status"] == "training"  # killed mid-run

    assert main(["sweep", "resume", sweep_file.parent.name, "--json"]) == 0
    resumed = load_sweep(workspace, sweep_file.parent.name)
    meta = json.loads((home / "variants" / "mlp" / killed_in / "metadata.json").read_text())
    assert meta["status"] == "completed"

    clean = sweep(Workspace(tmp_path / "clean"), "mlp", grid, SMALL, fixed_training)
    assert stable(resumed.rows) == stable(clean.rows)
    assert [r.weights_sha256 for r in resumed.rows] == [r.weights_sha256 for r in clean.rows]
    assert all(r.result == "completed" and not r.reused for r in resumed.rows)


@pytest.mark.slow  # two spawned worker processes each import torch
def test_parallel_workers_give_the_same_runs(workspace):
    record = sweep(workspace, "mlp", {"epochs": "1, 2"}, SMALL, FAST, parallel=2)
    assert record.status == "completed"
    assert [r.result for r in record.rows] == ["completed", "completed"]
    assert [r.parameters for r in record.rows] == [{"epochs": 1}, {"epochs": 2}]
    expected = [workspace.create_variant("mlp", SMALL, {**FAST, "epochs": e}).name for e in (1, 2)]
    assert [r.variant for r in record.rows] == expected


# ---- CLI -------------------------------------------------------------------------------------
def test_cli_invalid_list_exits_2_with_the_message(capsys):
    from engine.cli import main

    assert main(["sweep", "mlp", "-g", "epochs=0,10"]) == 2
    assert capsys.readouterr().err.strip() == "trainwright: error: Epoch out of range (1-500): 0"
    assert main(["sweep", "mlp", "-g", "lr=abc"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "trainwright: error: Learning rate values must be numbers: abc"
    )
    assert main(["sweep", "resume", "no_such_sweep"]) == 2
    assert "no sweep 'no_such_sweep'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse's own refusal
        main(["sweep", "mlp", "-g", "epochs=1", "extra"])
    assert exit_info.value.code == 2


def test_cli_sweep_then_sweeps_lists_it(capsys):
    from engine.cli import main

    argv = ["sweep", "mlp", "-g", "epochs=1,2", "-p", "hidden_dim=8", "-p", "num_hidden_layers=1"]
    assert main([*argv, "-t", "threads=1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [r["result"] for r in record["rows"]] == ["completed", "completed"]
    assert main(["sweeps", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["status"], listed["completed"]) == (record["id"], "completed", 2)
    assert main(["sweep", "resume", record["id"], "--json"]) == 0  # nothing left: still fine
    assert main(["sweep", "mlp", "-g", "epochs=1,2,3", "-g", "lr=0.1,0.2", "--dry-run"]) == 0
    assert "6 combinations" in capsys.readouterr().out
