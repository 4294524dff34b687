"""The Training tab end to end (offscreen): forms, validation, runs, stop/resume, failures."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QTableView, QWidget

FAMILY = "modulo_addition_1layer"
RUN_TIMEOUT_MS = 30_000


def _yes(*args: object) -> bool:
    return True


@pytest.fixture
def window(qtbot, workspace):
    from desktop_app.main_window import MainWindow

    win = MainWindow(workspace)
    win.confirm_close = _yes
    win.training_tab.confirm = _yes
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.controller.shutdown()  # no test leaves a thread running
    assert win.controller.active.thread is None


@pytest.fixture
def tab(window):
    return window.training_tab


def configure(qtbot, tab, domain=None, training=None, family=FAMILY):
    """Pick the family, fill in values, and wait for the engine's variant name."""
    qtbot.waitUntil(lambda: tab.engine_ready, timeout=RUN_TIMEOUT_MS)
    assert tab.select_family(family)
    for name, value in (domain or {}).items():
        tab.domain_form.set_value(name, value)
    for name, value in (training or {}).items():
        tab.training_form.set_value(name, value)
    qtbot.waitUntil(lambda: tab.config is not None, timeout=RUN_TIMEOUT_MS)
    return tab.config


def run_to_end(qtbot, window):
    qtbot.waitUntil(lambda: window.controller.busy, timeout=5_000)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=RUN_TIMEOUT_MS)
    return window.controller.last_outcome


def chronicle_lines(path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_choosing_a_family_fills_both_forms(qtbot, tab, workspace):
    # No waiting: the effective defaults (the dataset's included) are there at once.
    assert tab.select_family("mlp")
    mlp = workspace.registry.spec("mlp")
    assert tab.domain_form.names() == [p.name for p in mlp.domain_parameters]
    assert tab.domain_form.value("hidden_dim") == 128
    assert tab.domain_form.value("dataset") == "two_moons"
    assert tab.training_form.value("epochs") == 20  # two_moons' own default
    assert tab.training_form.hint("epochs") == "20 — default of dataset two_moons"
    assert "Default: 20 — default of dataset two_moons" in (
        tab.training_form.field_widget("epochs").toolTip()
    )
    assert tab.training_form.value("optimizer") == "adam"
    assert tab.training_form.hint("optimizer") == "adam — default of family mlp"
    assert tab.config is not None and tab.config.training.epochs == 20

    assert tab.select_family(FAMILY)
    assert tab.family_combo.currentText() == "Modular addition (1-layer transformer)"
    assert "grokking" in tab.family_combo.itemData(
        tab.family_combo.currentIndex(), Qt.ItemDataRole.ToolTipRole
    )
    assert tab.domain_form.value("prime") == 113
    assert tab.training_form.value("epochs") == 25000
    assert tab.training_form.value("weight_decay") == 1.0
    assert tab.training_form.value("milestones") == []
    assert set(tab.training_form.names()) >= {"lr", "batch_size", "grokfast", "device"}


def test_defaults_follow_the_dataset_but_never_overwrite_a_typed_value(qtbot, tab):
    assert tab.select_family("mlp")
    tab.training_form.set_value("batch_size", 32)  # typed, though equal to the default
    tab.domain_form.set_value("dataset", "iris")
    assert tab.training_form.value("epochs") == 30  # iris' default, at once
    assert tab.training_form.hint("epochs") == "30 — default of dataset iris"
    assert tab.training_form.value("batch_size") == 32  # typed: kept (iris' default is 16)
    tab.training_form.set_value("epochs", 7)
    tab.domain_form.set_value("dataset", "spirals")
    assert tab.training_form.value("epochs") == 7
    assert tab.training_form.value("lr") == 0.01
    assert tab.config.training.epochs == 7 and tab.config.training.batch_size == 32


def test_switching_family_and_back_keeps_what_was_typed(qtbot, tab):
    assert tab.select_family("mlp")
    tab.domain_form.set_value("hidden_dim", 64)
    tab.training_form.set_value("epochs", 5)
    assert tab.select_family(FAMILY)
    assert tab.training_form.value("epochs") == 25000
    tab.domain_form.set_value("prime", 23)
    assert tab.select_family("mlp")
    assert tab.domain_form.value("hidden_dim") == 64
    assert tab.training_form.value("epochs") == 5
    assert tab.training_form.value("lr") == 0.01  # not typed: still the dataset's default
    assert tab.select_family(FAMILY)
    assert tab.domain_form.value("prime") == 23


def test_out_of_range_value_shows_its_message_and_disables_start(qtbot, tab):
    configure(qtbot, tab, {"prime": 11})
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=5_000)

    tab.training_form.set_value("lr", "0")  # lr must be > 0

    error = tab.training_form.error_label("lr")
    assert error.isVisibleTo(tab)
    assert "out of range" in error.text() and "> 0" in error.text()
    assert not tab.start_button.isEnabled()

    tab.training_form.set_value("lr", "0.01")
    assert not error.isVisibleTo(tab)
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=5_000)


