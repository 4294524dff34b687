"""The overlaid curves' x axis (epoch, step, relative or wall time) in the Analysis tab and the
Sweeps panel, on real runs, and the Analysis tab's empty states (headless)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QComboBox, QLabel

from desktop_app.analysis.tab import NO_CURVES_TEXT, NO_VARIANTS_TEXT, AnalysisTab
from desktop_app.kit.curve_plots import NO_SELECTION_TEXT, NO_TIMES_NOTE, CurveOverlay
from desktop_app.kit.x_axis import X_AXIS_TITLES, X_MODE_TIP, X_MODES
from engine.training.chronicle import is_epoch_end
from engine.workspace import Workspace

EPOCHS = 4
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> Path:
    """Two tiny MLPs on two_moons (8 and 12 hidden units, 4 epochs), trained once."""
    home = tmp_path_factory.mktemp("overlay-x-home")
    workspace = Workspace(home)
    for hidden in (8, 12):
        variant = workspace.create_variant(
            "mlp", {"dataset": "two_moons", "hidden_dim": hidden}, {"epochs": EPOCHS}
        )
        assert workspace.train(variant).status == "completed", variant.name
    return home


def variant_dirs(home: Path) -> list[Path]:
    return sorted((home / "variants" / "mlp").iterdir())


def install(trained_home: Path, home: Path) -> list[Path]:
    """Copy the trained variants into `home`; their directories there."""
    shutil.copytree(trained_home / "variants", home / "variants", dirs_exist_ok=True)
    return variant_dirs(home)


def epoch_rows(directory: Path) -> list[dict]:
    """The chronicle's epoch-end rows, read directly (what the curves must show)."""
    lines = (directory / "chronicle.jsonl").read_text(encoding="utf-8").splitlines()
    return [row for row in map(json.loads, filter(None, lines)) if is_epoch_end(row)]


def expected_x(directory: Path, mode: str) -> np.ndarray:
    rows = epoch_rows(directory)
    if mode in ("epoch", "step"):
        return np.array([row[mode] for row in rows], dtype=np.float64)
    stamps = np.array([row["timestamp"] for row in rows], dtype=np.float64)
    return stamps - stamps[0] if mode == "relative" else stamps


def strip_timestamps(directory: Path) -> None:
    """Rewrite the chronicle as an older version wrote it: rows without "timestamp"."""
    path = directory / "chronicle.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        row.pop("timestamp", None)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture
def make_tab(desktop_views, workspace):
    def make() -> AnalysisTab:
        tab = desktop_views.add(AnalysisTab(workspace), 1300, 900)
        tab.show()
        return tab

    return make


def shown_curves(qtbot, view, paths: list[Path]) -> None:
    """Wait until every one of these variants has its curves drawn."""
    wanted = {str(p) for p in paths}
    qtbot.waitUntil(lambda: set(view.curve_items) == wanted, timeout=TIMEOUT_MS)


def choose(overlay: CurveOverlay, mode: str) -> None:
    """Pick `mode` in the combo, as a user does."""
    overlay.x_axis_combo.setCurrentIndex(overlay.x_axis_combo.findData(mode))


def assert_drawn_on(overlay: CurveOverlay, directories: list[Path], mode: str) -> None:
    """Each variant's train loss runs over the chronicle's x of `mode`; every curve's points
    are among them; both x axes are titled and tick for `mode`."""
    for directory in directories:
        items = overlay.curve_items[str(directory)]
        expected = expected_x(directory, mode)
        assert len(items) >= 2  # loss and accuracy at least
        np.testing.assert_allclose(items[0].xData, expected)
        for item in items:
            assert np.isin(item.xData, expected).all()
    for plot in overlay.plots:
        axis = plot.getPlotItem().getAxis("bottom")
        assert axis.labelText == X_AXIS_TITLES[mode]
        assert axis.time_mode == (mode if mode in ("relative", "wall") else None)


# ---- the x axis ----------------------------------------------------------------------------
def test_the_curves_reaching_the_overlay_carry_timestamps(make_tab, qtbot, trained_home, workspace):
    directories = install(trained_home, workspace.home)
    tab = make_tab()
    tab.select_variants([d.name for d in directories])
    shown_curves(qtbot, tab, directories)
    for path, curves in tab.curve_loader.wanted():
        stamps = np.asarray(curves["timestamp"])
        assert len(stamps) == EPOCHS and np.isfinite(stamps).all(), path
        assert (np.diff(stamps) >= 0).all()


