"""The Analyses page of the Analysis tab: what the family's checkpoint analyses found.

The parameter norm at every weights checkpoint, the grokking readout, and (modular addition)
the embedding's Fourier components at a checkpoint chosen with a slider. The tab runs the
analysis in a task and hands the result to `show_result`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.curve_plots import overlay_plot
from desktop_app.kit.theme import OKABE_ITO
from desktop_app.kit.widgets import described, text_label
from engine.analysis import FOURIER, GROKKING, PARAMETER_NORM

NO_VARIANT_TEXT = "Select a variant to analyse its checkpoints."
# Okabe–Ito colours: they read on the light and the dark theme's plots alike.
CURVE_COLOR = OKABE_ITO[0]  # blue
MARKER_COLOR = OKABE_ITO[5]  # vermillion
FILL_COLOR = (*OKABE_ITO[4], 150)  # sky blue
THRESHOLD_COLOR = OKABE_ITO[1]  # orange


class AnalysesPage(QWidget):
    """Shows one CheckpointAnalysis (`show_result`), or a message while there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("analysesPage")
        self.analysis: Any = None  # the CheckpointAnalysis shown
        self.fourier_curve: pg.PlotDataItem | None = None
        self.analysis_status = text_label(
            "analysisStatusLabel",
            "Analysis status",
            "What the checkpoint analysis is doing, and any checkpoint it had to skip",
            NO_VARIANT_TEXT,
            wrap=True,
        )
        self.grokking_label = text_label(
            "grokkingLabel",
            "Grokking readout",
            "First epoch with train accuracy ≥ 99% and first epoch with test accuracy ≥ 99%",
        )
        self.norm_plot = overlay_plot(
            "normPlot",
            "Parameter norm",
            "Sum of squared weights at each weights checkpoint",
            "Σ w²",
        )
        self.norm_marker = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen(MARKER_COLOR, width=1)
        )
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.norm_plot)
        plots.addWidget(self._build_fourier_group())
        layout = QVBoxLayout(self)
        layout.addWidget(self.analysis_status)
        layout.addWidget(self.grokking_label)
        layout.addWidget(plots, 1)
        self.fourier_group.setVisible(False)
        self.grokking_label.setVisible(False)
        self.checkpoint_slider.valueChanged.connect(self._on_slider_changed)

    def _build_fourier_group(self) -> QGroupBox:
        """The embedding's Fourier components at the checkpoint the slider chooses."""
        self.fourier_group = described(
            QGroupBox("Embedding Fourier components"),
            "Embedding Fourier components",
            "Norm of the embedding along each Fourier frequency at the chosen checkpoint",
            object_name="fourierGroup",
        )
        self.checkpoint_slider = described(
            QSlider(Qt.Orientation.Horizontal),
            "Checkpoint",
            "Choose the checkpoint whose embedding is shown",
            object_name="checkpointSlider",
        )
        self.checkpoint_slider.setRange(0, 0)
        self.checkpoint_slider.setEnabled(False)
        self.checkpoint_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.checkpoint_label = text_label(
            "checkpointLabel", "Chosen checkpoint", "The epoch shown", "no checkpoint"
        )
        self.fourier_plot = overlay_plot(
            "fourierPlot",
            "Embedding norm per frequency",
            "sqrt(cos² + sin²) of the embedding's Fourier components for each frequency k; "
            "the dashed line is the key-frequency threshold",
            "norm",
            "frequency k",
        )
        self.key_label = text_label(
            "keyFrequenciesLabel",
            "Key frequencies",
            "Frequencies whose norm exceeds a quarter of the largest",
            select=True,
        )
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Checkpoint:"))
        slider_row.addWidget(self.checkpoint_slider, 1)
        slider_row.addWidget(self.checkpoint_label)
        layout = QVBoxLayout(self.fourier_group)
        layout.addLayout(slider_row)
        layout.addWidget(self.fourier_plot, 1)
        layout.addWidget(self.key_label)
        return self.fourier_group

    # ---- showing a result ------------------------------------------------------------------
    def show_result(self, result: Any, message: str = "") -> None:
        """Show a CheckpointAnalysis; None: empty plots and `message` (none yet, or failed)."""
        self.analysis = result
        norm = self.norm_plot.getPlotItem()
        norm.clear()
        self.fourier_plot.getPlotItem().clear()
        self.fourier_curve = None
        if result is None:
            self.analysis_status.setText(message)
            self.fourier_group.setVisible(False)
            self.grokking_label.setVisible(False)
            self.checkpoint_slider.setRange(0, 0)
            self.checkpoint_slider.setEnabled(False)
            return
        self.analysis_status.setText(_status_text(result))
        if PARAMETER_NORM in result.analyses and result.parameter_norms:
            norm.plot(
                np.asarray(result.epochs, dtype=np.float64),
                np.asarray(result.parameter_norms),
                pen=pg.mkPen(CURVE_COLOR, width=1.5),
                symbolBrush=pg.mkBrush(CURVE_COLOR),
                symbolPen=None,
                symbol="o",
                symbolSize=5,
            )
            norm.addItem(self.norm_marker)
        self._show_grokking(result)
        self.fourier_group.setVisible(FOURIER in result.analyses)
        count = len(result.epochs)
        self.checkpoint_slider.blockSignals(True)
        self.checkpoint_slider.setRange(0, max(count - 1, 0))
        self.checkpoint_slider.setValue(max(count - 1, 0))
        self.checkpoint_slider.setEnabled(count > 1)
        self.checkpoint_slider.blockSignals(False)
        self._on_slider_changed(self.checkpoint_slider.value())

    def _show_grokking(self, result: Any) -> None:
        grokking = GROKKING in result.analyses and result.grokking is not None
        self.grokking_label.setVisible(grokking)
        if not grokking:
            return
        g = result.grokking

        def when(epoch: int | None) -> str:
            return f"epoch {epoch}" if epoch is not None else "not reached"

        pct = f"{g.threshold:.0%}"
        self.grokking_label.setText(
            f"Grokking readout — train accuracy ≥ {pct}: {when(g.train_epoch)} · "
            f"test accuracy ≥ {pct}: {when(g.test_epoch)}"
        )

    @Slot(int)
    def _on_slider_changed(self, index: int) -> None:
        """Mark the chosen checkpoint on the norm plot and draw its Fourier components."""
        result = self.analysis
        if result is None or not result.epochs or index >= len(result.epochs):
            self.checkpoint_label.setText("no checkpoint")
            return
        epoch = result.epochs[index]
        self.checkpoint_label.setText(f"epoch {epoch} ({index + 1} of {len(result.epochs)})")
        self.norm_marker.setValue(epoch)
        plot = self.fourier_plot.getPlotItem()
        plot.clear()
        self.fourier_curve = None
        if not result.has_fourier:
            self.key_label.setText(
                "No Fourier analysis: " + ("; ".join(result.problems) or "no data")
            )
            return
        norms = np.asarray(result.frequency_norms[index], dtype=np.float64)
        edges = np.arange(len(norms) + 1, dtype=np.float64) + 0.5
        self.fourier_curve = plot.plot(
            edges,
            norms,
            stepMode="center",
            fillLevel=0,
            brush=pg.mkBrush(FILL_COLOR),
            pen=pg.mkPen(CURVE_COLOR, width=1),
        )
        if len(norms):
            threshold = 0.25 * float(np.max(norms))
            plot.addItem(
                pg.InfiniteLine(
                    pos=threshold,
                    angle=0,
                    pen=pg.mkPen(THRESHOLD_COLOR, style=Qt.PenStyle.DashLine),
                )
            )
        keys = result.key_frequencies[index]
        listed = ", ".join(str(k) for k in keys) or "none"
        self.key_label.setText(f"Key frequencies at epoch {epoch} (p = {result.prime}): {listed}")


def _status_text(result: Any) -> str:
    """How many checkpoints were analysed, and what went wrong."""
    count = len(result.epochs)
    status = f"{result.variant}: {count} checkpoint{'s' if count != 1 else ''} analysed."
    if not count:
        status = f"{result.variant}: no weights checkpoint to analyse."
    if result.problems:
        status += " Problems: " + "; ".join(result.problems)
    return status