def test_engine_validation_error_is_shown_next_to_its_field(qtbot, tab):
    configure(qtbot, tab, {"prime": 11})
    tab.domain_form.set_value("prime", 12)  # in range, but the family wants a prime
    error = tab.domain_form.error_label("prime")
    qtbot.waitUntil(error.isVisible, timeout=5_000)
    assert "not prime" in error.text()
    assert not tab.start_button.isEnabled()


def test_small_run_completes_with_a_point_per_epoch_and_every_chronicle_row(
    qtbot, window, tab, workspace
):
    config = configure(qtbot, tab, {"prime": 11}, {"epochs": 25})
    assert tab.state == "new"
    tab.family_combo.setFocus()
    qtbot.keyClick(tab.family_combo, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    outcome = run_to_end(qtbot, window)

    assert outcome.status == "completed", outcome.message
    variant = workspace.variant(config.variant)
    tab.plots.redraw()
    x, _ = tab.plots.curve_data("train_loss")
    assert tab.plots.point_count("train_loss") == 25
    assert list(x) == list(range(1, 26))
    assert len(tab.plots.curve_data("test_accuracy")[0]) == 25
    assert tab.chronicle_model.rowCount() == chronicle_lines(variant.chronicle_path)
    assert "train_loss" in tab.chronicle_model.columns
    assert tab.progress_bar.value() == tab.progress_bar.maximum() == 25
    assert "Completed" in tab.status_label.text()
    assert tab.state == "completed"
    assert tab.start_button.text().startswith("Retrain")
    assert tab.replay_button.isEnabled()


def test_a_run_that_reaches_its_target_says_so_and_leaves_no_time_estimate(
    qtbot, window, tab, workspace
):
    config = configure(
        qtbot, tab, {"dataset": "iris"}, {"epochs": 200, "target_metric": 0.9}, family="mlp"
    )
    tab.start_button.click()
    outcome = run_to_end(qtbot, window)

    assert outcome.status == "completed", outcome.message
    meta = workspace.variant(config.variant)
    stopped_at = outcome.session["epochs_completed"]
    assert stopped_at < 200
    assert "target test_accuracy ≥ 0.9 reached" in tab.status_label.text()
    bar = tab.progress_bar
    assert bar.value() == bar.maximum()  # full: the run is over, not stuck part-way
    assert f"{stopped_at} / 200 epochs" in bar.format() and "target reached" in bar.format()
    assert "left" not in bar.format()
    assert meta.exists()


def test_finished_run_appears_in_the_analysis_tab(qtbot, window, tab):
    config = configure(qtbot, tab, {"prime": 11}, {"epochs": 5})
    tab.start_button.click()
    assert run_to_end(qtbot, window).status == "completed"

    table = window.findChild(QTableView, "variantTable")
    assert table is not None

    def listed() -> bool:
        model = table.model()
        return any(
            model.data(model.index(row, column)) == config.variant
            for row in range(model.rowCount())
            for column in range(model.columnCount())
        )

    qtbot.waitUntil(listed, timeout=10_000)


def test_stop_then_resume_gives_the_weights_of_an_uninterrupted_run(
    qtbot, window, tab, workspace, tmp_path
):
    from engine.metadata import VariantMetadata
    from engine.workspace import Workspace

    # Long enough that Stop always lands mid-run (rows reach the GUI in batches, up to 50 ms
    # apart, and a warm engine trains p = 11 in about a millisecond an epoch: 60 epochs could
    # end before Stop), short enough to resume and retrain within the time limit on a busy box.
    epochs = 600
    config = configure(qtbot, tab, {"prime": 11}, {"epochs": epochs})
    tab.start_button.click()
    qtbot.waitUntil(lambda: tab.progress_bar.value() >= 3, timeout=RUN_TIMEOUT_MS)
    tab.family_combo.setFocus()
    qtbot.keyClick(tab.family_combo, Qt.Key.Key_Escape)  # the Stop shortcut
    outcome = run_to_end(qtbot, window)
    assert outcome.status == "cancelled", "the run ended before Stop took effect"
    variant = workspace.variant(config.variant)
    stopped_at = VariantMetadata.load(variant.metadata_path).epochs_completed
    assert 0 < stopped_at < epochs
    assert tab.state == "cancelled"
    assert tab.resume_button.isEnabled()
    assert tab.plots.point_count() == stopped_at  # partial curves stay

    tab.resume_button.click()
    assert run_to_end(qtbot, window).status == "completed"
    resumed = VariantMetadata.load(variant.metadata_path)
    assert tab.plots.point_count() == epochs
    assert tab.chronicle_model.rowCount() == chronicle_lines(variant.chronicle_path)

    reference = Workspace(tmp_path / "reference")
    straight = reference.trainer(
        reference.create_variant(FAMILY, {"prime": 11}, {"epochs": epochs})
    ).train()
    assert straight.status == "completed"
    assert resumed.weights_sha256 == straight.weights_sha256


def test_failing_run_shows_failed_with_its_message_and_keeps_its_curves(qtbot, window, tab):
    configure(qtbot, tab, {"prime": 11}, {"epochs": 30, "optimizer": "sgd", "lr": 10})
    tab.start_button.click()
    outcome = run_to_end(qtbot, window)

    assert outcome.status == "failed"
    assert "diverged" in outcome.message
    assert "Failed" in tab.status_label.text()
    assert tab.error_area.isVisible()
    assert "diverged" in tab.error_text and "divergence_threshold" in tab.error_text
    assert tab.plots.point_count() >= 1  # the epochs before the failure stay plotted
    assert tab.state == "failed"
    assert tab.resume_button.isEnabled()


def test_starting_while_a_run_is_in_progress_queues_the_next_run(qtbot, window, tab):
    asked: list[str] = []

    def confirm(title: str, text: str) -> bool:
        asked.append(title)
        return True

    tab.confirm = confirm
    first = configure(qtbot, tab, {"prime": 11}, {"epochs": 2000})
    tab.start_button.click()
    qtbot.waitUntil(lambda: window.controller.busy, timeout=5_000)
    second = configure(qtbot, tab, {"prime": 13}, {"epochs": 3})
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=5_000)
    tab.start_button.click()

    assert asked == ["Queue run"]
    assert [r.variant for r in window.controller.queue.requests()] == [second.variant]
    assert tab.state == "queued"
    assert tab.queue_panel.view.model().rowCount() == 1

    ended: list[str] = []
    tab.runFinished.connect(ended.append)
    tab.stop_button.click()  # the first run ends; the queued one starts by itself
    qtbot.waitUntil(lambda: len(ended) >= 2 and not window.controller.busy, timeout=RUN_TIMEOUT_MS)
    assert [(o.request.variant, o.status) for o in ended[:2]] == [
        (first.variant, "cancelled"),
        (second.variant, "completed"),
    ]
    assert len(window.controller.queue) == 0


