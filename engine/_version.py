"""The one place the version lives: pyproject, `--version` and the About dialog read it."""

__version__ = "0.3.0"
