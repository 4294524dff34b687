"""Jobs in the window (offscreen): the persisted queue across a restart, the Jobs tab's history
and log, Cancel and Resume, a CLI's job from another process, and the end-of-run notice.

Every test uses a real JobStore on the SQLite file of its own data home and real QThreads."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading

import pytest

pytest.importorskip("pytestqt")

import shiboken6
from PySide6.QtCore import Qt

MLP = "mlp"
MOD = "modulo_addition_1layer"
RUN_TIMEOUT_MS = 60_000


def _yes(*args: object) -> bool:
    return True


def _stop_runs(window) -> None:
    """Before pytest-qt closes a window: stop its run and wait, so it closes at once."""
    window.confirm_close = _yes
    window.controller.shutdown()


def _window(qtbot, workspace, *, show_jobs: bool = False):
    from desktop_app.main_window import MainWindow

    window = MainWindow(workspace)
    window.confirm_close = _yes
    window.training_tab.confirm = _yes
    qtbot.addWidget(window, before_close_func=_stop_runs)
    window.show()
    qtbot.waitExposed(window)
    if show_jobs:
        window.tabs.setCurrentWidget(window.jobs_tab)
    return window


@pytest.fixture
def windows(qtbot):
    """The windows a test opens (pytest-qt closes them, after stopping their runs); each
    must have ended every thread: its run's and its job store's."""
    made: list = []
    yield made
    for window in made:
        if shiboken6.isValid(window):
            assert window.controller.active.thread is None
            assert window.job_store.runner.running() == 0


def open_window(qtbot, workspace, windows, **kwargs):
    window = _window(qtbot, workspace, **kwargs)
    windows.append(window)
    return window


def configure(qtbot, tab, family, domain=None, training=None):
    qtbot.waitUntil(lambda: tab.engine_ready, timeout=RUN_TIMEOUT_MS)
    assert tab.select_family(family)
    for name, value in (domain or {}).items():
        tab.domain_form.set_value(name, value)
    for name, value in (training or {}).items():
        tab.training_form.set_value(name, value)
    qtbot.waitUntil(lambda: tab.config is not None, timeout=RUN_TIMEOUT_MS)
    return tab.config


def start(qtbot, tab, family, domain=None, training=None) -> str:
    config = configure(qtbot, tab, family, domain, training)
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=10_000)
    tab.start_button.click()
    return config.variant


def stored_jobs(home) -> list:
    from engine.jobs.store import JobStore

    with JobStore(home) as store:
        return store.list()


def table_job(tab, job_id: int):
    return tab.model.job(job_id)


def wait_listed(qtbot, tab, predicate, timeout=RUN_TIMEOUT_MS):
    """Wait until the Jobs tab's table holds a job for which `predicate(job)` is true."""

    def found() -> bool:
        tab.refresh()
        return any(predicate(job) for job in tab.model.jobs())

    qtbot.waitUntil(found, timeout=timeout)
    return next(job for job in tab.model.jobs() if predicate(job))


