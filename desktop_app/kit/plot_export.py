"""The plots' Export… dialog, made to work: SVG export under Qt ≥ 6.10, and only the formats
this installation can write.

SVG (pyqtgraph#3485): Qt 6.10's QSvgGenerator closes a rectangle's path with a bare "Z" token
("M0,0 L10,0 L10,5 L0,5 L0,0 Z"), and pyqtgraph's `correctCoordinates` splits every token of
a path on its comma to move it out of the group's transform: "Z" has none, and the export
stops with "ValueError: not enough values to unpack". Every plot has such a path (the view
box paints its outline, with an invisible pen when it has no border), so no plot exported.
`prepare_exporters` wraps that function: the closing tokens are taken out before, and put
back after the coordinates are corrected, at the same places.

Matplotlib Window: pyqtgraph lists it whether or not matplotlib is installed (it is not a
dependency of ours); it is dropped from the list when matplotlib cannot be imported.

Imports pyqtgraph (slow): import this module where the plots are made.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import pyqtgraph.exporters  # noqa: F401  (registers the exporters)
from pyqtgraph.exporters.Exporter import Exporter

CLOSE_TOKENS = ("Z", "z")

_svg = importlib.import_module("pyqtgraph.exporters.SVGExporter")
_prepared = False


def prepare_exporters() -> None:
    """Make SVG export work and drop the exporters that cannot work here (idempotent)."""
    global _prepared
    if _prepared:
        return
    _prepared = True
    _svg.correctCoordinates = _closing_paths_kept(_svg.correctCoordinates)
    if importlib.util.find_spec("matplotlib") is None:
        Exporter.Exporters[:] = [
            cls for cls in Exporter.Exporters if cls.__name__ != "MatplotlibExporter"
        ]


def exporter_names() -> list[str]:
    """The formats the Export… dialog offers."""
    return [cls.Name for cls in Exporter.Exporters]


def split_closings(d: str) -> tuple[str, list[int]]:
    """A path's `d` without its closing tokens, and after how many coordinate tokens each one
    stood."""
    kept: list[str] = []
    closings: list[int] = []
    for token in d.split():
        if token in CLOSE_TOKENS:
            closings.append(len(kept))
        else:
            kept.append(token)
    return " ".join(kept), closings


def join_closings(d: str, closings: list[int]) -> str:
    """Put the closing tokens back into a path whose coordinate tokens were rewritten one for
    one (`split_closings` reversed)."""
    tokens = d.split()
    for count in reversed(closings):
        tokens.insert(min(count, len(tokens)), "Z")
    return " ".join(tokens)


def _closing_paths_kept(correct: Any) -> Any:
    def correct_coordinates(node: Any, defs: Any, item: Any, options: Any) -> Any:
        closed: list[tuple[Any, list[int]]] = []
        for path in node.getElementsByTagName("path"):
            d, closings = split_closings(path.getAttribute("d"))
            if closings:
                path.setAttribute("d", d)
                closed.append((path, closings))
        try:
            return correct(node, defs, item, options)
        finally:
            for path, closings in closed:
                path.setAttribute("d", join_closings(path.getAttribute("d"), closings))

    correct_coordinates.__wrapped__ = correct  # type: ignore[attr-defined]
    return correct_coordinates