def _rows(epochs: int) -> list[dict]:
    rows = []
    for epoch in range(1, epochs + 1):
        rows.append({"epoch": epoch, "step": 2 * epoch - 1, "loss": 1.0, "lr": 0.1})
        rows.append(
            {
                "epoch": epoch,
                "step": 2 * epoch,
                "loss": 1.0 / epoch,
                "lr": 0.1,
                "train_loss": 1.0 / epoch,
                "test_loss": 2.0 / epoch,
                "train_accuracy": epoch / epochs,
                "test_accuracy": epoch / epochs / 2,
            }
        )
    return rows


def test_plot_click_selects_the_nearest_row_and_a_row_marks_its_epoch(qtbot, tab):
    rows = _rows(10)
    tab.chronicle_model.append_rows(rows[:6])
    tab.chronicle_model.append_rows(rows[6:])
    tab.plots.add_rows(rows)
    assert tab.plots.point_count() == 10

    tab.plots.epochClicked.emit(7)
    selected = tab.table.selectionModel().selectedRows()
    assert [i.row() for i in selected] == [13]  # the epoch-end row of epoch 7
    assert tab.chronicle_model.row(13)["train_loss"] == pytest.approx(1 / 7)
    assert tab.plots.marker_value() == 7

    tab.table.selectRow(2)  # a mid-epoch row of epoch 2
    assert tab.plots.marker_value() == 2
    assert tab.plots.nearest_epoch(4.4) == 4
    assert "test loss" in tab.plots.readout_text(4)


