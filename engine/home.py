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

from engine.errors import TrainwrightError

HOME_ENV = "TRAINWRIGHT_HOME"
# The default home's preferences file; its `data_home` points at the data home to use.
PREFERENCES_FILE = "preferences.json"

HomeOrigin = Literal["option", "environment", "pointer", "default"]
# The longest path a data home may have, in bytes (Linux's PATH_MAX; the files go below it).
MAX_HOME_BYTES = 4096 - 256
_NAMED_BY = {
    "option": "--home",
    "environment": HOME_ENV,
    "pointer": f"data_home in {PREFERENCES_FILE}",
    "default": "the default data home",
}


class HomeError(TrainwrightError):
    """A data home that is empty, not a folder, too long or cannot be created."""


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
    """The data home to use and what chose it; HomeError (naming --home, the environment
    variable or the preferences) for a path that is empty, too long or not a folder."""
    if home is not None:
        return checked_home(home, "option"), "option"
    if os.environ.get(HOME_ENV):
        return checked_home(os.environ[HOME_ENV], "environment"), "environment"
    pointed = pointed_home()
    if pointed is not None:
        return checked_home(pointed, "pointer"), "pointer"
    return default_home(), "default"


def checked_home(home: str | os.PathLike[str], origin: HomeOrigin = "option") -> Path:
    """`home` made absolute, if it can be a data home: not empty, no NUL, at most
    MAX_HOME_BYTES, and a folder if it exists. Nothing is created here."""
    what = _NAMED_BY[origin]
    text = os.fspath(home)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise HomeError(f"{what} is empty; give the path of a folder")
    if "\x00" in text:
        raise HomeError(f"{what}: a path cannot contain a NUL character")
    shown = text if len(text) <= 80 else text[:80] + "…"
    try:
        path = Path(text).expanduser().resolve()
        size = len(os.fsencode(path))
    except (OSError, RuntimeError, ValueError) as exc:
        raise HomeError(f"{what} {shown}: not a usable path ({exc})") from None
    if size > MAX_HOME_BYTES:
        raise HomeError(f"{what} is too long: {size} bytes, at most {MAX_HOME_BYTES} are allowed")
    try:
        not_a_folder = path.exists() and not path.is_dir()
    except OSError as exc:
        raise HomeError(f"{what} {shown}: not a usable path ({exc.strerror or exc})") from None
    if not_a_folder:
        raise HomeError(f"{what} {shown} is not a folder")
    return path


def ensure_home(path: Path, origin: str = "option") -> Path:
    """Create the data home folder if need be; HomeError saying why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        what = _NAMED_BY.get(origin, "the data home")
        shown = str(path) if len(str(path)) <= 80 else str(path)[:80] + "…"
        raise HomeError(f"{what} {shown} cannot be created: {exc.strerror or exc}") from None
    if not path.is_dir():
        raise HomeError(f"{_NAMED_BY.get(origin, 'the data home')} {path} is not a folder")
    return path


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    return locate_home(home)[0]