# ---- the queue outlives the window ---------------------------------------------------------------
def test_queued_runs_survive_closing_and_start_with_start_queue(
    qtbot, workspace, trainwright_home, windows
):
    window = open_window(qtbot, workspace, windows)
    tab = window.training_tab
    long_run = start(qtbot, tab, MOD, {"prime": 11}, {"epochs": 5000})
    qtbot.waitUntil(lambda: tab.progress_bar.value() >= 1, timeout=RUN_TIMEOUT_MS)
    first = start(qtbot, tab, MLP, {"hidden_dim": 8}, {"epochs": 2})
    second = start(qtbot, tab, MLP, {"hidden_dim": 12}, {"epochs": 2})
    queue = window.controller.queue
    assert [r.variant for r in queue.requests()] == [first, second]  # shown at once
    qtbot.waitUntil(lambda: all(e.job_id for e in queue.model.entries()), timeout=10_000)

    asked: list[str] = []

    def record() -> bool:
        asked.append(window.close_question())
        return True

    window.confirm_close = record
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=RUN_TIMEOUT_MS)
    assert len(asked) == 1
    assert "2 queued runs stay in the queue" in asked[0]
    assert "trainwright queue run" in asked[0]

    jobs = {job.variant: job for job in stored_jobs(trainwright_home)}
    assert jobs[long_run].status == "cancelled"  # stopped resumably, as before
    assert jobs[first].status == jobs[second].status == "queued"

    reopened = open_window(qtbot, workspace, windows)
    panel = reopened.training_tab.queue_panel
    qtbot.waitUntil(lambda: len(reopened.controller.queue) == 2, timeout=10_000)
    assert [r.variant for r in reopened.controller.queue.requests()] == [first, second]
    assert panel.start_button.isVisible() and panel.start_button.text() == "Start queue"
    assert panel.summary_label.full_text().startswith("2 queued")
    qtbot.wait(300)
    assert not reopened.controller.busy  # nothing starts by surprise

    ended: list = []
    reopened.controller.runEnded.connect(ended.append)
    qtbot.waitUntil(lambda: reopened.training_tab.engine_ready, timeout=RUN_TIMEOUT_MS)
    panel.start_button.click()
    qtbot.waitUntil(
        lambda: len(ended) == 2 and not reopened.controller.busy, timeout=RUN_TIMEOUT_MS
    )
    assert [(o.name, o.status) for o in ended] == [(first, "completed"), (second, "completed")]
    jobs = {job.variant: job for job in stored_jobs(trainwright_home)}
    assert jobs[first].status == jobs[second].status == "completed"
    qtbot.waitUntil(lambda: len(reopened.controller.queue) == 0, timeout=10_000)
    assert not panel.start_button.isVisible()
    assert not reopened.controller.queue.active


def test_queue_buttons_reorder_pause_and_remove_stored_jobs(qtbot, trainwright_home):
    from desktop_app.kit.job_store import JobStoreService
    from desktop_app.training.run_queue import RunQueue, RunQueuePanel
    from engine.jobs.records import JobRequest
    from engine.jobs.store import JobStore

    with JobStore(trainwright_home) as store:
        ids = [
            store.submit(JobRequest(kind="resume", variant=name, family=MLP)).id
            for name in ("a", "b", "c")
        ]
    service = JobStoreService(trainwright_home)
    queue = RunQueue(service)
    panel = RunQueuePanel(queue)
    qtbot.addWidget(panel)
    try:

        def order() -> list[str]:
            return [r.variant for r in queue.requests()]

        qtbot.waitUntil(lambda: order() == ["a", "b", "c"], timeout=10_000)
        assert not panel.up_button.isEnabled()  # nothing selected: nothing to move
        assert panel.select_job(ids[2])
        panel.up_button.click()
        qtbot.waitUntil(lambda: order() == ["a", "c", "b"], timeout=10_000)
        assert panel.selected_entry().job_id == ids[2]  # the selection follows the job
        panel.up_button.click()
        qtbot.waitUntil(lambda: order() == ["c", "a", "b"], timeout=10_000)
        assert not panel.up_button.isEnabled()
        panel.down_button.click()
        qtbot.waitUntil(lambda: order() == ["a", "c", "b"], timeout=10_000)

        panel.pause_button.click()
        qtbot.waitUntil(lambda: queue.counts() == (3, 1), timeout=10_000)
        assert panel.pause_button.text() == "Unpause"
        assert "paused" in queue.model.data(queue.model.index(1))
        with JobStore(trainwright_home) as store:
            assert store.get(ids[2]).paused
            assert [j.id for j in store.queue()] == [ids[0], ids[2], ids[1]]

        assert panel.select_job(ids[0])
        panel.remove_button.click()
        qtbot.waitUntil(lambda: order() == ["c", "b"], timeout=10_000)
        panel.clear_button.click()
        qtbot.waitUntil(lambda: len(queue) == 0, timeout=10_000)
        assert not panel.clear_button.isEnabled()
        assert "Nothing queued" in panel.summary_label.full_text()
        with JobStore(trainwright_home) as store:
            assert store.queue() == []
    finally:
        queue.stop_polling()
        assert service.shutdown()


