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


QT_FIXTURES = {"qtbot", "qapp"}
KEPT_WINDOWS = pytest.StashKey[list]()


def _guards_garbage(item: pytest.Item) -> bool:
    return not QT_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())) and (
        item.get_closest_marker("window_gc") is None
    )


@pytest.fixture(autouse=True)
def gui_thread_garbage_collection(request):
    """In a Qt test, Python's cyclic garbage collector runs on the GUI thread only, as it does
    while the app's window is open (desktop_app.kit.gui_gc); at the end, what the test left is
    collected here. Otherwise a task's thread may start a collection that destroys an earlier
    test's widgets off the GUI thread: a crash, or a deadlock between the GIL and Qt's locks that
    no timeout can interrupt (seen once in CI, in the Analysis tab's tests)."""
    if not _guards_garbage(request.node):
        yield
        return
    from desktop_app.kit.gui_gc import GuiThreadGarbageCollector

    GuiThreadGarbageCollector.acquire()
    try:
        yield
    finally:
        if KEPT_WINDOWS in request.node.stash:
            del request.node.stash[KEPT_WINDOWS]  # qtbot has closed them by now
        GuiThreadGarbageCollector.release()


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """The windows a Qt test leaves open stay referenced until its teardown closes them. A test's
    locals go when it returns; a window that only they held would otherwise be collected while
    still shown (pytest-qt processes events right after the test), and Qt would paint and signal
    into a Python object already cleared ("'MainWindow' object has no attribute 'tabs'")."""
    try:
        return (yield)
    finally:
        if _guards_garbage(pyfuncitem):
            from PySide6.QtWidgets import QApplication

            pyfuncitem.stash[KEPT_WINDOWS] = list(QApplication.topLevelWidgets())


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


class DesktopViews(list):
    """The desktop views a test builds, sized and registered with qtbot (`add`)."""

    def __init__(self, qtbot) -> None:
        super().__init__()
        self.qtbot = qtbot

    def add(self, view, width: int, height: int):
        self.qtbot.addWidget(view)
        view.resize(width, height)
        self.append(view)
        return view


@pytest.fixture
def desktop_views(qtbot):
    """Views (Analysis tab, Sweeps panel, ...) a test adds with `desktop_views.add(view, w, h)`:
    after the test each is shut down, and must say all its threads ended, leave no job and no
    thread of its runner behind, and no longer be busy."""
    views = DesktopViews(qtbot)
    yield views
    for view in views:
        assert view.shutdown()
        assert view.runner.running() == 0
        assert view.runner.jobs() == []
        assert not getattr(view, "busy", False)


def _assert_described(view, controls: dict) -> None:
    for name, kind in controls.items():
        widget = view.findChild(kind, name)
        assert widget is not None, name
        assert widget.accessibleName(), name
        assert widget.toolTip(), name


@pytest.fixture
def assert_described():
    """`assert_described(view, {object name: widget type})`: each is a child of the view, with
    an accessible name (for screen readers) and a tooltip."""
    return _assert_described
