"""The window's theme (system, light or dark) and plots that follow it.

`apply_theme(app, name)` sets the application's style and palette: "system" the ones the
application started with, "light" Fusion's own palette, "dark" a Fusion dark palette. Every
plot takes its colours from the palette (`plot_colors`: background, text, axes, grid) when it
is styled (`style_plot`), and `follow_theme` restyles it when the palette changes: a theme
chosen in the menu, or the desktop's own switch to dark. No plot keeps a hard-coded white.

Curves get Okabe & Ito's colour-blind-safe palette (`OKABE_ITO`, `series_color`), which reads
on a light and a dark background alike.

pyqtgraph is imported only by the functions that style plots: `apply_theme` can run before the
window's first paint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory, QWidget

THEMES = ("system", "light", "dark")

# Okabe & Ito (2008), "Color Universal Design": told apart with every common colour-vision
# deficiency. Black is left out (it is the light theme's text); yellow comes last (it reads
# poorly on white).
OKABE_ITO: tuple[tuple[int, int, int], ...] = (
    (0, 114, 178),  # blue
    (230, 159, 0),  # orange
    (0, 158, 115),  # bluish green
    (204, 121, 167),  # reddish purple
    (86, 180, 233),  # sky blue
    (213, 94, 0),  # vermillion
    (240, 228, 66),  # yellow
)

_DARK = {
    QPalette.ColorRole.Window: "#353535",
    QPalette.ColorRole.WindowText: "#f0f0f0",
    QPalette.ColorRole.Base: "#232323",
    QPalette.ColorRole.AlternateBase: "#2c2c2c",
    QPalette.ColorRole.ToolTipBase: "#353535",
    QPalette.ColorRole.ToolTipText: "#f0f0f0",
    QPalette.ColorRole.PlaceholderText: "#9a9a9a",
    QPalette.ColorRole.Text: "#f0f0f0",
    QPalette.ColorRole.Button: "#353535",
    QPalette.ColorRole.ButtonText: "#f0f0f0",
    QPalette.ColorRole.BrightText: "#ff5555",
    QPalette.ColorRole.Light: "#4a4a4a",
    QPalette.ColorRole.Midlight: "#404040",
    QPalette.ColorRole.Mid: "#8c8c8c",
    QPalette.ColorRole.Dark: "#232323",
    QPalette.ColorRole.Shadow: "#141414",
    QPalette.ColorRole.Highlight: "#2a82da",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#56b4e9",
    QPalette.ColorRole.LinkVisited: "#cc79a7",
}
_DARK_DISABLED = {
    QPalette.ColorRole.WindowText: "#7f7f7f",
    QPalette.ColorRole.Text: "#7f7f7f",
    QPalette.ColorRole.ButtonText: "#7f7f7f",
    QPalette.ColorRole.Highlight: "#505050",
    QPalette.ColorRole.HighlightedText: "#7f7f7f",
}


def dark_palette() -> QPalette:
    """Fusion's usual dark palette."""
    palette = QPalette()
    for role, color in _DARK.items():
        palette.setColor(role, QColor(color))
    for role, color in _DARK_DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(color))
    return palette


class _ThemeState(QObject):
    """What the application started with (for "system") and the theme now applied."""

    changed = Signal(str)

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.style_name = app.style().name()
        self.palette = QPalette(app.palette())
        self.name = "system"


_state: _ThemeState | None = None


def _theme_state(app: QApplication) -> _ThemeState:
    global _state
    if _state is None or _state.parent() is not app:
        _state = _ThemeState(app)
    return _state


def apply_theme(app: QApplication, name: str) -> None:
    """Give the application the theme `name` (one of THEMES); plots made with `style_plot`
    and `follow_theme` follow it."""
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r}: one of {', '.join(THEMES)}")
    state = _theme_state(app)
    if name == "system":
        style = QStyleFactory.create(state.style_name) if state.style_name else None
        if style is not None:
            app.setStyle(style)
        app.setPalette(state.palette)
    else:
        app.setStyle(QStyleFactory.create("Fusion"))
        app.setPalette(dark_palette() if name == "dark" else app.style().standardPalette())
    state.name = name
    state.changed.emit(name)


