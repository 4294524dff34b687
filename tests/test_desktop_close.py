"""Closing the window mid-run: asks, stops, saves a resumable checkpoint, and exits cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pytestqt")

import shiboken6

FAMILY = "modulo_addition_1layer"


def _start_long_run(qtbot, window) -> str:
    tab = window.training_tab
    qtbot.waitUntil(lambda: tab.engine_ready, timeout=30_000)
    assert tab.select_family(FAMILY)
    tab.domain_form.set_value("prime", 11)
    tab.training_form.set_value("epochs", 5000)
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=30_000)
    name = tab.config.variant
    tab.start_button.click()
    qtbot.waitUntil(lambda: tab.progress_bar.value() >= 2, timeout=30_000)
    return name


def test_closing_mid_run_asks_then_stops_and_waits_for_the_thread(qtbot, workspace):
    from desktop_app.main_window import MainWindow
    from engine.metadata import VariantMetadata

    window = MainWindow(workspace)
    qtbot.addWidget(window)
    window.show()
    name = _start_long_run(qtbot, window)
    thread = window.controller.active.thread
    assert thread is not None and thread.isRunning()

    asked: list[bool] = []

    def refuse() -> bool:
        asked.append(False)
        return False

    window.confirm_close = refuse
    window.close()
    assert asked == [False]
    assert window.isVisible() and window.controller.busy  # "no" keeps training

    def accept() -> bool:
        asked.append(True)
        return True

    window.confirm_close = accept
    window.close()
    assert window.isVisible()  # it closes only once the run has stopped
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)

    assert asked == [False, True]
    assert not shiboken6.isValid(thread) or thread.isFinished()
    assert window.controller.active.thread is None and not window.controller.busy
    assert window.controller.last_outcome.status == "cancelled"
    meta = VariantMetadata.load(workspace.variant(name).metadata_path)
    assert meta.status == "cancelled"
    assert any(c.kind == "full" for c in meta.checkpoints)  # resumable


CLOSE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from PySide6.QtCore import QTimer
    from desktop_app.app import create_application
    from desktop_app.main_window import MainWindow
    from desktop_app.kit.warmup import EngineWarmup
    from engine.metadata import VariantMetadata
    from engine.workspace import Workspace

    app = create_application()
    workspace = Workspace(sys.argv[1])
    window = MainWindow(workspace)
    window.confirm_close = lambda: True
    tab = window.training_tab
    state = {"step": "wait engine", "variant": None}

    def step():
        if state["step"] == "wait engine" and tab.engine_ready:
            tab.select_family("modulo_addition_1layer")
            tab.domain_form.set_value("prime", 11)
            tab.training_form.set_value("epochs", 5000)
            state["step"] = "wait start"
        elif state["step"] == "wait start" and tab.start_button.isEnabled():
            state["variant"] = tab.config.variant
            tab.start_button.click()
            state["step"] = "wait epochs"
        elif state["step"] == "wait epochs" and tab.progress_bar.value() >= 2:
            state["step"] = "closing"
            window.close()  # the last window: the event loop ends once it really closes

    timer = QTimer()
    timer.timeout.connect(step)
    timer.start(20)
    QTimer.singleShot(90_000, app.quit)
    window.show()
    code = app.exec()
    EngineWarmup.instance().join()
    meta = VariantMetadata.load(workspace.variant(state["variant"]).metadata_path)
    print(json.dumps({
        "code": code,
        "step": state["step"],
        "thread": window.controller.active.thread is None,
        "status": meta.status,
        "epochs": meta.epochs_completed,
    }))
    """
)


def test_closing_mid_run_exits_without_qthread_destroyed(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TRAINWRIGHT_HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", CLOSE_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "QThread: Destroyed" not in result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["step"] == "closing"
    assert report["thread"] is True
    assert report["status"] == "cancelled"
    assert 0 < report["epochs"] < 5000