def test_a_queue_action_the_store_refuses_says_why_in_one_line(qtbot, trainwright_home):
    from desktop_app.kit.job_store import JobStoreService
    from desktop_app.training.run_queue import RunQueue, RunQueuePanel
    from engine.jobs.records import JobRequest
    from engine.jobs.store import JobStore

    with JobStore(trainwright_home) as store:
        job = store.submit(JobRequest(kind="resume", variant="a", family=MLP))
    service = JobStoreService(trainwright_home)
    queue = RunQueue(service)
    panel = RunQueuePanel(queue)
    qtbot.addWidget(panel)
    panel.show()
    try:
        qtbot.waitUntil(lambda: len(queue) == 1, timeout=10_000)
        assert panel.select_job(job.id)
        qtbot.wait(50)  # laid out
        list_height = panel.view.height()
        with JobStore(trainwright_home) as other:  # `trainwright queue run` takes it meanwhile
            assert other.claim_next().id == job.id
        panel.remove_button.click()
        expected = f"Could not remove job #{job.id}: job {job.id} is running"
        qtbot.waitUntil(lambda: panel.problem_text.startswith(expected), timeout=10_000)
        line = panel.summary_label
        assert line.full_text() == panel.problem_text and line.toolTip() == line.full_text()
        assert panel.view.height() == list_height  # one line, in place of the summary
        qtbot.waitUntil(lambda: len(queue) == 0, timeout=10_000)  # listed again: it is gone
        assert panel.problem_text.startswith(expected)  # and the reason stays shown
        panel.clear_button.setEnabled(True)
        panel.clear_button.click()  # the next change asked for: the reason goes
        assert panel.problem_text == "" and line.full_text().startswith("Nothing queued")
    finally:
        queue.stop_polling()
        assert service.shutdown()


# ---- the Jobs tab --------------------------------------------------------------------------------
def test_jobs_tab_lists_a_finished_run_and_shows_its_log(qtbot, workspace, windows):
    window = open_window(qtbot, workspace, windows)
    name = start(qtbot, window.training_tab, MLP, {"hidden_dim": 8}, {"epochs": 3})
    qtbot.waitUntil(lambda: window.controller.last_outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert window.controller.last_outcome.status == "completed"

    window.tabs.setCurrentWidget(window.jobs_tab)
    jobs = window.jobs_tab
    job = wait_listed(qtbot, jobs, lambda j: j.variant == name and j.status == "completed")
    assert job.kind == "train" and job.attempts >= 1
    row = jobs.proxy.mapFromSource(jobs.model.index(jobs.model.row_of(job.id), 0)).row()
    texts = [jobs.proxy.index(row, c).data() for c in range(jobs.proxy.columnCount())]
    assert str(job.id) in texts and "completed" in texts and name in texts

    assert jobs.select_job(job.id)
    assert jobs.open_button.isEnabled() and not jobs.cancel_button.isEnabled()
    assert not jobs.resume_button.isEnabled() and not jobs.retry_button.isEnabled()
    qtbot.waitUntil(lambda: f"training {name}" in jobs.log_view.text(), timeout=10_000)
    assert "completed" in jobs.log_view.text()
    assert jobs.log_box.title() == f"Log — job #{job.id}"

    jobs.status_filter.setCurrentIndex(jobs.status_filter.findData("failed"))
    assert jobs.proxy.rowCount() == 0 and jobs.hint.text() == "No job matches the filters."
    jobs.status_filter.setCurrentIndex(0)
    jobs.filter_edit.setText(name[:10])
    assert jobs.proxy.rowCount() == 1

    assert jobs.select_job(job.id)  # the failed filter hid it, and its selection with it
    jobs.open_button.click()
    assert window.tabs.currentWidget() is window._analysis_page
    assert [s.variant for s in window.analysis_tab.selected_variants()] == [name]


def test_cancel_of_a_queued_job(qtbot, workspace, trainwright_home, windows):
    from engine.jobs.records import JobRequest
    from engine.jobs.store import JobStore

    with JobStore(trainwright_home) as store:
        queued = store.submit(JobRequest(kind="train", family=MLP, training={"epochs": 2}))
    window = open_window(qtbot, workspace, windows, show_jobs=True)
    jobs = window.jobs_tab
    wait_listed(qtbot, jobs, lambda j: j.id == queued.id)
    qtbot.waitUntil(lambda: len(window.controller.queue) == 1, timeout=10_000)
    assert jobs.select_job(queued.id)
    assert jobs.cancel_button.isEnabled() and not jobs.resume_button.isEnabled()

    jobs.cancel_button.click()
    qtbot.waitUntil(lambda: table_job(jobs, queued.id).status == "cancelled", timeout=10_000)
    with JobStore(trainwright_home) as store:
        assert store.get(queued.id).status == "cancelled"
    qtbot.waitUntil(lambda: len(window.controller.queue) == 0, timeout=10_000)
    assert not jobs.cancel_button.isEnabled()
    assert jobs.resume_button.isEnabled()  # a cancelled job can be resumed
    assert not window.controller.busy


def test_cancel_in_the_jobs_tab_stops_this_windows_run(qtbot, workspace, windows):
    window = open_window(qtbot, workspace, windows)
    tab = window.training_tab
    name = start(qtbot, tab, MOD, {"prime": 11}, {"epochs": 5000})
    qtbot.waitUntil(lambda: window.controller.current_job_id is not None, timeout=10_000)
    job_id = window.controller.current_job_id
    window.tabs.setCurrentWidget(window.jobs_tab)
    jobs = window.jobs_tab
    wait_listed(qtbot, jobs, lambda j: j.id == job_id and j.status == "running")
    assert jobs.select_job(job_id)
    assert jobs.cancel_button.isEnabled() and not jobs.resume_button.isEnabled()
    jobs.cancel_button.click()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=RUN_TIMEOUT_MS)
    assert window.controller.last_outcome.status == "cancelled"
    job = wait_listed(qtbot, jobs, lambda j: j.id == job_id and j.finished)
    assert job.status == "cancelled" and job.variant == name
    qtbot.waitUntil(jobs.resume_button.isEnabled, timeout=10_000)  # resumable


