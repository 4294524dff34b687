"""Shared test set-up: Qt offscreen, and a data home that is never the user's real one."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def trainwright_home(tmp_path, monkeypatch):
    """Every test gets its own data home through TRAINWRIGHT_HOME."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TRAINWRIGHT_HOME", str(home))
    return home


@pytest.fixture
def workspace(trainwright_home):
    from engine.workspace import Workspace

    return Workspace(trainwright_home)