def test_chronicle_columns_grow_and_export_as_csv(qtbot, tmp_path):
    import csv

    from desktop_app.training.chronicle_model import ChronicleModel

    model = ChronicleModel()
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    model.append_rows([{"epoch": 1, "step": 1, "loss": 0.5}, {"epoch": 1, "step": 2, "loss": 0.4}])
    assert model.columns == ["epoch", "step", "loss"]
    model.append_rows([{"epoch": 1, "step": 3, "loss": 0.3, "train_loss": 0.4, "warning": "x"}])
    assert model.columns == ["epoch", "step", "loss", "train_loss", "warning"]
    assert inserted == [(0, 1), (2, 2)]  # one insertion per batch

    path = tmp_path / "chronicle.csv"
    assert model.export_csv(path) == 3
    with open(path, newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [r["step"] for r in written] == ["1", "2", "3"]
    assert written[0]["train_loss"] == "" and written[2]["train_loss"] == "0.4"


def test_plots_take_100k_points_in_growing_buffers(qtbot):
    from desktop_app.training.plots import GrowingArray, TrainingPlots

    array = GrowingArray(4)
    array.extend(range(10))
    assert array.capacity == 16 and list(array.values) == list(range(10))

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(800, 600)
    plots.show()
    n = 100_000
    rows = [{"epoch": e, "train_loss": 1.0 / e, "lr": 1e-3} for e in range(1, n + 1)]
    for start in range(0, n, 10_000):
        plots.add_rows(rows[start : start + 10_000])
    started = time.perf_counter()
    plots.redraw()
    plots.repaint()
    assert time.perf_counter() - started < 5
    assert plots.point_count() == n
    assert len(plots.curve_data("train_loss")[0]) == n
    assert plots.series["train_loss"].x.capacity >= n


def test_preferences_are_validated_and_saved_in_the_data_home(qtbot, window, trainwright_home):
    from desktop_app.kit.preferences import Preferences

    path = trainwright_home / "preferences.json"
    path.write_text(json.dumps({"torch_threads": -3}), encoding="utf-8")
    prefs, problem = Preferences.load(trainwright_home)
    assert prefs == Preferences() and "torch_threads" in problem

    window.apply_preferences(Preferences(torch_threads=2))
    assert json.loads(path.read_text(encoding="utf-8"))["torch_threads"] == 2
    assert window.training_tab.training_form.value("threads") == 2

    dialog = window.show_preferences()
    assert dialog.threads_spin.value() == 2
    dialog.threads_spin.setValue(3)
    dialog.accept()
    assert Preferences.load(trainwright_home)[0].torch_threads == 3


def test_geometry_and_splitters_persist_in_the_data_home(qtbot, workspace, trainwright_home):
    from desktop_app.main_window import MainWindow

    first = MainWindow(workspace)
    qtbot.addWidget(first)
    first.show()
    first.resize(780, 560)  # the offscreen screen is small: stay inside it
    first.training_tab.main_splitter.setSizes([320, 400])
    size, sizes = first.size(), first.training_tab.main_splitter.sizes()
    first.close()
    assert (trainwright_home / "window.ini").is_file()
    assert QSettings(str(trainwright_home / "window.ini"), QSettings.Format.IniFormat).contains(
        "window/geometry"
    )

    second = MainWindow(workspace)
    qtbot.addWidget(second)
    second.show()
    assert second.size() == size
    assert second.training_tab.main_splitter.sizes() == sizes


def test_about_shows_the_engine_version(qtbot, window):
    import engine

    box = window.show_about()
    assert engine.__version__ in box.text()
    box.close()


def test_typing_an_invalid_value_shows_the_engines_message(qtbot, tab):
    configure(qtbot, tab, {"prime": 11})
    field = tab.training_form.field_widget("milestones")
    tab.training_form.advanced_toggle.setChecked(True)
    field.setFocus()
    qtbot.keyClicks(field, "10, x")
    error = tab.training_form.error_label("milestones")
    assert error.isVisible()
    assert "not valid" in error.text() and "comma-separated integers" in error.text()
    assert not tab.start_button.isEnabled()


def test_every_control_has_an_accessible_name_and_a_tooltip(qtbot, window):
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
        QHeaderView,
        QLineEdit,
        QProgressBar,
    )

    # The plots and the Analysis tab are built right after the first paint.
    qtbot.waitUntil(lambda: window.findChild(QWidget, "lossPlot") is not None, timeout=10_000)
    controls = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QAbstractItemView)
    missing = []
    for widget in window.training_tab.findChildren(QWidget):
        if not isinstance(widget, (*controls, QProgressBar)) or isinstance(widget, QHeaderView):
            continue
        internal = widget.objectName().startswith("qt_") or widget.window() is not window
        if internal or isinstance(widget.parentWidget(), QAbstractSpinBox | QComboBox):
            continue  # Qt's own parts: popups, the line edit inside a spin box, ...
        if not widget.accessibleName() or not widget.toolTip():
            missing.append(f"{type(widget).__name__} {widget.objectName()!r}")
    assert not missing, missing
    for name in (
        "familyCombo",
        "startButton",
        "stopButton",
        "resumeButton",
        "lossPlot",
        "chronicleTable",
        "statusLabel",
        "progressBar",
    ):
        assert window.findChild(QWidget, name) is not None, name


