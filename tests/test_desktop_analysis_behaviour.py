"""The Analysis tab as users expect it (issue 15): results that speak of the variant selected,
a list that follows the variants folder (runs of this window and of the CLI), hyperparameter
columns, a config diff; and the sweep's best run when several tie."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop_app.analysis.tab import AnalysisTab
from desktop_app.analysis.variant_model import (
    EPOCHS,
    STATUS,
    VARIANT,
    differing_parameters,
    live_epochs,
    read_parameters,
)
from desktop_app.sweeps.runs_model import TIE_RULE, RunsTableModel
from engine.sweeps import create_sweep
from engine.sweeps.store import SweepRow
from engine.workspace import Workspace

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> Path:
    """Two tiny MLP variants (8 and 16 units) and a tiny modulo-addition one, trained once."""
    home = tmp_path_factory.mktemp("analysis-behaviour-home")
    workspace = Workspace(home)
    made = [
        workspace.create_variant(
            "mlp", {"hidden_dim": width, "num_hidden_layers": 1}, {"epochs": 2, "threads": 1}
        )
        for width in (8, 16)
    ]
    made.append(
        workspace.create_variant(
            "modulo_addition_1layer", {"prime": 11}, {"epochs": 4, "threads": 1}
        )
    )
    for variant in made:
        assert workspace.train(variant).status == "completed"
    return home


def install(trained_home: Path, home: Path) -> list[str]:
    """Copy every trained variant into `home`; their names, MLPs first (8, then 16 units)."""
    names = []
    for family_dir in sorted((trained_home / "variants").iterdir()):
        for directory in sorted(family_dir.iterdir(), key=lambda p: "h16" in p.name):
            shutil.copytree(directory, home / "variants" / family_dir.name / directory.name)
            names.append(directory.name)
    return names


@pytest.fixture
def make_tab(desktop_views, workspace):
    def make(show: bool = False) -> AnalysisTab:
        tab = desktop_views.add(AnalysisTab(workspace), 1200, 800)
        if show:
            tab.show()
        return tab

    return make


def listed(tab: AnalysisTab) -> dict[str, tuple[str, str]]:
    """{variant: (status, epochs)} as the table shows them."""
    model = tab.table.model()
    return {
        model.index(r, VARIANT).data(): (
            model.index(r, STATUS).data(),
            model.index(r, EPOCHS).data(),
        )
        for r in range(model.rowCount())
    }


# ---- defect 11: a verdict speaks of one variant --------------------------------------------
def test_the_replay_and_verify_verdicts_clear_when_another_variant_is_selected(
    make_tab, trained_home, workspace, qtbot
):
    first, second, _ = install(trained_home, workspace.home)
    tab = make_tab()
    tab.select_variants([first])
    tab.replay()
    qtbot.waitUntil(lambda: tab.replay_result is not None, timeout=TIMEOUT_MS)
    assert tab.replay_result.identical
    assert first in tab.replay_label.text()
    tab.verify()
    qtbot.waitUntil(lambda: tab.verify_result is not None, timeout=TIMEOUT_MS)
    assert first in tab.verify_label.text()

    tab.select_variants([second])
    assert tab.replay_label.text() == ""
    assert tab.verify_label.text() == ""
    assert first not in tab.replay_label.toolTip()
    # Its own verdict stays while it is the one selected (a refresh keeps the selection).
    tab.verify()
    qtbot.waitUntil(lambda: tab.verify_result is not None, timeout=TIMEOUT_MS)
    tab.refresh()
    assert second in tab.verify_label.text()


def test_a_running_replay_keeps_saying_so_when_another_variant_is_selected(
    make_tab, trained_home, workspace, qtbot
):
    first, second, _ = install(trained_home, workspace.home)
    tab = make_tab()
    tab.select_variants([first])
    tab.replay()
    tab.select_variants([second])
    # No event has been processed since Replay: the run cannot have reported its end yet.
    assert tab._replay_path is not None
    assert tab.replay_label.text() == f"Replaying {first}…"  # still running: its progress stays
    qtbot.waitUntil(lambda: tab.replay_result is not None, timeout=TIMEOUT_MS)
    assert first in tab.replay_label.text()  # the verdict names its variant
    tab.select_variants([first])
    assert first in tab.replay_label.text()  # it is about this one
    tab.select_variants([second])
    assert tab.replay_label.text() == ""


# ---- defect 12: the list follows the variants folder ---------------------------------------
def test_a_variant_made_elsewhere_is_listed_without_refresh(
    make_tab, trained_home, workspace, qtbot
):
    tab = make_tab()
    assert listed(tab) == {}
    assert str(workspace.home) in tab.watched_paths  # until it has a variants folder
    names = install(trained_home, workspace.home)
    qtbot.waitUntil(lambda: set(listed(tab)) == set(names), timeout=10_000)
    assert str(workspace.home / "variants") in tab.watched_paths
    # A deleted one goes, without Refresh too.
    shutil.rmtree(workspace.home / "variants" / "mlp" / names[0])
    qtbot.waitUntil(lambda: names[0] not in listed(tab), timeout=10_000)


def test_a_cli_run_is_followed_while_it_trains(make_tab, workspace, qtbot):
    tab = make_tab(show=True)
    epochs = 400
    command = [
        sys.executable,
        "-c",
        "import sys; from desktop_app.__main__ import trainwright; sys.exit(trainwright())",
        "--home",
        str(workspace.home),
        "train",
        "mlp",
        "-p",
        "hidden_dim=8",
        "-p",
        "num_hidden_layers=1",
        "-t",
        f"epochs={epochs}",
        "-t",
        "threads=1",
        "-t",
        "checkpoint_every=0",  # metadata.json says nothing until the end: the chronicle does
    ]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen: list[tuple[str, str]] = []

    def watch() -> bool:
        rows = listed(tab)
        if rows:
            (row,) = rows.values()
            if not seen or seen[-1] != row:
                seen.append(row)
            return row == ("completed", f"{epochs}/{epochs}")
        return False

    try:
        qtbot.waitUntil(watch, timeout=120_000)
    finally:
        output = process.communicate(timeout=120)[0].decode(errors="replace")
    assert process.returncode == 0, output
    live = [epochs_text for status, epochs_text in seen if status == "training"]
    assert live, seen  # listed while it trained, without Refresh
    done = [int(text.split("/")[0]) for text in live]
    assert any(0 < n < epochs for n in done), seen  # its epochs went up as it trained
    assert done == sorted(done)


def test_live_epochs_read_the_chronicles_last_finished_epoch(tmp_path):
    assert live_epochs(tmp_path) is None
    (tmp_path / "chronicle.jsonl").write_text(
        '{"epoch":1,"step":5,"loss":1.0}\n'
        '{"epoch":1,"step":10,"loss":0.9,"train_loss":0.9}\n'
        '{"epoch":2,"step":15,"loss":0.8}\n'
        '{"epoch":2,"step":20,"lo',  # a row being written
        encoding="utf-8",
    )
    assert live_epochs(tmp_path) == 1


# ---- hyperparameter columns ----------------------------------------------------------------
def test_the_hyperparameters_that_differ_are_columns(make_tab, trained_home, workspace, qtbot):
    first, second, modulo = install(trained_home, workspace.home)
    tab = make_tab()
    shown = tab.shown_parameter_columns()
    assert "hidden_dim" in shown and "epochs" in shown  # 8 vs 16 units; 2 vs 4 epochs
    assert "lr" not in shown or len({str(v) for v in _values(tab, "lr")}) > 1
    assert "prime" not in shown  # one variant has it: nothing to compare
    column = tab.model.column_of_parameter("hidden_dim")
    model = tab.table.model()
    cells = {
        model.index(r, VARIANT).data(): model.index(r, column).data()
        for r in range(model.rowCount())
    }
    assert cells == {first: "8", second: "16", modulo: ""}
    tip = model.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "differs" in tip
    # Sorting by a hyperparameter sorts numbers as numbers, variants without it last.
    tab.table.sortByColumn(column, Qt.SortOrder.AscendingOrder)
    assert [model.index(r, VARIANT).data() for r in range(3)] == [first, second, modulo]

    # The family filter: only what differs between the MLPs.
    tab.family_filter.setCurrentIndex(tab.family_filter.findData("mlp"))
    assert tab.shown_parameter_columns() == ["hidden_dim"]


def _values(tab: AnalysisTab, name: str) -> list[object]:
    return [tab.model.parameters(s.path).get(name) for s in tab.model.summaries()]


def test_parameters_are_read_from_config_json(trained_home):
    directory = next((trained_home / "variants" / "mlp").iterdir())
    params = read_parameters(directory)
    assert params["hidden_dim"] in (8, 16) and params["epochs"] == 2
    assert params["strategy"] == "native"
    assert "config_hash" not in params and "variant" not in params
    assert read_parameters(trained_home) == {}
    assert differing_parameters([{"a": 1, "b": 2}, {"a": 1, "b": 3}, {"c": 4}]) == ["b"]


# ---- defect 16: ties for the best sweep run ------------------------------------------------
def _row(index: int, score: float, test_loss: float) -> SweepRow:
    return SweepRow(
        index=index,
        variant=f"variant_{index}",
        parameters={"epochs": index + 1},
        result="completed",
        metric_name="accuracy",
        metric_score=score,
        train_loss=test_loss,
        test_loss=test_loss,
    )


def _model(workspace, rows: list[SweepRow], epochs: str = "1, 2, 3") -> RunsTableModel:
    record = create_sweep(workspace, "mlp", {"epochs": epochs}, {"hidden_dim": 8})
    for row in rows:
        record.put(row)
    model = RunsTableModel()
    model.set_record(record)
    return model


def test_a_tie_for_the_best_run_goes_to_the_lower_test_loss_and_says_so(workspace):
    model = _model(workspace, [_row(0, 0.9, 0.3), _row(1, 0.95, 0.25), _row(2, 0.95, 0.2)])
    assert model.best_row() == 2
    note = model.best_note()
    assert note.startswith("Runs #2, #3 tie at accuracy 0.95; #3 is best by the lower test loss")
    assert TIE_RULE in note
    tip = model.index(2, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Best of the sweep" in tip and "tie at accuracy" in tip


def test_then_fewer_epochs_then_the_first_run(workspace):
    model = _model(workspace, [_row(0, 0.9, 0.3), _row(1, 0.95, 0.2), _row(2, 0.95, 0.2)])
    assert model.best_row() == 1  # same test loss: fewer epochs (2 < 3)
    assert "#2 is best by fewer epochs" in model.best_note()
    record = create_sweep(workspace, "mlp", {"lr": "0.1, 0.2"}, {"hidden_dim": 8})
    for index in range(2):
        row = _row(index, 0.95, 0.2)
        row.parameters = {"lr": (0.1, 0.2)[index]}
        record.put(row)
    model = RunsTableModel()
    model.set_record(record)
    assert model.best_row() == 0  # nothing tells them apart: the first
    assert "#1 is best by the first run" in model.best_note()


def test_no_tie_no_note(workspace):
    model = _model(workspace, [_row(0, 0.9, 0.3), _row(1, 0.95, 0.25)])
    assert model.best_row() == 1 and model.best_note() == ""


def test_the_sweeps_tab_says_how_a_tie_was_broken(desktop_views, workspace):
    from desktop_app.sweeps.panel import SweepPanel
    from engine.sweeps import store as sweep_store

    record = create_sweep(workspace, "mlp", {"epochs": "1, 2"}, {"hidden_dim": 8})
    record.put(_row(0, 0.95, 0.3))
    record.put(_row(1, 0.95, 0.2))
    record.status = "completed"  # type: ignore[assignment]
    sweep_store.save(workspace.home, record)
    panel = desktop_views.add(SweepPanel(workspace), 1400, 900)
    assert panel.select_sweep(record.id)
    assert panel.model.best_row() == 1
    assert "#2 is best by the lower test loss" in panel.runs_label.text()


# ---- the config diff -----------------------------------------------------------------------
def test_compare_configs_shows_two_variants_side_by_side(make_tab, trained_home, workspace):
    from desktop_app.analysis.variant_details import MISSING, config_diff

    first, second, _ = install(trained_home, workspace.home)
    tab = make_tab()
    tab.select_variants([first])
    assert not tab.compare_button.isEnabled()
    assert tab.compare_configs() is None
    tab.select_variants([first, second])
    assert tab.compare_button.isEnabled() and tab.compare_action.isEnabled()
    assert tab.compare_action in tab.context_menu().actions()
    dialog = tab.compare_configs()
    assert dialog is not None and dialog.isVisible()
    assert dialog.table.accessibleName()
    # Only the differences show at first, highlighted: 8 against 16 units.
    assert dialog.only_differences.isChecked()
    assert dialog.shown_rows() == [("hidden_dim", "8", "16")]
    item = dialog.table.item(0, 1)
    assert item.font().bold() and item.background().color().alpha() > 0
    assert dialog.summary.text().startswith("<b>1</b> of ")
    dialog.only_differences.setChecked(False)
    everything = dialog.shown_rows()
    assert len(everything) > 10 and ("lr", "0.01", "0.01") in everything
    assert dialog.table.item(1, 1).font().bold() is False
    dialog.close()

    # Another family: what one has and the other not is a difference too.
    diff = config_diff({"prime": 11, "lr": 0.01}, {"hidden_dim": 8, "lr": 0.01})
    assert diff == [
        ("hidden_dim", MISSING, "8", True),
        ("prime", "11", MISSING, True),
        ("lr", "0.01", "0.01", False),
    ]
