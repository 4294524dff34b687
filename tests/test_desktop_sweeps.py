"""The Sweeps panel, headless: the list editor, live count, running, runs table, past sweeps."""

from __future__ import annotations

import csv
import re
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QListWidget, QProgressBar, QPushButton, QTableView

from desktop_app.kit.family_combo import FamilyCombo
from desktop_app.kit.turns import WAITING_TEXT
from desktop_app.sweeps.panel import SweepPanel
from desktop_app.sweeps.runs_model import BEST_ROLE, RunsTableModel
from engine.sweeps import create_sweep, load_sweep
from engine.sweeps import store as sweep_store
from engine.sweeps.store import SweepRow

RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def make_panel(desktop_views, workspace):
    """A new Sweeps panel of the workspace, shown (shut down after the test)."""

    def make() -> SweepPanel:
        panel = desktop_views.add(SweepPanel(workspace), 1400, 900)
        panel.show()  # the engine is asked to check values once the panel shows
        return panel

    return make


def small_mlp(qtbot, panel: SweepPanel) -> None:
    """A tiny MLP (8 units, 1 hidden layer) on two_moons, trained with one thread."""
    assert panel.select_family("mlp")
    panel.editor.domain_form.set_value("hidden_dim", 8)
    panel.editor.domain_form.set_value("num_hidden_layers", 1)
    panel.editor.training_form.set_value("threads", 1)


def rows(panel: SweepPanel) -> list[dict[str, str]]:
    model = panel.table.model()
    keys = panel.model.column_keys()
    return [
        {key: model.index(r, c).data() for c, key in enumerate(keys)}
        for r in range(model.rowCount())
    ]


def completed_row(index: int, metric: str, score: float, loss: float, **more: float) -> SweepRow:
    """Combination `index` of a sweep over epochs (index + 1), completed: its `metric` scored
    `score`, its train and test loss `loss`."""
    return SweepRow(
        index=index,
        variant=f"variant_{index}",
        parameters={"epochs": index + 1},
        result="completed",
        metric_name=metric,
        metric_score=score,
        train_loss=loss,
        test_loss=loss,
        **more,
    )


def fabricated_sweep(workspace, *, status: str = "completed") -> str:
    """A stored mlp sweep over three epoch values: two completed rows and a failed one."""
    record = create_sweep(workspace, "mlp", {"epochs": "1, 2, 3"}, {"hidden_dim": 8})
    record.put(completed_row(0, "accuracy", 0.80, 0.4, duration_s=1.5))
    record.put(completed_row(1, "accuracy", 0.95, 0.2, duration_s=1.5))
    record.put(
        SweepRow(
            index=2,
            variant="variant_2",
            parameters={"epochs": 3},
            result="failed",
            metric_name="n/a",
            metric_score="n/a",
            train_loss="n/a",
            test_loss="n/a",
            error="loss diverged to 1.2e+06 at epoch 1, step 3",
        )
    )
    record.status = status  # type: ignore[assignment]
    sweep_store.save(workspace.home, record)
    return record.id


# ---- the editor ------------------------------------------------------------------------------
def test_controls_have_stable_names_and_accessible_descriptions(make_panel, assert_described):
    panel = make_panel()
    expected = {
        "sweepFamilyCombo": FamilyCombo,
        "sweepCountLabel": QLabel,
        "sweepEstimateLabel": QLabel,
        "startSweepButton": QPushButton,
        "stopSweepButton": QPushButton,
        "sweepProgress": QProgressBar,
        "runsTable": QTableView,
        "pastSweepsList": QListWidget,
        "resumeSweepButton": QPushButton,
        "exportRunsButton": QPushButton,
    }
    assert_described(panel, expected)
    assert not panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    assert "take turns" in panel.start_button.toolTip()


