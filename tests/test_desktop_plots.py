"""The plots, headless: axes without SI prefixes, SVG export, the export formats, the theme,
the empty state, smoothing, log buttons, colours and the overlay's legends."""

from __future__ import annotations

import xml.dom.minidom

import numpy as np
import pytest
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication, QSlider, QToolButton


def rows(n: int, scale: float = 1.0) -> list[dict]:
    return [
        {
            "epoch": i,
            "step": 10 * i,
            "train_loss": scale / i,
            "test_loss": 1.2 * scale / i,
            "train_accuracy": 0.8 + 0.01 * (i % 10),
            "test_accuracy": 0.85 + 0.001 * i,
            "lr": 0.01,
            "loss_ema": scale / i,
        }
        for i in range(1, n + 1)
    ]


@pytest.fixture
def plots(qtbot):
    from desktop_app.training.plots import TrainingPlots

    view = TrainingPlots()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


@pytest.fixture
def light_theme():
    """The test's theme changes are undone (the application outlives the test)."""
    from desktop_app.kit.theme import apply_theme

    app = QApplication.instance()
    yield app
    apply_theme(app, "system")


def tick_strings(plot, side: str) -> list[str]:
    """The tick labels the axis would paint now."""
    axis = plot.getPlotItem().getAxis(side)
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [] if specs is None else [text for _, _, text in specs[2]]


# ---- defect 1: no SI prefixes, plain log ticks, accuracy in 0–1 -----------------------------
def test_axes_have_no_si_prefix_and_plain_log_ticks(plots):
    plots.set_rows(rows(40, scale=0.6))  # losses 0.015 … 0.72: a log axis over decimals
    QApplication.processEvents()
    for plot in plots.plots:
        for side in ("left", "bottom"):
            axis = plot.getPlotItem().getAxis(side)
            assert axis.autoSIPrefix is False
            assert axis.autoSIPrefixScale == 1.0
            assert "x0.001" not in axis.labelString() and "(x" not in axis.labelString()
    loss_ticks = tick_strings(plots.loss_plot, "left")
    assert loss_ticks and all("10" not in t or t in ("10",) for t in loss_ticks), loss_ticks
    assert "0.1" in loss_ticks
    assert set(loss_ticks) <= {"0.02", "0.05", "0.1", "0.2", "0.5", "1"}, loss_ticks
    assert not any("·" in t or "⁻" in t for t in loss_ticks)
    accuracy = [float(t) for t in tick_strings(plots.metric_plot, "left")]
    assert accuracy and all(0.5 <= v <= 1.0 for v in accuracy), accuracy


def test_plain_numbers_and_whole_epoch_ticks(plots):
    from desktop_app.kit.curve_plots import plain_number

    assert [plain_number(v) for v in (0.1, 0.3, 1.0, 20.0, 0.02, 1e-5, 3e7)] == [
        "0.1",
        "0.3",
        "1",
        "20",
        "0.02",
        "1e-5",
        "3e7",
    ]
    plots.set_rows(rows(3))
    QApplication.processEvents()
    epochs = tick_strings(plots.lr_plot, "bottom")
    assert epochs and all(float(t).is_integer() for t in epochs), epochs


# ---- defects 2 and 3: export ------------------------------------------------------------------
def test_every_plot_exports_an_svg_that_parses(plots, tmp_path):
    from pyqtgraph.exporters import SVGExporter

    plots.set_rows(rows(30))
    QApplication.processEvents()
    for plot in plots.plots:
        path = tmp_path / f"{plot.objectName()}.svg"
        SVGExporter(plot.getPlotItem()).export(str(path))
        document = xml.dom.minidom.parse(str(path))
        assert document.documentElement.tagName == "svg"
        drawn = document.getElementsByTagName("path") + document.getElementsByTagName("polyline")
        assert len(drawn) > 3, plot.objectName()


def test_svg_export_keeps_closing_tokens():
    from desktop_app.kit.plot_export import join_closings, split_closings

    d, closings = split_closings("M0,0 L10,0 L10,5 L0,5 L0,0 Z M1,1 L2,2 Z")
    assert d == "M0,0 L10,0 L10,5 L0,5 L0,0 M1,1 L2,2"
    assert closings == [5, 7]
    assert join_closings("M1,1 L2,1 L2,2 L1,2 L1,1 M3,3 L4,4", closings) == (
        "M1,1 L2,1 L2,2 L1,2 L1,1 Z M3,3 L4,4 Z"
    )


def test_analysis_overlay_exports_svg(qtbot, tmp_path):
    from pyqtgraph.exporters import SVGExporter

    from desktop_app.kit.curve_plots import CurveOverlay
    from engine.analysis.curves import curves_from_rows

    overlay = CurveOverlay("lossPlot", "metricPlot", "per epoch")
    qtbot.addWidget(overlay)
    overlay.resize(800, 400)
    overlay.show()
    overlay.draw([("/h/variants/mlp/a", curves_from_rows(rows(20)))])
    path = tmp_path / "overlay.svg"
    SVGExporter(overlay.loss_plot.getPlotItem()).export(str(path))
    assert xml.dom.minidom.parse(str(path)).getElementsByTagName("path")


