"""The live training plots' x axis choice (epoch, step, relative or wall time), its memory
across restarts, and two layout defects: crowded y tick labels on short plots, and a progress
text cut off in a narrow window. Headless, with real widgets and engine-like rows."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QFontMetrics, QFontMetricsF, QImage, QPainter

EPOCHS = 50
STEPS_PER_EPOCH = 10
START = 1_700_000_000.0  # Unix seconds of the first epoch's end
SECONDS_PER_EPOCH = 2.0
PAUSE_AFTER_EPOCH = 30  # the run was stopped there and resumed 100 s later
PAUSE_S = 100.0


def stamp(epoch: int) -> float:
    """When `epoch` ended: every 2 s, and 100 s later from epoch 31 on (a resume)."""
    pause = PAUSE_S if epoch > PAUSE_AFTER_EPOCH else 0.0
    return START + SECONDS_PER_EPOCH * (epoch - 1) + pause


def epoch_rows(epochs: int = EPOCHS, start: float = START) -> list[dict]:
    """Chronicle rows as the engine writes them: a step row per step, then the epoch's end."""
    rows = []
    for epoch in range(1, epochs + 1):
        step = STEPS_PER_EPOCH * epoch
        at = stamp(epoch) - START + start
        rows.append({"epoch": epoch, "step": step - 1, "timestamp": at - 0.1, "loss": 1.0})
        rows.append(
            {
                "epoch": epoch,
                "step": step,
                "timestamp": at,
                "train_loss": 1.0 / epoch,
                "test_loss": 1.2 / epoch,
                "train_accuracy": 0.5 + epoch / 200,
                "test_accuracy": 0.45 + epoch / 200,
                "lr": 0.1 * 0.9**epoch,
            }
        )
    return rows


EXPECTED_X = {
    "epoch": np.arange(1, EPOCHS + 1, dtype=float),
    "step": STEPS_PER_EPOCH * np.arange(1, EPOCHS + 1, dtype=float),
    "relative": np.array([stamp(e) - START for e in range(1, EPOCHS + 1)]),
    "wall": np.array([stamp(e) for e in range(1, EPOCHS + 1)]),
}


@pytest.fixture
def plots(qtbot):
    from desktop_app.training.plots import TrainingPlots

    view = TrainingPlots()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