def test_unexpected_exceptions_are_logged_and_shown_in_a_dialog(qtbot, trainwright_home):
    import sys
    import threading

    from desktop_app.app import install_exception_hook

    reporter = install_exception_hook(trainwright_home)
    try:
        try:
            raise ValueError("kaboom in a slot")
        except ValueError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        qtbot.waitUntil(lambda: reporter._dialog is not None, timeout=5_000)
        assert "kaboom in a slot" in reporter._dialog.text()

        def fail() -> None:
            raise RuntimeError("kaboom in a thread")

        thread = threading.Thread(target=fail, name="helper")
        thread.start()
        thread.join()
        assert reporter.count == 2
    finally:
        reporter.uninstall()
        if reporter._dialog is not None:
            reporter._dialog.close()
    log = (trainwright_home / "logs" / "trainwright.log").read_text(encoding="utf-8")
    assert "ValueError: kaboom in a slot" in log
    assert "RuntimeError: kaboom in a thread" in log and "Traceback" in log


def test_table_follows_the_newest_row_unless_scrolled_up(qtbot, tab):
    from desktop_app.training.run_queue import RunRequest

    tab.resize(900, 700)
    info = {"variant": "v", "family": FAMILY, "total_epochs": 400, "start_epoch": 0}
    tab._on_run_started(RunRequest(mode="train", variant="v", family=FAMILY), info)
    rows = _rows(300)
    bar = tab.table.verticalScrollBar()
    tab._on_rows(rows[:200])
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=5_000)

    bar.setValue(bar.maximum() // 2)  # the user scrolls up: new rows do not move the view
    position = bar.value()
    tab._on_rows(rows[200:400])
    qtbot.wait(50)
    assert bar.value() == position

    bar.setValue(bar.maximum())  # back at the bottom: following again
    tab._on_rows(rows[400:])
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=5_000)
    assert tab.chronicle_model.rowCount() == 600
    assert tab.progress_bar.value() == 300
    tab._run = None
    tab.progress_bar.stop()


def test_a_slow_user_family_loads_in_the_background_and_the_window_stays_responsive(
    qtbot, trainwright_home
):
    import json

    from helpers.families import USER_FAMILY_PY

    from desktop_app.main_window import MainWindow
    from engine.workspace import Workspace

    folder = trainwright_home / "families" / "slowfam"
    folder.mkdir(parents=True)
    spec = {
        "name": "slowfam",
        "display_name": "Slow family",
        "variant_pattern": "slowfam_{seed}",
        "domain_parameters": [{"name": "seed", "type": "int", "default": 0, "min": 0}],
        "training_defaults": {"epochs": 2, "batch_size": 10},
    }
    (folder / "family.json").write_text(json.dumps(spec))
    (folder / "family.py").write_text("import time\ntime.sleep(1.5)\n" + USER_FAMILY_PY)
    window = MainWindow(Workspace(trainwright_home))
    window.confirm_close = _yes
    qtbot.addWidget(window)
    tab = window.training_tab
    started = time.monotonic()
    assert tab.select_family("slowfam")
    assert time.monotonic() - started < 1.0  # the import runs elsewhere
    assert tab.state == "loading" and not tab.start_button.isEnabled()
    qtbot.waitUntil(lambda: tab.config is not None, timeout=RUN_TIMEOUT_MS)
    assert tab.config.variant == "slowfam_0" and tab.start_button.isEnabled()
    window.close()