def test_export_dialog_offers_no_matplotlib_window(plots):
    import importlib.util

    from desktop_app.kit.plot_export import exporter_names

    names = exporter_names()
    assert "Scalable Vector Graphics (SVG)" in names
    if importlib.util.find_spec("matplotlib") is None:
        assert "Matplotlib Window" not in names
    # The dialog itself lists the same formats.
    scene = plots.loss_plot.scene()
    scene.contextMenuItem = plots.loss_plot.getPlotItem().vb  # as a right-click sets it
    scene.showExportDialog()
    dialog = scene.exportDialog
    listed = [dialog.ui.formatList.item(i).text() for i in range(dialog.ui.formatList.count())]
    dialog.close()
    assert listed == names


# ---- defect 13 and the dark theme ------------------------------------------------------------
def test_apply_theme_sets_palettes_and_every_plot_follows(plots, light_theme, qtbot):
    from desktop_app.kit.curve_plots import overlay_plot
    from desktop_app.kit.theme import THEMES, apply_theme, current_theme, is_dark

    app = light_theme
    overlay = overlay_plot("normPlot", "Parameter norm", "tip", "Σ w²")
    qtbot.addWidget(overlay)
    overlay.show()
    with pytest.raises(ValueError):
        apply_theme(app, "purple")
    assert THEMES == ("system", "light", "dark")

    apply_theme(app, "light")
    QApplication.processEvents()
    assert current_theme() == "light" and not is_dark()
    assert _background(plots.loss_plot).lightnessF() > 0.9

    apply_theme(app, "dark")
    QApplication.processEvents()
    assert current_theme() == "dark" and is_dark()
    assert app.style().name().lower() == "fusion"
    for plot in [*plots.plots, overlay]:
        background = _background(plot)
        assert background.lightnessF() < 0.3, plot.objectName()
        axis = plot.getPlotItem().getAxis("left")
        assert axis.textPen().color().lightnessF() > 0.7
        assert axis.pen().color().lightnessF() > 0.7
    grid = plots.loss_plot.getPlotItem().getAxis("left")
    assert max(grid.background) < 80  # the opaque grid blends into the dark background
    title = plots.loss_plot.getPlotItem().titleLabel.opts["color"]
    assert title.lower() not in ("#000000", "#282828")

    apply_theme(app, "light")
    QApplication.processEvents()
    assert _background(plots.lr_plot).lightnessF() > 0.9
    assert plots.loss_plot.getPlotItem().getAxis("left").textPen().color().lightnessF() < 0.3


def _background(plot):
    return plot.backgroundBrush().color()


# ---- defect 15: the empty state -------------------------------------------------------------
def test_empty_plots_show_a_hint_and_no_axes_until_data(plots):
    from desktop_app.training.plots import EMPTY_TEXT

    assert plots.is_empty()
    assert plots.empty_text.isVisible() and plots.empty_text.toPlainText() == EMPTY_TEXT
    for plot in plots.plots:
        for side in ("left", "bottom"):
            axis = plot.getPlotItem().getAxis(side)
            assert axis.style["showValues"] is False
            assert tick_strings(plot, side) == []  # no made-up 0.1 … 0.9
    plots.add_rows(rows(5))
    assert not plots.empty_text.isVisible()
    assert plots.loss_plot.getPlotItem().getAxis("left").style["showValues"] is True
    assert tick_strings(plots.loss_plot, "left")
    plots.clear()
    assert plots.empty_text.isVisible()


# ---- TensorBoard's features ------------------------------------------------------------------
def test_debiased_ema_matches_tensorboard():
    from desktop_app.training.plots import debiased_ema

    values = np.array([1.0, 2.0, 3.0, 4.0])
    smoothed, state = debiased_ema(values, 0.6)
    last, expected = 0.0, []
    for i, v in enumerate(values, start=1):
        last = last * 0.6 + 0.4 * v
        expected.append(last / (1 - 0.6**i))
    assert np.allclose(smoothed, expected)
    assert smoothed[0] == 1.0  # debiased: the first point is the first value
    more, _ = debiased_ema(np.array([5.0]), 0.6, state)
    whole, _ = debiased_ema(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 0.6)
    assert more[0] == pytest.approx(whole[-1])
    assert np.array_equal(debiased_ema(values, 0.0)[0], values)


def test_smoothing_slider_draws_smoothed_over_raw(plots):
    data = rows(50)
    plots.set_rows(data)
    slider = plots.findChild(QSlider, "smoothingSlider")
    assert slider.accessibleName() == "Smoothing"
    assert plots.smoothing() == pytest.approx(0.6)
    series = plots.series["train_accuracy"]
    raw = np.array([r["train_accuracy"] for r in data])
    _, shown = plots.curve_data("train_accuracy")
    assert len(shown) == 50 and not np.allclose(shown, raw)
    assert np.allclose(series.raw_curve.getOriginalDataset()[1], raw)
    assert series.raw_curve.opts["pen"].color().alpha() < 255  # faint
    assert plots.readout_text(7).count(f"{raw[6]:.4g}") >= 1  # the readout stays raw

    slider.setValue(0)
    _, shown = plots.curve_data("train_accuracy")
    assert np.allclose(shown, raw)
    assert len(series.raw_curve.getOriginalDataset()[0] or []) == 0
    slider.setValue(99)
    assert plots.smoothing() == pytest.approx(0.99)
    plots.add_rows(rows(60)[50:])  # smoothing continues over new rows
    plots.redraw()
    _, shown = plots.curve_data("train_accuracy")
    assert len(shown) == 60
    assert plots.series["lr"].raw_curve is None  # the lr is not smoothed