def test_retry_of_a_failed_job_trains_it_again_from_scratch(qtbot, workspace, windows):
    window = open_window(qtbot, workspace, windows)
    training = {"epochs": 30, "optimizer": "sgd", "lr": 10}  # diverges within a few epochs
    name = start(qtbot, window.training_tab, MOD, {"prime": 11}, training)
    qtbot.waitUntil(lambda: window.controller.last_outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert window.controller.last_outcome.status == "failed"
    window.tabs.setCurrentWidget(window.jobs_tab)
    jobs = window.jobs_tab
    failed = wait_listed(qtbot, jobs, lambda j: j.variant == name and j.status == "failed")
    assert "diverged" in failed.error
    assert jobs.select_job(failed.id)
    assert jobs.retry_button.isEnabled() and not jobs.resume_button.isEnabled()

    ended: list = []
    window.controller.runEnded.connect(ended.append)
    jobs.retry_button.click()
    qtbot.waitUntil(lambda: bool(ended) and not window.controller.busy, timeout=RUN_TIMEOUT_MS)
    assert ended[0].request.mode == "retrain" and ended[0].status == "failed"
    again = wait_listed(qtbot, jobs, lambda j: j.retry_of == failed.id and j.finished)
    assert again.kind == "train" and again.request.overwrite and again.variant == name
    assert jobs.error_text == ""


def _cancelled_variant(workspace) -> str:
    """An MLP variant stopped after 2 of 6 epochs, with its resumable checkpoint."""
    from helpers.callbacks import StopAfter

    variant = workspace.create_variant(MLP, {"hidden_dim": 8}, {"epochs": 6})
    cancel = threading.Event()
    session = workspace.trainer(variant, [StopAfter(cancel, 2)], cancel).train()
    assert session.status == "cancelled"
    return variant.name


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_interrupted_job_is_shown_at_start_and_resumes(
    qtbot, workspace, trainwright_home, windows
):
    from engine.jobs.records import JobRequest
    from engine.jobs.store import DB_FILE, JobStore
    from engine.metadata import VariantMetadata

    name = _cancelled_variant(workspace)
    with JobStore(trainwright_home) as store:
        request = JobRequest(kind="train", family=MLP, variant=name, domain={"hidden_dim": 8})
        job = store.submit(request, queued=False)  # running, in this (live) process
    with sqlite3.connect(trainwright_home / DB_FILE) as conn:  # its process died
        conn.execute("UPDATE jobs SET pid = ? WHERE id = ?", (_dead_pid(), job.id))

    window = open_window(qtbot, workspace, windows, show_jobs=True)
    jobs = window.jobs_tab
    found = wait_listed(qtbot, jobs, lambda j: j.id == job.id)
    assert found.status == "interrupted"
    qtbot.waitUntil(lambda: "interrupted" in jobs.hint.text(), timeout=10_000)
    assert jobs.select_job(job.id)
    assert jobs.resume_button.isEnabled() and not jobs.retry_button.isEnabled()
    row = jobs.proxy.mapFromSource(jobs.model.index(jobs.model.row_of(job.id), 0)).row()
    assert "interrupted — resumable" in [
        jobs.proxy.index(row, c).data() for c in range(jobs.proxy.columnCount())
    ]

    qtbot.waitUntil(lambda: window.training_tab.engine_ready, timeout=RUN_TIMEOUT_MS)
    ended: list = []
    window.controller.runEnded.connect(ended.append)
    jobs.resume_button.click()
    qtbot.waitUntil(lambda: bool(ended) and not window.controller.busy, timeout=RUN_TIMEOUT_MS)
    assert ended[0].status == "completed" and ended[0].request.mode == "resume"
    resumed = wait_listed(qtbot, jobs, lambda j: j.retry_of == job.id and j.finished)
    assert resumed.kind == "resume" and resumed.status == "completed"
    meta = VariantMetadata.load(workspace.variant(name).metadata_path)
    assert meta.status == "completed" and meta.epochs_completed == 6


def test_a_job_made_by_another_process_appears(qtbot, workspace, trainwright_home, windows):
    window = open_window(qtbot, workspace, windows, show_jobs=True)
    jobs = window.jobs_tab
    qtbot.waitUntil(lambda: jobs.listed, timeout=10_000)
    assert jobs.model.rowCount() == 0 and jobs.hint.text().startswith("No jobs yet")

    env = dict(os.environ, TRAINWRIGHT_HOME=str(trainwright_home))
    command = ["train", MLP, "-p", "hidden_dim=8", "-t", "epochs=2", "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--home", str(trainwright_home), *command],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # No call to refresh here: the tab's own periodic listing finds it.
    qtbot.waitUntil(lambda: any(j.status == "completed" for j in jobs.model.jobs()), timeout=10_000)
    job = jobs.model.jobs()[0]
    assert job.kind == "train" and job.variant.startswith("mlp_two_moons_h8x2")
    assert job.pid != os.getpid()


def test_a_replay_from_the_analysis_tab_is_a_job(qtbot, workspace, trainwright_home, windows):
    window = open_window(qtbot, workspace, windows)
    name = start(qtbot, window.training_tab, MLP, {"hidden_dim": 8}, {"epochs": 2})
    qtbot.waitUntil(lambda: window.controller.last_outcome is not None, timeout=RUN_TIMEOUT_MS)
    analysis = window.analysis_tab
    analysis.refresh()
    analysis.select_variants([name])
    analysis.replay()
    qtbot.waitUntil(lambda: analysis.replay_result is not None, timeout=RUN_TIMEOUT_MS)
    assert analysis.replay_result.identical
    kinds = {(j.kind, j.status, j.variant) for j in stored_jobs(trainwright_home)}
    assert kinds == {("train", "completed", name), ("replay", "completed", name)}


def test_a_distillation_from_its_dialog_is_a_job(qtbot, workspace, trainwright_home, teacher):
    from desktop_app.distill.dialog import DistillDialog

    dialog = DistillDialog(workspace, teacher)
    qtbot.addWidget(dialog)
    try:
        qtbot.waitUntil(lambda: dialog.teacher_ok, timeout=30_000)
        dialog.domain_form.set_value("hidden_dim", 16)
        dialog.training_form.set_value("epochs", 2)
        with qtbot.waitSignal(dialog.distilled, timeout=RUN_TIMEOUT_MS) as signal:
            assert dialog.start()
        student = signal.args[0]
    finally:
        assert dialog.shutdown()
    (job,) = [j for j in stored_jobs(trainwright_home) if j.kind == "distill"]
    assert (job.kind, job.status, job.variant) == ("distill", "completed", student)
    assert job.request.teacher == teacher


def test_a_store_that_cannot_be_opened_does_not_stop_a_run(qtbot, workspace, trainwright_home):
    from engine.jobs.store import DB_FILE

    (trainwright_home / DB_FILE).mkdir()  # not a file: the store cannot be opened at all
    window = _window(qtbot, workspace, show_jobs=True)
    jobs = window.jobs_tab
    qtbot.waitUntil(lambda: "job history is unavailable" in jobs.error_text, timeout=10_000)
    assert "\n" not in jobs.error_label.text()
    warnings: list[str] = []
    window.controller.runWarning.connect(warnings.append)
    start(qtbot, window.training_tab, MLP, {"hidden_dim": 8}, {"epochs": 2})
    qtbot.waitUntil(lambda: window.controller.last_outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert window.controller.last_outcome.status == "completed"
    assert window.controller.last_outcome.job_id is None
    assert any("not recorded in the job history" in w for w in warnings)


# ---- notifications -------------------------------------------------------------------------------
def test_a_long_run_ending_is_announced(qtbot, workspace, windows, monkeypatch):
    from desktop_app.jobs import notifications

    window = open_window(qtbot, workspace, windows)
    monkeypatch.setattr(notifications, "NOTIFY_AFTER_S", 0.0)  # every run is "long"
    monkeypatch.setattr(
        notifications.QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: False)
    )
    name = start(qtbot, window.training_tab, MLP, {"hidden_dim": 8}, {"epochs": 2})
    qtbot.waitUntil(lambda: bool(window.notifier.shown), timeout=RUN_TIMEOUT_MS)
    title, text = window.notifier.shown[0]
    assert title == "Run completed"
    assert text.startswith(f"{name} — test acc ") and " after " in text
    assert window.statusBar().currentMessage() == f"Run completed: {text}"


def test_a_short_run_is_not_announced_and_the_text_names_the_metric(qtbot):
    from desktop_app.jobs.notifications import RunNotifier, notification_text
    from desktop_app.training.controller import RunOutcome
    from desktop_app.training.run_queue import RunRequest

    messages: list[str] = []
    notifier = RunNotifier(lambda text, ms: messages.append(text))
    request = RunRequest("train", "mlp_x", MLP)
    short = RunOutcome(request, "completed", variant="mlp_x", duration_s=5.0)
    assert not notifier.run_ended(short) and messages == []
    long = RunOutcome(
        request, "completed", variant="mlp_x", duration_s=192.0, metrics={"test_accuracy": 0.97}
    )
    assert notification_text(long) == ("Run completed", "mlp_x — test acc 0.97 after 3 min 12 s")
    failed = RunOutcome(request, "failed", "loss diverged\nmore", variant="mlp_x", duration_s=61)
    assert notification_text(failed) == (
        "Run failed",
        "mlp_x — loss diverged (after 1 min 01 s)",
    )


def test_status_words_for_resumable_states(qtbot):
    from desktop_app.kit.job_status import status_word
    from desktop_app.training.tab import STATE_TEXT

    assert status_word("timed_out") == "timed out — resumable"
    assert status_word("interrupted") == "interrupted — resumable"
    assert STATE_TEXT["timed_out"][0] == "timed out — resumable"
    assert STATE_TEXT["interrupted"][0] == "interrupted — resumable"


def test_a_timeout_is_typed_as_a_duration_and_checked_by_the_engine(qtbot, workspace, windows):
    from PySide6.QtWidgets import QLineEdit

    window = open_window(qtbot, workspace, windows)
    tab = window.training_tab
    configure(qtbot, tab, MLP)
    form = tab.training_form
    widget = form.field_widget("timeout")
    assert isinstance(widget, QLineEdit) and widget.text() == ""  # 0: no limit
    assert "90s" in widget.placeholderText()
    form.set_value("timeout", "1h30m")
    assert form.value("timeout") == 5400.0
    qtbot.waitUntil(lambda: tab.config is not None, timeout=10_000)
    assert tab.config.training.timeout == 5400.0
    form.set_value("timeout", 1200.0)  # a value is shown as it would be typed
    assert widget.text() == "20m"
    form.set_value("timeout", "soon")
    assert "is not a duration" in form.error_label("timeout").text()
    assert not tab.start_button.isEnabled()


def test_the_jobs_tab_keeps_its_place_and_is_keyboard_reachable(qtbot, workspace, windows):
    window = open_window(qtbot, workspace, windows)
    assert window.tabs.indexOf(window.jobs_tab) == 4  # a saved tab index keeps its meaning
    assert window.tabs.tabText(4) == "&Jobs"
    jobs = window.jobs_tab
    for widget in (jobs.table, jobs.log_view, jobs.resume_button, jobs.cancel_button):
        assert widget.accessibleName() and widget.toolTip()
        assert widget.focusPolicy() != Qt.FocusPolicy.NoFocus
