"""The Sweeps tab's searches, headless: choosing random or Bayesian (TPE), ranges in the list
fields, running a pruned search, its parallel coordinates and importance, and the best trial
one click from training it longer or publishing it."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QComboBox, QPushButton, QSpinBox

from desktop_app.models.publish_dialog import PublishDialog
from desktop_app.sweeps.panel import SweepPanel
from desktop_app.sweeps.search_view import axis_ends, axis_position
from engine.sweeps import load_sweep, plan_sweep

pytest.importorskip("optuna", reason="random and TPE searches need the optuna package")

RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def make_panel(desktop_views, workspace):
    def make() -> SweepPanel:
        panel = desktop_views.add(SweepPanel(workspace), 1400, 900)
        panel.show()
        return panel

    return make


def small_search(panel: SweepPanel, kind: str = "tpe", trials: int = 6) -> None:
    """A TPE search over hidden_dim and lr of a 1-layer MLP on two_moons, 6 epochs each."""
    editor = panel.editor
    assert panel.select_family("mlp")
    editor.search_combo.setCurrentIndex(editor.search_combo.findData(kind))
    editor.domain_form.set_value("num_hidden_layers", 1)
    editor.domain_form.set_list("hidden_dim", "8..64")
    editor.training_form.set_list("lr", "1e-3..1e-1:log")
    editor.training_form.set_value("epochs", 6)
    editor.training_form.set_value("threads", 1)
    editor.trials_spin.setValue(trials)
    editor.prune_combo.setCurrentIndex(editor.prune_combo.findData("median"))


def test_search_controls_are_named_and_follow_the_kind(make_panel, assert_described):
    panel = make_panel()
    assert_described(
        panel,
        {
            "sweepSearchKind": QComboBox,
            "sweepTrials": QSpinBox,
            "sweepObjective": QComboBox,
            "sweepPrune": QComboBox,
            "sweepSeed": QSpinBox,
        },
    )
    editor = panel.editor
    assert editor.search_kind() == "grid" and not editor.trials_spin.isEnabled()
    assert panel.select_family("mlp")
    editor.domain_form.set_list("hidden_dim", "8..64")
    assert "must be numbers" in editor.domain_form.errors()["hidden_dim"]  # a grid takes lists
    assert not panel.can_start()
    editor.search_combo.setCurrentIndex(editor.search_combo.findData("random"))
    assert editor.trials_spin.isEnabled() and editor.prune_combo.isEnabled()
    assert editor.domain_form.errors() == {}  # the same text is a range now
    assert "beside a parameter to search it" in editor.hint.text()
    assert editor.count_label.text().startswith("20 trials of a random search over hidden_dim")
    assert panel.can_start()
    editor.domain_form.set_list("hidden_dim", "64..8")
    assert "a range goes from low to high" in editor.domain_form.errors()["hidden_dim"]
    assert not panel.can_start()
    editor.domain_form.set_list("hidden_dim", "8..64")
    editor.trials_spin.setValue(7)
    editor.seed_spin.setValue(3)
    request = editor.sweep_request()
    assert request.grid == {"hidden_dim": "8..64"}
    assert request.search == {
        "search": "random",
        "trials": 7,
        "objective": None,
        "prune": "none",
        "seed": 3,
    }
    plan = plan_sweep(panel.workspace, request.family, request.grid, **request.search)
    assert plan.total == 7 and plan.spec.ranges["hidden_dim"].high == 64


def test_a_search_runs_shows_pruned_trials_and_its_results(make_panel, qtbot, workspace):
    panel = make_panel()
    small_search(panel)
    assert panel.can_start()
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS):
        assert panel.start_sweep()
    record = load_sweep(workspace, panel.last_record.id)
    assert record.status == "completed" and len(record.rows) == 6
    results = [e.result for e in panel.model.entries()]
    assert results == [r.result for r in record.rows]
    assert "pruned" in results and "completed" in results
    assert "pruned of 6" in panel.status_label.text()
    assert "pruned" in panel.runs_label.text()

    view = panel.search_view
    assert panel.results_tabs.isTabEnabled(1)
    assert view.record is not None and view.record.id == record.id
    best = view.best
    assert best is not None and best.result == "completed"
    assert best.objective == max(r.objective for r in record.rows if r.objective is not None)
    assert f"Best: trial {best.index + 1}, {best.variant}" in view.best_label.text()
    assert view.train_button.isEnabled() and view.publish_button.isEnabled()
    # One line per completed or pruned trial, plus the axes and their end labels.
    lines = [i for i in view.coordinates.getPlotItem().items if type(i).__name__ == "PlotDataItem"]
    assert len(lines) == 6
    qtbot.waitUntil(lambda: view.importances is not None, timeout=30_000)
    assert set(view.importances) == {"hidden_dim", "lr"}
    assert abs(sum(view.importances.values()) - 1.0) < 1e-6
    assert "hidden_dim" in view.importance_note.text()


def test_axis_positions_follow_the_ranges_and_lists(workspace):
    spec = plan_sweep(
        workspace,
        "mlp",
        {"hidden_dim": "8..64", "lr": "1e-4..1e-2:log", "optimizer": "adam, sgd, adamw"},
        search="random",
    ).spec
    assert axis_position(spec, "hidden_dim", 8) == 0 and axis_position(spec, "hidden_dim", 64) == 1
    assert axis_position(spec, "lr", 1e-3) == pytest.approx(0.5)  # the middle, on a log scale
    assert axis_position(spec, "optimizer", "sgd") == 0.5
    assert axis_position(spec, "optimizer", "rmsprop") is None
    assert axis_ends(spec, "hidden_dim") == ("8", "64")
    assert axis_ends(spec, "lr") == ("0.0001", "0.01")


def test_a_grid_sweep_has_no_search_results(make_panel, qtbot, workspace):
    from engine.sweeps import create_sweep

    record = create_sweep(workspace, "mlp", {"epochs": "1, 2"}, {"hidden_dim": 8})
    panel = make_panel()
    assert panel.open_sweep(record.id)
    assert not panel.results_tabs.isTabEnabled(1)
    assert panel.search_view.record is None and panel.search_view.coordinates is None


def test_the_best_trial_trains_longer_or_is_published_through_the_window(
    qtbot, workspace, tmp_path
):
    from desktop_app.main_window import MainWindow
    from engine.sweeps import sweep

    record = sweep(
        workspace,
        "mlp",
        {"hidden_dim": "8..32", "lr": "1e-3..1e-1:log"},
        {"num_hidden_layers": 1},
        {"epochs": 3, "threads": 1},
        search="random",
        trials=3,
        seed=4,
    )
    window = MainWindow(workspace)
    window.confirm_close = lambda: True
    qtbot.addWidget(window)
    window.show()
    panel = window.sweep_panel
    qtbot.waitUntil(lambda: record.id in panel.past_sweep_ids(), timeout=30_000)
    assert panel.open_sweep(record.id)
    view = panel.search_view
    best = view.best
    assert best is not None

    view.findChild(QPushButton, "trainBestButton").click()
    assert window.tabs.currentWidget() is window.training_tab
    tab = window.training_tab
    assert tab.family() == "mlp"
    assert tab.training_form.value("epochs") == 6  # twice the trial's 3
    assert tab.domain_form.value("hidden_dim") == best.parameters["hidden_dim"]
    assert tab.training_form.value("lr") == pytest.approx(best.parameters["lr"])

    window.tabs.setCurrentWidget(panel)
    view.findChild(QPushButton, "publishBestButton").click()
    dialog = window.models_tab.dialog
    assert isinstance(dialog, PublishDialog) and dialog.variant == best.variant
    dialog.reject()
    window.close()


def test_without_optuna_the_searches_are_offered_disabled(make_panel, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a)
    )
    panel = make_panel()
    combo = panel.editor.search_combo
    for kind in ("random", "tpe"):
        item = combo.model().item(combo.findData(kind))
        assert not item.isEnabled() and "not part of this install" in item.toolTip()
