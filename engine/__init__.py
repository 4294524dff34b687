"""Trainwright's pure-Python core: families, datasets, trainer, storage and CLI. Never imports Qt."""

from engine._version import __version__

__all__ = ["__version__"]
