"""Trainwright's desktop workbench (PySide6 + pyqtgraph) over the Qt-free `engine` package.

`python -m desktop_app` (or `trainwright` with no subcommand) opens the main window.
"""

from engine import __version__

__all__ = ["__version__"]
