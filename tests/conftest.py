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


@pytest.fixture(scope="module")
def teacher_home(tmp_path_factory):
    """(home, name): a 32x2 MLP teacher on two_moons (10 epochs, one thread) in a home of its
    own, trained once per test module (see helpers.teacher)."""
    from helpers.teacher import train_teacher

    home = tmp_path_factory.mktemp("teacher_home")
    return home, train_teacher(home)


@pytest.fixture
def teacher(workspace, teacher_home):
    """The module's trained teacher copied into this test's workspace; its variant name."""
    from helpers.teacher import copy_variant

    home, name = teacher_home
    copy_variant(home, workspace.home, name)
    return name