def test_a_bad_list_shows_the_validator_message_inline_and_disables_start(make_panel, qtbot):
    panel = make_panel()
    panel.show()
    assert panel.select_family("mlp")
    form = panel.editor.training_form
    qtbot.mouseClick(form.toggle("epochs"), Qt.MouseButton.LeftButton)
    assert form.is_swept("epochs")
    edit = form.list_edit("epochs")
    assert edit.isVisible() and not form.field_widget("epochs").isVisible()
    edit.clear()
    qtbot.keyClicks(edit, "0,10")
    label = form.error_label("epochs")
    assert label.text() == "Epoch out of range (1-500): 0"
    assert label.isVisible()
    assert not panel.start_button.isEnabled()
    assert "Epoch out of range (1-500): 0" in edit.toolTip()

    edit.clear()
    qtbot.keyClicks(edit, "1,10")
    assert label.text() == "" and not label.isVisible()
    assert panel.editor.count_label.text() == "2 combinations"
    assert panel.start_button.isEnabled()


def test_the_count_updates_as_you_type(make_panel, qtbot):
    panel = make_panel()
    assert panel.select_family("mlp")
    assert panel.editor.count_label.text().startswith("No lists yet")
    assert not panel.start_button.isEnabled()
    epochs = panel.editor.training_form
    epochs.set_swept("epochs", True)
    edit = epochs.list_edit("epochs")
    edit.clear()
    seen = []
    for char in "1,2,3":
        qtbot.keyClicks(edit, char)
        seen.append(panel.editor.count_label.text())
    assert seen[0] == "1 combination" and seen[-1] == "3 combinations"
    panel.editor.training_form.set_list("lr", "0.01,0.02")
    assert panel.editor.count_label.text() == "6 combinations"
    assert panel.combination_count() == 6
    assert panel.start_button.isEnabled()
    # Switching a list back to one value takes it out of the grid.
    panel.editor.training_form.set_swept("lr", False)
    assert panel.editor.count_label.text() == "3 combinations"
    # Lists in linear baseline mode that do not apply do not multiply the grid.
    panel.editor.domain_form.set_value("linear_baseline", True)
    panel.editor.domain_form.set_list("hidden_dim", "8, 16")
    assert panel.editor.count_label.text().startswith("3 combinations (hidden_dim not swept")


def test_the_estimate_is_unknown_without_earlier_runs(make_panel, qtbot):
    panel = make_panel()
    assert panel.select_family("mlp")
    panel.editor.training_form.set_list("epochs", "1, 2")
    qtbot.waitUntil(lambda: "unknown" in panel.editor.estimate_label.text(), timeout=10_000)
    assert "no completed run of mlp" in panel.editor.estimate_label.text()


