"""Where Trainwright keeps its data, decided the same way for the CLI and the window.

In order: `--home`, else `TRAINWRIGHT_HOME`, else the data home recorded in the default home's
preferences.json (`data_home`, set from the window's Preferences), else the user data dir.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import platformdirs

HOME_ENV = "TRAINWRIGHT_HOME"
# The default home's preferences file; its `data_home` points at the data home to use.
PREFERENCES_FILE = "preferences.json"

HomeOrigin = Literal["option", "environment", "pointer", "default"]


def default_home() -> Path:
    """The platform's user data folder for Trainwright."""
    return Path(platformdirs.user_data_dir("Trainwright", appauthor=False)).expanduser().resolve()


def pointed_home() -> Path | None:
    """The data home the default home's preferences.json names, if any (unreadable: none)."""
    path = default_home() / PREFERENCES_FILE
    try:
        target = json.loads(path.read_text(encoding="utf-8")).get("data_home")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(target).expanduser().resolve() if isinstance(target, str) and target else None


def locate_home(home: str | os.PathLike[str] | None = None) -> tuple[Path, HomeOrigin]:
    """The data home to use and what chose it."""
    if home:
        return Path(home).expanduser().resolve(), "option"
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser().resolve(), "environment"
    pointed = pointed_home()
    if pointed is not None:
        return pointed, "pointer"
    return default_home(), "default"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    return locate_home(home)[0]