def current_theme(app: QApplication | None = None) -> str:
    """The theme last applied ("system" until one is)."""
    app = app or QApplication.instance()
    return (
        _state.name
        if _state is not None and app is not None and _state.parent() is app
        else "system"
    )


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the palette's windows are dark (light text on a dark background)."""
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5


@dataclass(frozen=True)
class PlotColors:
    """What a plot is painted with, from the palette."""

    background: QColor  # the plot's area (the palette's Base: the colour of views)
    foreground: QColor  # axes, tick labels, titles (the palette's text)
    muted: QColor  # crosshairs, secondary text
    dark: bool

    def rgb(self, name: str) -> tuple[int, int, int]:
        color: QColor = getattr(self, name)
        return color.red(), color.green(), color.blue()


def plot_colors(palette: QPalette | None = None) -> PlotColors:
    palette = palette or QGuiApplication.palette()
    background = QColor(palette.color(QPalette.ColorRole.Base))
    foreground = QColor(palette.color(QPalette.ColorRole.Text))
    muted = QColor(
        round((background.red() + foreground.red()) / 2),
        round((background.green() + foreground.green()) / 2),
        round((background.blue() + foreground.blue()) / 2),
    )
    return PlotColors(background, foreground, muted, is_dark(palette))


def series_color(index: int) -> tuple[int, int, int]:
    """The curve colour for the `index`-th series (Okabe–Ito, cycling)."""
    return OKABE_ITO[index % len(OKABE_ITO)]


def style_plot(plot: Any, colors: PlotColors | None = None) -> PlotColors:
    """Paint a pyqtgraph PlotWidget in the palette's colours: background, axes, tick labels,
    axis labels, title, legend, and the grid (drawn with the axis pen). Returns the colours."""
    import pyqtgraph as pg

    colors = colors or plot_colors()
    plot.setBackground(colors.background)
    item = plot.getPlotItem()
    for side in ("left", "bottom", "right", "top"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(colors.foreground))
        axis.setTextPen(pg.mkPen(colors.foreground))
        axis.label.setDefaultTextColor(colors.foreground)
        axis.labelStyle["color"] = colors.foreground.name()
        axis._updateLabel()
        if hasattr(axis, "background"):  # GridAxis blends its grid into the background
            axis.background = colors.rgb("background")
        axis.picture = None
        axis.update()
    title = item.titleLabel
    title.opts["color"] = colors.foreground.name()
    title.setText(title.text)
    legend = item.legend
    if legend is not None:
        legend.setLabelTextColor(colors.foreground)
        fill = QColor(colors.background)
        fill.setAlpha(200)
        legend.setBrush(pg.mkBrush(fill))
        legend.setPen(pg.mkPen(colors.muted))
    return colors


class _PaletteWatcher(QObject):
    """Calls back when its widget's palette changes (debounced to once per change)."""

    def __init__(self, widget: QWidget, callback: Callable[[], None]) -> None:
        super().__init__(widget)
        self.callback = callback
        self._key = _palette_key(QGuiApplication.palette())
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            key = _palette_key(QGuiApplication.palette())
            if key != self._key:
                self._key = key
                self.callback()
        return False


def _palette_key(palette: QPalette) -> tuple[int, ...]:
    roles = (QPalette.ColorRole.Base, QPalette.ColorRole.Text, QPalette.ColorRole.Window)
    return tuple(palette.color(role).rgba() for role in roles)


def follow_theme(widget: QWidget, restyle: Callable[[], None] | None = None) -> None:
    """Restyle `widget` (a PlotWidget: `style_plot`; else `restyle`) whenever the
    application's palette changes, and once now."""
    callback = restyle or (lambda: style_plot(widget))
    widget._theme_watcher = _PaletteWatcher(widget, callback)  # type: ignore[attr-defined]
    callback()