# ---- running ---------------------------------------------------------------------------------
def test_a_small_sweep_runs_to_completion(make_panel, qtbot, workspace, tmp_path):
    panel = make_panel()
    small_mlp(qtbot, panel)
    panel.editor.training_form.set_list("epochs", "1,2")
    assert panel.editor.count_label.text() == "2 combinations"
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert panel.busy and not panel.start_button.isEnabled()
    assert panel.active.thread is None and not panel.busy
    assert panel.last_error is None, panel.last_error
    record = panel.last_record
    assert record is not None and record.status == "completed"
    assert panel.progress.text() == "2 / 2"
    assert "completed: 2 completed, 0 failed of 2" in panel.status_label.text()

    table = rows(panel)
    assert len(table) == 2
    assert [r["epochs"] for r in table] == ["1", "2"]
    assert all(r["result"] == "completed" and r["metric_name"] == "accuracy" for r in table)
    assert [r["variant"] for r in table] == [row.variant for row in record.rows]
    # The variants are those the Training tab makes from the same values (so they are
    # reused both ways), with the dataset's own training defaults.
    same = workspace.create_variant(
        "mlp", {"hidden_dim": 8, "num_hidden_layers": 1}, {"epochs": 1, "threads": 1}
    )
    assert same.name == record.rows[0].variant
    assert panel.past_sweep_ids() == [record.id]
    assert panel.model.sweep_id == record.id
    assert not panel.resume_button.isEnabled()  # completed: nothing to resume

    # The sweep is a job of the history (the Jobs tab, `trainwright jobs`), with its log.
    from engine.jobs.store import JobStore

    with JobStore(workspace.home) as store:
        (job,) = [j for j in store.list() if j.kind == "sweep"]
        assert (job.status, job.sweep_id) == ("completed", record.id)
        assert any("training" in r.message for r in store.logs(job.id))

    # The best row (highest accuracy; a tie goes to the lower test loss, then the first) is
    # highlighted.
    best = min(range(2), key=lambda i: (-record.rows[i].metric_score, record.rows[i].test_loss, i))
    assert panel.model.best_row() == best
    model = panel.table.model()
    assert model.index(best, 0).data(BEST_ROLE) is True
    assert model.index(best, 0).data(Qt.ItemDataRole.BackgroundRole) is not None
    assert model.index(best, 0).data(Qt.ItemDataRole.FontRole).bold()
    assert model.index(1 - best, 0).data(BEST_ROLE) is False

    # CSV export writes the rows.
    path = tmp_path / "runs.csv"
    assert panel.export_button.isEnabled()
    assert panel.export_csv(path) == 2
    with open(path, newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [r["variant"] for r in written] == [row.variant for row in record.rows]
    assert [r["epochs"] for r in written] == ["1", "2"]
    assert float(written[0]["metric_score"]) == pytest.approx(record.rows[0].metric_score)

    # Selecting rows overlays their curves (loss and accuracy per epoch).
    panel.select_runs([0, 1])
    assert panel.selected_variants() == [row.variant for row in record.rows]
    qtbot.waitUntil(lambda: len(panel.curve_items) == 2, timeout=10_000)
    assert panel.loss_plot.getPlotItem().ctrl.logYCheck.isChecked()
    assert all(items for items in panel.curve_items.values())

    # The family now has runs to time: the estimate follows.
    panel.editor.training_form.set_list("epochs", "1, 2, 3")
    qtbot.waitUntil(lambda: "s per epoch" in panel.editor.estimate_label.text(), timeout=10_000)
    assert "from 2 earlier runs" in panel.editor.estimate_label.text()


def test_stopping_a_sweep_leaves_it_resumable(make_panel, qtbot, workspace):
    panel = make_panel()
    small_mlp(qtbot, panel)
    panel.editor.training_form.set_list("epochs", "400, 500")
    assert panel.start_sweep()
    training = re.compile(r"^Training mlp_\S+: epoch [1-9]\d* of 400$")
    qtbot.waitUntil(lambda: bool(training.match(panel.status_label.text())), timeout=RUN_TIMEOUT_MS)
    assert rows(panel)[0]["result"] == "running"
    assert panel.stop_button.isEnabled()
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    record = panel.last_record
    assert record is not None and record.status == "cancelled"
    assert "press Resume" in panel.status_label.text()
    assert load_sweep(workspace, record.id).status == "cancelled"
    assert panel.model.sweep_id == record.id
    assert rows(panel)[0]["result"] == "cancelled"
    assert panel.resume_button.isEnabled()  # the stopped sweep is selected
    assert panel.start_button.isEnabled()


def test_a_pending_sweep_resumes_from_the_list(make_panel, qtbot, workspace):
    record = create_sweep(
        workspace, "mlp", {"epochs": "1, 2"}, {"hidden_dim": 8, "num_hidden_layers": 1},
        {"threads": 1},
    )  # fmt: skip
    panel = make_panel()
    assert panel.past_sweep_ids() == [record.id]
    assert not panel.resume_button.isEnabled()
    assert panel.select_sweep(record.id)
    assert [r["result"] for r in rows(panel)] == ["pending", "pending"]
    assert panel.resume_button.isEnabled()
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    assert panel.last_error is None, panel.last_error
    assert panel.last_record.status == "completed"
    assert [r["result"] for r in rows(panel)] == ["completed", "completed"]
    assert panel.progress.text() == "2 / 2"
    assert not panel.resume_button.isEnabled()


def test_a_sweep_waits_its_turn_behind_another_run(make_panel, qtbot):
    from engine.training.turns import end_turn, take_turn

    panel = make_panel()
    small_mlp(qtbot, panel)
    panel.editor.training_form.set_list("epochs", "1, 2")
    assert take_turn(threading.Event())  # as a run of the Training tab would
    try:
        assert panel.start_sweep()
        qtbot.waitUntil(lambda: panel.waiting, timeout=30_000)
        assert panel.status_label.text() == WAITING_TEXT
    finally:
        end_turn()
    qtbot.waitUntil(lambda: not panel.busy, timeout=RUN_TIMEOUT_MS)
    assert not panel.waiting
    assert panel.last_record.status == "completed"


def test_shutdown_stops_a_running_sweep_and_waits_for_its_thread(make_panel, qtbot, workspace):
    panel = make_panel()
    small_mlp(qtbot, panel)
    panel.editor.training_form.set_list("epochs", "400, 500")
    assert panel.start_sweep()
    qtbot.waitUntil(lambda: panel.running_sweep is not None, timeout=RUN_TIMEOUT_MS)
    sweep_id = panel.running_sweep
    assert panel.shutdown()
    assert panel.active.thread is None and panel.runner.running() == 0
    assert load_sweep(workspace, sweep_id).status in ("cancelled", "completed")


def test_the_engine_checks_fixed_values_and_sets_dataset_defaults(make_panel, qtbot, workspace):
    panel = make_panel()
    small_mlp(qtbot, panel)
    form = panel.editor.training_form
    # A dataset has its own training defaults; fields left at their default follow them.
    expected = workspace.registry.resolve_config("mlp", {"dataset": "two_moons"}).training
    assert form.value("lr") == expected.lr
    assert form.value("batch_size") == expected.batch_size
    form.set_value("epochs", 7)
    panel.editor.training_form.set_list("batch_size", "16, 32")
    panel.editor.domain_form.set_value("dataset", "no_such_dataset")
    # Resolved at once (synchronous, no task): the error shows and Start waits for a fix.
    error = panel.editor.domain_form.error_label("dataset")
    assert "no_such_dataset" in error.text() and not error.isHidden()
    assert not panel.start_button.isEnabled()
    panel.editor.domain_form.set_value("dataset", "circles")
    assert error.text() == ""
    assert panel.start_button.isEnabled()
    assert form.value("epochs") == 7  # edited: kept


def test_a_sweep_that_cannot_be_created_says_why(make_panel, qtbot, monkeypatch):
    from engine.sweeps import SweepError

    def refuse(*args, **kwargs):
        raise SweepError("Epoch and Test size set the same value; sweep only one of them")

    monkeypatch.setattr("engine.sweeps.create_sweep", refuse)
    panel = make_panel()
    small_mlp(qtbot, panel)
    panel.editor.training_form.set_list("epochs", "1, 2")
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS):
        assert panel.start_sweep()
    assert panel.last_error == "Epoch and Test size set the same value; sweep only one of them"
    assert panel.status_label.text() == f"Sweep failed: {panel.last_error}"
    assert panel.start_button.isEnabled()