def test_log_buttons_switch_each_plot(plots):
    buttons = {b.objectName(): b for b in plots.findChildren(QToolButton) if b.isCheckable()}
    assert set(buttons) >= {"lossLogButton", "metricLogButton", "lrLogButton"}
    loss = buttons["lossLogButton"]
    assert loss.isChecked() and plots.is_log(plots.loss_plot)
    loss.setChecked(False)
    assert not plots.loss_plot.getPlotItem().getAxis("left").logMode
    plots.metric_plot.getPlotItem().setLogMode(y=True)  # the plot's own menu
    assert buttons["metricLogButton"].isChecked()
    plots.set_rows(rows(10))
    buttons["lrLogButton"].setChecked(True)
    assert plots.lr_plot.getPlotItem().getAxis("left").logMode
    for button in buttons.values():
        assert button.accessibleName() and button.toolTip()


def test_curves_use_okabe_ito_colours(plots):
    from desktop_app.kit.theme import OKABE_ITO

    for key in ("train_loss", "test_loss", "lr", "loss_ema"):
        color = plots.series[key].curve.opts["pen"].color()
        assert (color.red(), color.green(), color.blue()) in OKABE_ITO


# ---- the overlay's legends -----------------------------------------------------------------
def test_legend_labels_name_what_differs():
    from desktop_app.kit.curve_plots import differing_keys, legend_labels

    base = {
        "family": "mlp",
        "variant": "mlp-aaaa",
        "domain": {"hidden_dim": 64, "depth": 2},
        "training": {"lr": 0.01, "epochs": 100},
        "config_hash": "aaaa",
    }
    other = {
        **base,
        "variant": "mlp-bbbb",
        "domain": {"hidden_dim": 128, "depth": 2},
        "training": {"lr": 0.001, "epochs": 100},
        "config_hash": "bbbb",
    }
    configs = {"/h/variants/mlp/mlp-aaaa": base, "/h/variants/mlp/mlp-bbbb": other}
    assert differing_keys(configs) == ["hidden_dim", "lr"]
    assert legend_labels(configs) == {
        "/h/variants/mlp/mlp-aaaa": "hidden_dim=64, lr=0.01",
        "/h/variants/mlp/mlp-bbbb": "hidden_dim=128, lr=0.001",
    }
    # One variant, or no config: the name.
    assert legend_labels({"/h/variants/mlp/mlp-aaaa": base}) == {
        "/h/variants/mlp/mlp-aaaa": "mlp-aaaa"
    }
    assert legend_labels({"/x/a": None, "/x/b": None}) == {"/x/a": "a", "/x/b": "b"}
    # Variants of different families keep their names.
    third = {**other, "family": "modulo"}
    assert legend_labels({"/x/a": base, "/x/b": third}) == {"/x/a": "a", "/x/b": "b"}
    # Labels that would be equal (a difference past the keys shown) get the names too.
    a = {f"k{i}": 1 for i in range(5)}
    b = {**a, "k4": 2}
    c = {**{f"k{i}": 2 for i in range(4)}, "k4": 1}
    configs = {f"/x/{n}": {**base, "domain": d} for n, d in (("a", a), ("b", b), ("c", c))}
    labels = legend_labels(configs)
    assert labels["/x/a"] == "k0=1, k1=1, k2=1, k3=1, … (a)"
    assert labels["/x/b"].endswith("(b)") and len(set(labels.values())) == 3


def test_overlay_legend_sits_below_and_uses_config_labels(qtbot):
    from desktop_app.kit.curve_plots import CurveOverlay
    from engine.analysis.curves import curves_from_rows

    overlay = CurveOverlay("lossPlot", "metricPlot", "per epoch")
    qtbot.addWidget(overlay)
    overlay.resize(900, 400)
    overlay.show()
    entries = []
    for name, lr in (("mlp-aaaa", 0.01), ("mlp-bbbb", 0.1)):
        curves = dict(curves_from_rows(rows(10)))
        curves["config"] = {"family": "mlp", "variant": name, "training": {"lr": lr}}
        entries.append((f"/h/variants/mlp/{name}", curves))
    overlay.draw(entries)
    QApplication.processEvents()
    item = overlay.loss_plot.getPlotItem()
    legend = item.legend
    assert sorted(label.text for _, label in legend.items) == ["lr=0.01", "lr=0.1"]
    # Below the view box, not over the curves.
    assert legend.sceneBoundingRect().top() >= item.vb.sceneBoundingRect().bottom()