def text_specs(axis) -> tuple[list, float]:
    """The labels the axis would paint now, and the height of a line of their text."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
        height = QFontMetricsF(painter.font()).height()
    finally:
        painter.end()
    return ([] if specs is None else specs[2]), height


def scene_pos(plot, x: float):
    """The scene point at view x `x`, halfway up the plot."""
    box = plot.getPlotItem().vb
    y_range = box.viewRange()[1]
    return box.mapViewToScene(QPointF(x, sum(y_range) / 2))


# ---- the x axis choice ------------------------------------------------------------------------
def test_the_combo_is_described_and_offers_every_mode(plots):
    from PySide6.QtWidgets import QComboBox

    from desktop_app.kit.x_axis import X_MODE_NAMES, X_MODE_TIP, X_MODES

    combo = plots.findChild(QComboBox, "xAxisCombo")
    assert combo is plots.x_axis_combo
    assert combo.accessibleName() == "X axis" and combo.toolTip() == X_MODE_TIP
    assert [combo.itemData(i) for i in range(combo.count())] == list(X_MODES)
    assert [combo.itemText(i) for i in range(combo.count())] == list(X_MODE_NAMES.values())
    assert plots.x_mode() == "epoch" and combo.currentData() == "epoch"
    with pytest.raises(ValueError):
        plots.set_x_mode("minutes")


@pytest.mark.parametrize("mode", ["epoch", "step", "relative", "wall"])
def test_each_mode_draws_the_curves_at_its_x_and_labels_the_axis(plots, mode):
    from desktop_app.kit.x_axis import TIME_MODES, X_AXIS_TITLES
    from desktop_app.training.plots import X_MODE_PHRASES

    plots.set_rows(epoch_rows())
    plots.set_x_mode("step" if mode == "epoch" else "epoch")  # come to `mode` from another
    plots.x_axis_combo.setCurrentIndex(plots.x_axis_combo.findData(mode))  # as a user does
    assert plots.x_mode() == mode
    for key in ("train_loss", "test_accuracy", "lr"):
        x, y = plots.curve_data(key)
        np.testing.assert_allclose(x, EXPECTED_X[mode])
        assert len(y) == EPOCHS
    item = plots.lr_plot.getPlotItem()
    assert item.getAxis("bottom").labelText == X_AXIS_TITLES[mode]
    for plot in plots.plots:
        axis = plot.getPlotItem().getAxis("bottom")
        assert axis.time_mode == (mode if mode in TIME_MODES else None)
        assert X_MODE_PHRASES[mode] in plot.toolTip()
        assert ("per epoch" in plot.toolTip()) == (mode == "epoch")
    # x auto-ranges over the new axis: every point in view
    low, high = item.vb.viewRange()[0]
    assert low <= EXPECTED_X[mode][0] and EXPECTED_X[mode][-1] <= high
    assert high - low < 2 * (EXPECTED_X[mode][-1] - EXPECTED_X[mode][0])


def test_the_readout_and_epoch_lookups_stay_in_epochs(plots):
    plots.set_rows(epoch_rows())
    plots.set_x_mode("wall")
    assert plots.readout_text(31).startswith("epoch 31")
    assert plots.series["train_loss"].value_at(31) == pytest.approx(1 / 31)
    assert list(plots.epochs()) == list(range(1, EPOCHS + 1))


@pytest.mark.parametrize(
    ("mode", "x", "epoch"),
    [
        ("epoch", 4.2, 4),
        ("step", 212.0, 21),
        ("relative", 120.0, 31),  # nearer 160 s (epoch 31, after the pause) than 58 s (30)
        ("wall", START + 40.2, 21),
    ],
)
def test_hover_and_click_at_a_modes_x_select_its_nearest_epoch(plots, qtbot, mode, x, epoch):
    plots.set_rows(epoch_rows())
    plots.set_x_mode(mode)
    assert plots.nearest_epoch(x) == epoch
    plot = plots.metric_plot
    pos = scene_pos(plot, x)
    plot.scene().sigMouseMoved.emit(pos)
    assert plots.readout.text().startswith(f"epoch {epoch} ")
    cursor = plots._cursors[id(plots.loss_plot)]
    assert cursor.isVisible() and cursor.value() == pytest.approx(EXPECTED_X[mode][epoch - 1])
    point = plot.mapFromScene(pos)
    with qtbot.waitSignal(plots.epochClicked, timeout=2_000) as clicked:
        qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert clicked.args == [epoch]


def test_the_marker_sits_at_its_epochs_x_in_every_mode(plots):
    plots.set_rows(epoch_rows())
    plots.mark_epoch(40)
    for mode in ("step", "relative", "wall", "epoch"):
        plots.set_x_mode(mode)
        assert plots.marker_value() == pytest.approx(EXPECTED_X[mode][39]), mode
        assert plots.marked_epoch == 40


def test_points_without_a_step_or_timestamp_are_not_drawn(plots):
    rows = [row for row in epoch_rows() if "train_loss" in row]
    for row in rows[:5]:  # from an older chronicle: no timestamp, no step
        del row["timestamp"], row["step"]
    plots.set_rows(rows)
    plots.mark_epoch(3)
    for mode in ("step", "relative", "wall"):
        plots.set_x_mode(mode)
        x, _ = plots.curve_data("train_loss")
        np.testing.assert_allclose(x, EXPECTED_X[mode][5:] - (mode == "relative") * 10.0)
        assert plots.marker_value() is None  # epoch 3 has no x here
    plots.set_x_mode("epoch")
    assert len(plots.curve_data("train_loss")[0]) == EPOCHS and plots.marker_value() == 3


def test_relative_time_counts_from_the_first_row_shown(plots):
    rows = epoch_rows()
    plots.set_x_mode("relative")
    plots.add_rows(rows[:20])  # batches of a live run keep the first end as the origin
    plots.add_rows(rows[20:])
    plots.redraw()
    np.testing.assert_allclose(plots.curve_data("train_loss")[0], EXPECTED_X["relative"])
    later = epoch_rows(start=START + 5_000)[20:]  # another variant's history, from epoch 11
    plots.set_rows(later)
    x, _ = plots.curve_data("train_loss")
    assert x[0] == 0.0
    np.testing.assert_allclose(x, EXPECTED_X["relative"][10:] - EXPECTED_X["relative"][10])
    plots.clear()
    plots.add_rows(rows[-2:])
    plots.redraw()
    assert list(plots.curve_data("train_loss")[0]) == [0.0]


def test_live_rows_and_the_envelope_work_in_step_mode_with_100k_points(plots):
    from desktop_app.training.plots import wants_envelope

    plots.set_x_mode("step")
    n = 100_000
    rows = [
        {"epoch": e, "step": 7 * e, "timestamp": START + e, "train_loss": 1.0 / e, "lr": 1e-3}
        for e in range(1, n + 1)
    ]
    for start in range(0, n, 25_000):
        plots.add_rows(rows[start : start + 25_000])
    plots.redraw()
    series = plots.series["train_loss"]
    bins = plots._bins("train_loss")
    assert plots._following() and wants_envelope(n, bins) and series.enveloped
    drawn_x, drawn_y = series.curve.getOriginalDataset()
    assert len(drawn_x) <= 2 * bins < n
    assert drawn_x[0] == 7 and drawn_x[-1] == 7 * n  # the envelope spans every step
    x, y = plots.curve_data("train_loss")  # the smoothed curve, at full resolution
    assert drawn_y.max() == y.max() and drawn_y.min() == y.min()
    np.testing.assert_array_equal(x, 7.0 * np.arange(1, n + 1))
    plots.set_x_mode("relative")  # a switch redraws every curve, still as an envelope
    assert series.enveloped and series.curve.getOriginalDataset()[0][-1] == n - 1
    assert plots.nearest_epoch(5_000.2) == 5_001


# ---- remembered across restarts -----------------------------------------------------------
def make_tab(qtbot, workspace):
    """A Training tab as the window makes it (not shown: its plots are made on first use)."""
    from desktop_app.training.controller import RunController
    from desktop_app.training.tab import TrainingTab

    controller = RunController(workspace)
    tab = TrainingTab(workspace, controller)
    qtbot.addWidget(tab)
    return tab, controller


def test_the_x_axis_persists_across_restarts(qtbot, workspace, tmp_path):
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    first, first_controller = make_tab(qtbot, workspace)
    second, second_controller = make_tab(qtbot, workspace)
    try:
        combo = first.plots.x_axis_combo
        combo.setCurrentIndex(combo.findData("relative"))  # as a user does
        first.save_state(settings)
        assert settings.value("training/xAxis") == "relative"

        second.restore_state(settings)  # the next session's tab, before its plots are made
        assert not second.results.plots_made and second.x_mode() == "relative"
        assert second.plots.x_mode() == "relative"  # the plots take it when they are made
        assert second.plots.x_axis_combo.currentData() == "relative"

        second.plots.set_x_mode("wall")
        second.save_state(settings)
        second.plots.set_x_mode("step")
        second.restore_state(settings)  # plots already made: at once
        assert second.plots.x_mode() == "wall"
        settings.setValue("training/xAxis", "fortnights")  # unknown (a newer version's?)
        second.restore_state(settings)
        assert second.x_mode() == "epoch"
    finally:
        first_controller.shutdown()
        second_controller.shutdown()


# ---- defect: short plots crowd their y tick labels --------------------------------------------
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("height", [600, 420, 330])
def test_short_plots_label_y_ticks_at_least_a_text_height_apart(plots, qtbot, log, height):
    rows = [row for row in epoch_rows() if "train_loss" in row]
    for row in rows:  # a warm-up, then a decay over five decades
        epoch = row["epoch"]
        row["lr"] = 0.1 * epoch / 5 if epoch <= 5 else 0.1 * 10 ** (-5 * (epoch - 5) / 45)
    plots.resize(900, height)
    plots.log_buttons["lrPlot"].setChecked(log)
    plots.set_rows(rows)
    qtbot.wait(20)
    for plot in plots.plots:
        specs, text_height = text_specs(plot.getPlotItem().getAxis("left"))
        assert specs, plot.objectName()  # still labelled
        centers = sorted(rect.center().y() for rect, _flags, _text in specs)
        gaps = np.diff(centers)
        assert (gaps >= text_height - 0.01).all(), (plot.objectName(), centers, text_height)


# ---- defect: the progress text overflows a narrow bar -----------------------------------------
def test_the_progress_text_fits_a_narrow_bar_and_is_whole_when_wide(qtbot):
    from desktop_app.training.run_progress import RunProgress

    bar = RunProgress()
    qtbot.addWidget(bar)
    bar.resize(1200, 24)
    bar.show()
    qtbot.waitExposed(bar)
    metrics = QFontMetrics(bar.font())

    def fits() -> bool:
        return metrics.horizontalAdvance(bar.format()) <= bar.contentsRect().width()

    def full() -> str:
        return bar.toolTip().splitlines()[0]  # the whole text (its estimate moves)

    bar.start(1000, 20000, elapsed_before=3722.0)
    qtbot.wait(20)
    bar.advance(1200)
    assert bar.format() == full() and bar.text() == full()
    assert full().startswith("1200 / 20000 epochs · 1:02:0") and full().endswith(" left")

    bar.resize(300, 24)  # refits at once, without waiting for the next tick
    assert fits() and bar.format().startswith("1200 / 20000")
    assert "elapsed" in full() and "left" in full()  # the tooltip keeps every part

    bar.stop(early="target reached: test accuracy 0.95 after 1200 epochs")
    assert fits() and bar.format().startswith("1200 / 20000") and bar.format() != full()
    assert "target reached" in full()
    bar.resize(1200, 24)
    assert bar.format() == full() and "target reached" in bar.format()
    bar.resize(40, 24)  # nothing fits: the count stays
    assert bar.format() == "1200 / 20000"
