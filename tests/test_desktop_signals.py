"""Cross-thread signals: the worker's batching, its failure path, and an emit stress test."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from types import SimpleNamespace

import pytest

pytest.importorskip("pytestqt")

# 10,000+ emits of bool and object payloads from a QThread to a GUI-thread receiver. PySide6
# 6.12.0 crashed here ("Fatal Python error: bool_dealloc"); run in a subprocess so a crash
# fails this test instead of taking the whole session down.
STRESS_SCRIPT = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

    N = 12_000

    class Emitter(QObject):
        flag = Signal(bool)
        payload = Signal(object)
        pair = Signal(int, bool)
        done = Signal()

        @Slot()
        def run(self):
            for i in range(N):
                self.flag.emit(i % 2 == 0)
                self.payload.emit({"i": i, "ok": True, "none": None, "rows": [{"x": 1.5}]})
                self.pair.emit(i, i % 3 == 0)
            self.done.emit()

    class Receiver(QObject):
        def __init__(self):
            super().__init__()
            self.flags = self.trues = self.payloads = self.pairs = 0
            self.finished = False

        @Slot(bool)
        def on_flag(self, value):
            self.flags += 1
            self.trues += value is True

        @Slot(object)
        def on_payload(self, value):
            assert value["ok"] is True and value["none"] is None
            self.payloads += 1

        @Slot(int, bool)
        def on_pair(self, i, value):
            self.pairs += 1

        @Slot()
        def on_done(self):
            self.finished = True

        @Slot()
        def check(self):
            if self.finished and self.pairs == N:
                QCoreApplication.quit()

    app = QCoreApplication(sys.argv)
    thread = QThread()
    emitter = Emitter()
    emitter.moveToThread(thread)
    receiver = Receiver()
    thread.started.connect(emitter.run)
    for name in ("flag", "payload", "pair", "done"):
        getattr(emitter, name).connect(getattr(receiver, "on_" + name))
    emitter.done.connect(thread.quit)
    timer = QTimer()
    timer.timeout.connect(receiver.check)
    timer.start(10)
    QTimer.singleShot(60_000, app.quit)
    thread.start()
    app.exec()
    thread.quit()
    thread.wait()
    print("received", receiver.flags, receiver.trues, receiver.payloads, receiver.pairs)
    """
)


def test_ten_thousand_cross_thread_emits_do_not_crash():
    result = subprocess.run(
        [sys.executable, "-c", STRESS_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Fatal Python error" not in result.stderr
    assert result.stdout.split() == ["received", "12000", "6000", "12000", "12000"]


class _FakeTrainer:
    """Calls the hooks like the engine's trainer: one on_log per step, very fast."""

    def __init__(self, callbacks, steps: int, fail: bool) -> None:
        self.callbacks = callbacks
        self.steps = steps
        self.fail = fail

    def train(self, overwrite: bool = False):
        for cb in self.callbacks:
            cb.on_train_start({"variant": "v", "family": "f", "total_epochs": 1, "start_epoch": 0})
        for step in range(1, self.steps + 1):
            for cb in self.callbacks:
                cb.on_log({"epoch": 1, "step": step, "loss": 1.0 / step})
            if step % 1000 == 0:
                time.sleep(0.01)
        if self.fail:
            raise RuntimeError("boom in the trainer")
        return SimpleNamespace(
            status="completed",
            error_message=None,
            variant="v",
            family="f",
            final_metrics={},
            model_dump=lambda **kw: {"status": "completed", "epochs_completed": 1},
        )


class _FakeWorkspace:
    """What a run job asks of the workspace (every run is a job: a real store in `home`)."""

    def __init__(self, home, steps: int, fail: bool = False) -> None:
        self.home = home
        self.steps, self.fail = steps, fail
        self.threads: list[str] = []

    def create_variant(self, family, domain, training):
        return SimpleNamespace(name="v", family="f", metadata_path=self.home / "absent.json")

    def train(self, variant, callbacks, cancel_event, *, overwrite=False):
        self.threads.append(threading.current_thread().name)
        return _FakeTrainer(callbacks, self.steps, self.fail).train(overwrite)


@pytest.fixture
def controllers():
    """The test's RunControllers, kept alive to the end and then shut down and deleted on the
    GUI thread, as a window does with its own (a controller collected by Python mid-test, its
    job's deferred deletions still queued, crashed the event processing after the test)."""
    made: list = []
    yield made
    for controller in made:
        controller.shutdown()
        controller.deleteLater()


def _run(qtbot, workspace, controllers):
    from desktop_app.training.controller import RunController
    from desktop_app.training.run_queue import RunRequest

    controller = RunController(workspace)
    controllers.append(controller)
    batches: list[int] = []
    ended: list = []
    controller.rowsReady.connect(lambda rows: batches.append(len(rows)))
    controller.runEnded.connect(ended.append)
    started = time.monotonic()
    controller.start(RunRequest(mode="train", variant="v", family="f"))
    qtbot.waitUntil(lambda: bool(ended), timeout=30_000)
    assert controller.active.thread is None and not controller.busy
    return batches, ended[0], time.monotonic() - started


def test_worker_sends_rows_in_time_based_batches(qtbot, controllers, trainwright_home):
    workspace = _FakeWorkspace(trainwright_home, steps=20_000)
    batches, outcome, seconds = _run(qtbot, workspace, controllers)
    assert outcome.status == "completed"
    assert sum(batches) == 20_000  # nothing lost, the last rows come with the final flush
    assert len(batches) <= seconds * 20 + 2  # at most ~20 batches a second
    assert workspace.threads and workspace.threads[0] != threading.main_thread().name


def test_an_exception_in_the_worker_becomes_a_failed_run(qtbot, controllers, trainwright_home):
    workspace = _FakeWorkspace(trainwright_home, steps=500, fail=True)
    batches, outcome, _ = _run(qtbot, workspace, controllers)
    assert outcome.status == "failed"
    assert outcome.message == "RuntimeError: boom in the trainer"
    assert sum(batches) == 500


@pytest.mark.window_gc
def test_garbage_is_collected_on_the_gui_thread_while_a_window_is_open(qtbot, workspace):
    import gc

    from desktop_app.main_window import MainWindow

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    assert gc.isenabled()
    window = MainWindow(workspace)
    qtbot.addWidget(window)
    window.show()
    assert not gc.isenabled()  # no automatic collection on a training or import thread
    collected_on: list[str] = []
    gc.callbacks.append(lambda phase, info: collected_on.append(threading.current_thread().name))
    try:
        for _ in range(3000):
            Cycle()
        worker = threading.Thread(target=lambda: [Cycle() for _ in range(3000)], name="worker")
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: bool(collected_on), timeout=5_000)
        assert set(collected_on) == {threading.main_thread().name}
    finally:
        gc.callbacks.pop()
        window.close()
    assert gc.isenabled()