# ---- past sweeps and the runs table ----------------------------------------------------------
def test_reopening_a_past_sweep_loads_its_rows(make_panel, workspace):
    sweep_id = fabricated_sweep(workspace)
    panel = make_panel()
    assert panel.model.rowCount() == 0 and not panel.export_button.isEnabled()
    assert panel.past_sweep_ids() == [sweep_id]
    item = panel.past_list.item(0)
    assert "completed · 3 / 3 · 1 failed" in item.text()
    assert panel.select_sweep(sweep_id)
    assert panel.model.sweep_id == sweep_id
    table = rows(panel)
    assert [r["variant"] for r in table] == ["variant_0", "variant_1", "variant_2"]
    assert [r["result"] for r in table] == ["completed", "completed", "failed"]
    assert [r["metric_score"] for r in table] == ["0.8", "0.95", "n/a"]
    assert table[0]["duration_s"] == "1.5 s"
    column = panel.model.column_keys().index("epochs")
    tip = panel.model.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert tip == "Swept: Epoch"  # the family's label for the parameter (engine.sweeps)
    assert panel.export_button.isEnabled()
    assert not panel.resume_button.isEnabled()


def test_a_failed_row_shows_its_error_on_hover_and_the_best_is_highlighted(make_panel, workspace):
    sweep_id = fabricated_sweep(workspace)
    panel = make_panel()
    assert panel.select_sweep(sweep_id)
    model = panel.table.model()
    for column in range(model.columnCount()):
        tip = model.index(2, column).data(Qt.ItemDataRole.ToolTipRole)
        assert tip == "loss diverged to 1.2e+06 at epoch 1, step 3"
    assert panel.model.best_row() == 1
    assert [model.index(r, 0).data(BEST_ROLE) for r in range(3)] == [False, True, False]
    assert "Best of the sweep" in model.index(1, 0).data(Qt.ItemDataRole.ToolTipRole)


