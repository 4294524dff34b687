"""Where Trainwright keeps its data: `--home`, else `TRAINWRIGHT_HOME`, else the user data dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "TRAINWRIGHT_HOME"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    if home:
        path = Path(home)
    elif os.environ.get(HOME_ENV):
        path = Path(os.environ[HOME_ENV])
    else:
        path = Path(platformdirs.user_data_dir("Trainwright", appauthor=False))
    return path.expanduser().resolve()