def test_the_x_axis_choice_redraws_on_epoch_step_relative_and_wall_time(
    make_tab, qtbot, trained_home, workspace, assert_described
):
    directories = install(trained_home, workspace.home)
    tab = make_tab()
    assert_described(tab, {"lossPlotXAxis": QComboBox, "lossPlotXAxisLabel": QLabel})
    overlay = tab.curve_overlay
    combo = overlay.x_axis_combo
    assert combo.accessibleName() == "X axis" and combo.toolTip() == X_MODE_TIP
    assert [combo.itemData(i) for i in range(combo.count())] == list(X_MODES)
    assert combo.isVisible() and overlay.x_mode() == "epoch"
    tab.select_variants([d.name for d in directories])
    shown_curves(qtbot, tab, directories)
    assert_drawn_on(overlay, directories, "epoch")
    np.testing.assert_allclose(expected_x(directories[0], "epoch"), np.arange(1, EPOCHS + 1))
    for mode in ("step", "relative", "wall", "epoch"):
        choose(overlay, mode)
        assert overlay.x_mode() == mode
        assert_drawn_on(overlay, directories, mode)
    # Relative time starts at each variant's own first epoch end.
    overlay.set_x_mode("relative")
    for directory in directories:
        assert overlay.curve_items[str(directory)][0].xData[0] == 0.0
    assert combo.currentData() == "relative"
    # The range follows the new axis: wall time is far from epochs 1..4.
    overlay.set_x_mode("wall")
    qtbot.waitUntil(lambda: overlay.loss_plot.getPlotItem().viewRange()[0][0] > 1e9)
    with pytest.raises(ValueError):
        overlay.set_x_mode("minutes")


def test_a_chronicle_without_timestamps_draws_nothing_on_a_time_axis_and_says_why(
    make_tab, qtbot, trained_home, workspace
):
    old, new = install(trained_home, workspace.home)
    strip_timestamps(old)
    tab = make_tab()
    tab.select_variants([old.name, new.name])
    shown_curves(qtbot, tab, [old, new])
    overlay = tab.curve_overlay
    assert not overlay.legend_names[str(old)].endswith(NO_TIMES_NOTE)
    for mode in ("relative", "wall"):
        choose(overlay, mode)
        assert overlay.curve_items[str(old)] == []
        assert overlay.legend_names[str(old)].endswith(NO_TIMES_NOTE)
        legend = overlay.loss_plot.getPlotItem().legend
        texts = [label.text for _, label in legend.items]
        assert overlay.legend_names[str(old)] in texts
        assert not overlay.legend_names[str(new)].endswith(NO_TIMES_NOTE)
        np.testing.assert_allclose(overlay.curve_items[str(new)][0].xData, expected_x(new, mode))
    choose(overlay, "epoch")  # epochs are known all the same
    np.testing.assert_allclose(overlay.curve_items[str(old)][0].xData, np.arange(1, EPOCHS + 1))
    assert not any(NO_TIMES_NOTE in name for name in overlay.legend_names.values())


def test_the_sweeps_panel_offers_its_own_x_axis_choice(
    desktop_views, qtbot, trained_home, workspace
):
    from desktop_app.sweeps.panel import SweepPanel
    from engine.sweeps import create_sweep
    from engine.sweeps import store as sweep_store
    from engine.sweeps.store import SweepRow

    directories = install(trained_home, workspace.home)
    record = create_sweep(workspace, "mlp", {"hidden_dim": "8, 12"}, {"dataset": "two_moons"})
    for index, directory in enumerate(directories):
        record.put(
            SweepRow(
                index=index,
                variant=directory.name,
                parameters={"hidden_dim": 8 + 4 * index},
                result="completed",
                metric_name="accuracy",
                metric_score=0.9,
                train_loss=0.3,
                test_loss=0.3,
            )
        )
    record.status = "completed"  # type: ignore[assignment]
    sweep_store.save(workspace.home, record)
    panel = desktop_views.add(SweepPanel(workspace), 1400, 900)
    panel.show()
    assert panel.select_sweep(record.id)
    panel.select_runs([0, 1])
    shown_curves(qtbot, panel, directories)
    overlay = panel.curve_overlay
    assert overlay.x_axis_combo.objectName() == "sweepLossPlotXAxis"
    assert panel.findChild(QComboBox, "sweepLossPlotXAxis") is overlay.x_axis_combo
    qtbot.waitUntil(overlay.x_axis_combo.isVisible)  # the layout shows it on the next turn
    for mode in X_MODES:
        choose(overlay, mode)
        assert_drawn_on(overlay, directories, mode)
    panel.select_runs([])  # nothing selected: the plots say how curves come
    qtbot.waitUntil(overlay.is_empty)
    assert overlay.empty_text.isVisible()
    assert "Select runs" in overlay.empty_text.textItem.toPlainText()