def test_runs_sort_and_filter(make_panel, workspace):
    sweep_id = fabricated_sweep(workspace)
    panel = make_panel()
    assert panel.select_sweep(sweep_id)
    proxy = panel.table.model()
    score = panel.model.column_of("metric_score")
    panel.table.sortByColumn(score, Qt.SortOrder.DescendingOrder)
    assert [r["variant"] for r in rows(panel)][:2] == ["variant_1", "variant_0"]
    panel.table.sortByColumn(score, Qt.SortOrder.AscendingOrder)
    assert [r["variant"] for r in rows(panel)] == ["variant_0", "variant_1", "variant_2"]
    assert panel.best_proxy_row() == 1

    panel.result_filter.setCurrentIndex(panel.result_filter.findData("failed"))
    assert [r["variant"] for r in rows(panel)] == ["variant_2"]
    assert panel.best_proxy_row() is None
    panel.result_filter.setCurrentIndex(0)
    panel.filter_edit.setText("VARIANT_1")
    assert [r["variant"] for r in rows(panel)] == ["variant_1"]
    panel.filter_edit.setText("")
    assert proxy.rowCount() == 3


def test_csv_export_writes_the_rows_shown(make_panel, workspace, tmp_path):
    sweep_id = fabricated_sweep(workspace)
    panel = make_panel()
    assert panel.select_sweep(sweep_id)
    path = tmp_path / "all.csv"
    assert panel.export_csv(path) == 3
    with open(path, newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert list(written[0]) == [
        "index", "variant", "epochs", "result", "metric_name", "metric_score", "train_loss",
        "test_loss", "duration_s", "error",
    ]  # fmt: skip
    assert [r["result"] for r in written] == ["completed", "completed", "failed"]
    assert written[2]["error"] == "loss diverged to 1.2e+06 at epoch 1, step 3"
    assert written[2]["metric_score"] == "n/a"
    panel.result_filter.setCurrentIndex(panel.result_filter.findData("completed"))
    assert panel.export_csv(tmp_path / "completed.csv") == 2


def test_an_interrupted_sweep_can_be_resumed_and_shows_pending_rows(make_panel, workspace):
    sweep_id = fabricated_sweep(workspace, status="cancelled")
    record = load_sweep(workspace, sweep_id)
    record.rows = record.rows[:1]
    sweep_store.save(workspace.home, record)
    panel = make_panel()
    assert panel.select_sweep(sweep_id)
    assert [r["result"] for r in rows(panel)] == ["completed", "pending", "pending"]
    assert rows(panel)[1]["metric_score"] == ""
    assert panel.resume_button.isEnabled()


def test_lowest_test_loss_is_best_when_the_metric_is_test_loss(workspace):
    record = create_sweep(workspace, "mlp", {"epochs": "1, 2"}, {"hidden_dim": 8})
    for index, loss in ((0, 0.3), (1, 0.1)):
        record.put(completed_row(index, "test_loss", loss, loss))
    model = RunsTableModel()
    model.set_record(record)
    assert model.best_row() == 1


def test_a_hidden_panel_starts_no_thread_and_shuts_down_cleanly(qtbot, workspace):
    before = threading.active_count()
    panel = SweepPanel(workspace)
    qtbot.addWidget(panel)
    assert panel.runner.jobs() == []  # nothing runs before the panel is first shown
    assert not panel.start_button.isEnabled()
    assert panel.shutdown()
    assert panel.runner.running() == 0 and panel.active.thread is None
    assert threading.active_count() <= before
