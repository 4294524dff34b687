"""Small helpers every view uses to build accessible controls."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QWidget

W = TypeVar("W", bound=QWidget)


def described(widget: W, name: str, tip: str) -> W:
    """Give `widget` the accessible name screen readers announce and the tooltip users see."""
    widget.setAccessibleName(name)
    widget.setToolTip(tip)
    return widget