# ---- the empty states ----------------------------------------------------------------------
def assert_plots_empty(overlay: CurveOverlay, text: str) -> None:
    """No made-up ticks, no tick values, and the sentence on the plot."""
    assert overlay.is_empty() and overlay.empty_text.isVisible()
    assert overlay.empty_text.textItem.toPlainText() == text
    for plot in overlay.plots:
        for side in ("left", "bottom"):
            axis = plot.getPlotItem().getAxis(side)
            assert axis._tickLevels == [[], []]
            assert not axis.style["showValues"]
        assert not plot.getPlotItem().legend.isVisible()  # not a bare frame


def test_without_variants_the_tab_says_how_they_come_until_one_appears(
    make_tab, qtbot, trained_home, workspace
):
    tab = make_tab()
    label = tab.no_variants_label
    assert label.isVisible() and not tab.table.isVisible()
    assert label.text() == NO_VARIANTS_TEXT and "Training tab" in label.text()
    assert label.objectName() == "noVariantsLabel" and label.accessibleName()
    assert label.toolTip()
    assert tab.model.rowCount() == 0
    assert_plots_empty(tab.curve_overlay, NO_CURVES_TEXT)
    # A variant trained meanwhile (copied in) is found by the live watcher: the sentence goes.
    source = variant_dirs(trained_home)[0]
    shutil.copytree(source, workspace.home / "variants" / "mlp" / source.name)
    qtbot.waitUntil(lambda: not label.isVisible(), timeout=TIMEOUT_MS)
    assert tab.table.isVisible() and tab.model.rowCount() == 1
    # Variants, none selected: the plots ask for a selection, still without made-up ticks.
    assert_plots_empty(tab.curve_overlay, NO_SELECTION_TEXT)
    tab.select_variants([source.name])
    qtbot.waitUntil(lambda: bool(tab.curve_items), timeout=TIMEOUT_MS)
    overlay = tab.curve_overlay
    assert not overlay.is_empty() and not overlay.empty_text.isVisible()
    assert overlay.loss_plot.getPlotItem().legend.isVisible()
    axis = overlay.loss_plot.getPlotItem().getAxis("bottom")
    assert axis._tickLevels is None and axis.style["showValues"]
    tab.select_variants([])
    qtbot.waitUntil(overlay.is_empty, timeout=TIMEOUT_MS)
    assert_plots_empty(overlay, NO_SELECTION_TEXT)


def test_reading_the_same_variants_again_keeps_the_users_zoom(qtbot):
    """A live variant's curves are read again every few seconds: a zoom must survive that,
    while other variants, or another x axis, range the plots afresh."""
    from engine.analysis.curves import curves_from_rows

    rows = [
        {"epoch": e, "step": 10 * e, "timestamp": 1000.0 + 2 * e, "train_loss": 1.0 / e,
         "test_loss": 1.5 / e, "train_accuracy": 0.5, "test_accuracy": 0.4}
        for e in range(1, 51)
    ]  # fmt: skip
    curves = {**curves_from_rows(rows), "config": None}
    overlay = CurveOverlay("zoomLoss", "zoomMetric", "of a test")
    qtbot.addWidget(overlay)
    overlay.resize(900, 400)
    overlay.draw([("/a", curves)])
    box = overlay.loss_plot.getPlotItem().vb
    box.setXRange(10, 20, padding=0)
    overlay.draw([("/a", curves)])  # read again
    assert box.viewRange()[0] == pytest.approx([10, 20])
    assert not box.autoRangeEnabled()[0]
    overlay.draw([("/a", curves), ("/b", curves)])  # another selection
    assert box.autoRangeEnabled()[0]
    box.setXRange(10, 20, padding=0)
    overlay.set_x_mode("step")
    assert box.autoRangeEnabled()[0]


@pytest.mark.parametrize(("span", "width"), [(100, 600), (900, 600), (4 * 86400, 600), (3e6, 300)])
def test_time_ticks_are_even_and_fall_on_local_hours(span, width):
    from desktop_app.kit.x_axis import time_tick_spacing

    kolkata = 5.5 * 3600  # seconds east of UTC
    levels = time_tick_spacing(span, width, kolkata)
    major = levels[0][0]
    assert span / major <= max(1.0, width / 70) or major % 86400 == 0
    for spacing, offset in levels:
        assert major % spacing == 0  # minor ticks divide major ones: an even grid
        assert (offset + kolkata) % spacing == 0  # a tick at local midnight
