"""The job store: one SQLite file per home, a queue that survives restarts, liveness of
running jobs, a history rebuilt from the directories when the file is missing or damaged,
and two processes writing at once without corrupting it."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.jobs import DB_FILE, JobError, JobRequest, JobStore, StoreUnavailable
from engine.jobs.recorder import JobRecorder, capture_engine_logs
from engine.jobs.schema import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]
FAST = {"threads": 1}
DAMAGED = re.compile(
    r"^trainwright\.db was damaged \((?P<why>.+)\); moved to "
    r"(?P<aside>trainwright\.db\.corrupt-\d{8}T\d{6}Z) and rebuilt from 4 variants and 1 sweep$"
)


def _train(home: Path) -> JobRequest:
    return JobRequest(kind="train", family="mlp", training={"epochs": 1}, variant=str(home))


def _python(code: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        **kwargs,
    )


# ---- the queue ---------------------------------------------------------------------------------
def test_the_queue_keeps_its_order_and_pauses_across_a_fresh_store_and_process(trainwright_home):
    store = JobStore(trainwright_home)
    a, b, c = (store.submit(JobRequest(kind="resume", variant=n)) for n in ("a", "b", "c"))
    assert [j.id for j in store.queue()] == [a.id, b.id, c.id]
    store.move(c.id, before_id=a.id)
    store.set_paused(b.id, True)
    store.move(a.id, None)  # to the end
    store.close()

    reopened = JobStore(trainwright_home)
    assert [(j.id, j.paused) for j in reopened.queue()] == [
        (c.id, False),
        (b.id, True),
        (a.id, False),
    ]
    code = (
        "import json, sys; from engine.jobs import JobStore\n"
        "print(json.dumps([[j.id, j.paused] for j in JobStore(sys.argv[1]).queue()]))"
    )
    seen = json.loads(_python(code, str(trainwright_home)).stdout)
    assert seen == [[c.id, False], [b.id, True], [a.id, False]]
    # claim_next skips the paused job but keeps it queued in its place.
    assert reopened.claim_next().id == c.id
    assert reopened.claim_next().id == a.id
    assert reopened.claim_next() is None
    assert [j.id for j in reopened.queue()] == [b.id]
    claimed = reopened.get(a.id)
    assert (claimed.status, claimed.pid) == ("running", os.getpid())


def test_only_queued_jobs_can_be_moved_removed_or_paused(trainwright_home):
    store = JobStore(trainwright_home)
    queued = store.submit(JobRequest(kind="replay", variant="v"))
    running = store.submit(JobRequest(kind="replay", variant="w"), queued=False)
    assert running.status == "running" and running.started_at and running.pid == os.getpid()
    for attempt in (
        lambda: store.remove(running.id),
        lambda: store.set_paused(running.id, True),
        lambda: store.move(running.id, None),
        lambda: store.move(queued.id, running.id),
    ):
        with pytest.raises(JobError, match=rf"job {running.id} is running; only a queued job"):
            attempt()
    with pytest.raises(JobError, match="no job 999"):
        store.get(999)
    store.log(queued.id, "INFO", "kept until removed")
    store.remove(queued.id)
    assert store.list() == [store.get(running.id)]
    assert store._rows("SELECT COUNT(*) FROM logs")[0][0] == 0  # its log went with it


def test_cancel_a_queued_job_at_once_and_ask_a_running_one_to_stop(trainwright_home):
    store = JobStore(trainwright_home)
    queued = store.submit(JobRequest(kind="resume", variant="q"))
    running = store.submit(JobRequest(kind="resume", variant="r"), queued=False)
    assert store.request_cancel(queued.id).status == "cancelled"
    asked = store.request_cancel(running.id)
    assert asked.status == "running" and asked.cancel_requested
    assert JobStore(trainwright_home).cancel_requested(running.id)  # another connection sees it
    done = store.finish(running.id, "cancelled", cpu_time_s=1.5)
    assert (done.status, done.cpu_time_s) == ("cancelled", 1.5) and done.finished_at
    assert store.request_cancel(running.id).status == "cancelled"  # finished: left as it is
    with pytest.raises(JobError, match="not a final job status"):
        store.finish(running.id, "running")
    with pytest.raises(JobError, match="unknown job status 'nope'"):
        store.list({"nope"})
    assert [j.id for j in store.list("cancelled")] == [running.id, queued.id]  # newest first
    assert store.counts()["cancelled"] == 2


# ---- liveness ------------------------------------------------------------------------------------
def test_running_jobs_of_dead_or_reused_processes_become_interrupted(trainwright_home):
    store = JobStore(trainwright_home)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = store.submit(JobRequest(kind="resume", variant="mine"), queued=False)
    gone = store.submit(JobRequest(kind="resume", variant="gone"), queued=False)
    reused = store.submit(JobRequest(kind="resume", variant="reused"), queued=False)
    with store._write() as conn:
        conn.execute("UPDATE jobs SET pid = ? WHERE id = ?", (dead.pid, gone.id))
        # Our pid, but a start time an hour before ours: a pid reused by another process.
        conn.execute("UPDATE jobs SET pid_started = pid_started - 3600 WHERE id = ?", (reused.id,))

    reopened = JobStore(trainwright_home)  # marks at open
    statuses = {j.id: j.status for j in reopened.list()}
    assert statuses == {mine.id: "running", gone.id: "interrupted", reused.id: "interrupted"}
    marked = reopened.get(gone.id)
    assert f"pid {dead.pid}" in marked.error and marked.finished_at
    assert reopened.logs(gone.id)[-1].level == "WARNING"
    assert reopened.mark_interrupted() == []  # nothing left to mark


def test_a_job_without_a_pid_is_alive_while_its_variant_lock_is_held(trainwright_home):
    from engine.training.lock import VariantLock
    from engine.variants import lock_path, variant_dir

    store = JobStore(trainwright_home)
    job = store.submit(JobRequest(kind="resume", variant="v", family="mlp"), queued=False)
    with store._write() as conn:
        conn.execute("UPDATE jobs SET pid = NULL, pid_started = NULL WHERE id = ?", (job.id,))
    lock = VariantLock(lock_path(variant_dir(trainwright_home, "mlp", "v")))
    lock.acquire()
    try:
        assert store.mark_interrupted() == []
    finally:
        lock.release()
    assert [j.id for j in store.mark_interrupted()] == [job.id]


# ---- two processes ---------------------------------------------------------------------------
WRITER = """
import sys
from pathlib import Path
from engine.jobs import JobRequest, JobStore

home, tag, jobs, records = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = JobStore(home)
print("ready", flush=True)
while not (Path(home) / "go").exists():
    pass
for i in range(jobs):
    job = store.submit(JobRequest(kind="resume", variant=f"{tag}-{i}"), queued=False)
    for k in range(records):
        store.log(job.id, "INFO", f"{tag} {i} {k}")
    store.update(job.id, attempts=1)
    store.finish(job.id, "completed")
"""


def test_two_processes_writing_jobs_and_logs_at_once_keep_the_store_whole(trainwright_home):
    JobStore(trainwright_home).close()  # created (and migrated) before they start
    jobs, records = 200, 20
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(trainwright_home), tag, str(jobs), str(records)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready"
    (trainwright_home / "go").touch()  # both start writing at the same moment
    for writer in writers:
        assert writer.wait(timeout=60) == 0

    conn = sqlite3.connect(trainwright_home / DB_FILE)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    store = JobStore(trainwright_home)
    done = store.list()
    assert len(done) == 2 * jobs and {j.status for j in done} == {"completed"}
    for job in done:
        tag, i = job.request.variant.split("-")
        assert [r.message for r in store.logs(job.id)] == [f"{tag} {i} {k}" for k in range(records)]
    # The two did interleave: some of b's jobs came between two of a's.
    order = "".join(j.request.variant[0] for j in sorted(done, key=lambda j: j.id))
    assert order not in ("a" * jobs + "b" * jobs, "b" * jobs + "a" * jobs)


CLAIMER = """
import sys
from engine.jobs import JobStore

store = JobStore(sys.argv[1])
claimed = []
while (job := store.claim_next()) is not None:
    claimed.append(job.id)
print(" ".join(map(str, claimed)))
"""


def test_two_processes_claiming_from_one_queue_never_take_the_same_job(trainwright_home):
    store = JobStore(trainwright_home)
    ids = {store.submit(JobRequest(kind="replay", variant=f"v{i}")).id for i in range(150)}
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(trainwright_home)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    taken = [set(map(int, c.communicate(timeout=60)[0].split())) for c in claimers]
    assert taken[0].isdisjoint(taken[1]) and taken[0] | taken[1] == ids


# ---- log capture -------------------------------------------------------------------------------
def test_engine_log_records_go_to_the_job_of_the_thread_that_logged_them():
    import logging

    logger = logging.getLogger("engine.jobs_test")
    mine_got, theirs_got = [], []
    mine, theirs = JobRecorder(sink=mine_got.extend), JobRecorder(sink=theirs_got.extend)
    started, release = threading.Event(), threading.Event()

    def other_job() -> None:
        with capture_engine_logs(theirs):
            started.set()
            release.wait(5)
            logger.warning("from the other job")

    thread = threading.Thread(target=other_job)
    thread.start()
    started.wait(5)
    with capture_engine_logs(mine):
        logger.info("from this job")
        release.set()
        thread.join(5)
        logger.debug("below INFO: not recorded")
    logger.info("after the job: not recorded")
    mine.flush()
    theirs.flush()
    assert [m for _, _, m in mine_got] == ["from this job"]
    assert [(level, m) for _, level, m in theirs_got] == [("WARNING", "from the other job")]
    assert logging.getLogger("engine").level == logging.NOTSET  # put back
    assert not logging.getLogger("engine").handlers


# ---- damaged, missing, newer -------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_home(tmp_path_factory):
    """A home with four variants (completed, cancelled with a checkpoint, one whose run
    was killed: metadata says training, no lock, and a sweep's), a sweep stopped after its
    first row, and a sweep created and never run (no job: it never ran)."""
    from engine.sweeps import create_sweep, run_sweep
    from engine.workspace import Workspace

    home = tmp_path_factory.mktemp("trained")
    ws = Workspace(home)
    small = {"hidden_dim": 8, "num_hidden_layers": 1}
    done = ws.create_variant("mlp", small, {**FAST, "epochs": 2})
    assert ws.train(done).status == "completed"
    stopped = ws.create_variant("mlp", small, {**FAST, "epochs": 50, "resume_every": 1})
    cancel = threading.Event()

    class StopAtTwo:
        def on_epoch_end(self, metrics):
            if metrics.epoch == 2:
                cancel.set()

        def __getattr__(self, name):
            return lambda *a, **k: None

    assert ws.train(stopped, [StopAtTwo()], cancel).status == "cancelled"
    killed = ws.create_variant("mlp", small, {**FAST, "epochs": 3})
    assert ws.train(killed).status == "completed"
    meta = json.loads(killed.metadata_path.read_text())
    killed.metadata_path.write_text(json.dumps({**meta, "status": "training"}))
    stopped_sweep = create_sweep(ws, "mlp", {"epochs": "1,2"}, small, FAST)
    rows = threading.Event()
    run_sweep(ws, stopped_sweep.id, on_row=lambda row: rows.set(), cancel_event=rows)
    create_sweep(ws, "mlp", {"epochs": "3,4"}, small, FAST)
    return home, {"completed": done.name, "cancelled": stopped.name, "interrupted": killed.name}


def _copy_home(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, dirs_exist_ok=True)
    for leftover in dst.glob("trainwright.db*"):
        leftover.unlink()
    return dst


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_store_is_moved_aside_and_rebuilt_from_the_directories(
    trained_home, trainwright_home, damage
):
    source, names = trained_home
    home = _copy_home(source, trainwright_home)
    with JobStore(home) as store:
        assert len(store.list()) == 4 + 1  # the missing store was filled from the directories
        for _i in range(300):  # enough pages that cutting the file in half tears it
            store.log(store.submit(_train(home)).id, "INFO", "x" * 400)
    path = home / DB_FILE
    if damage == "garbage":
        path.write_bytes(os.urandom(64 * 1024))
    else:
        size = path.stat().st_size
        with open(path, "r+b") as handle:
            handle.truncate(size // 2)
    damaged_bytes = path.read_bytes()

    store = JobStore(home)
    (warning,) = store.warnings
    match = DAMAGED.match(warning)
    assert match, warning
    assert (home / match["aside"]).read_bytes() == damaged_bytes
    jobs = {j.variant or j.sweep_id: j for j in store.list()}
    assert len(jobs) == 4 + 1
    for status, name in names.items():
        assert (jobs[name].kind, jobs[name].status) == ("train", status)
    (sweep,) = [j for j in jobs.values() if j.kind == "sweep"]
    assert sweep.status == "cancelled" and sweep.request.sweep_id == sweep.sweep_id
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert JobStore(home).warnings == []  # repaired once, then quiet


def test_a_missing_store_is_rebuilt_with_a_note_and_a_fresh_home_is_quiet(
    trained_home, trainwright_home, tmp_path
):
    source, names = trained_home
    home = _copy_home(source, trainwright_home)
    store = JobStore(home)
    # Routine (a home from before jobs): a note, not a warning.
    assert store.notes == ["trainwright.db was missing; rebuilt from 4 variants and 1 sweep"]
    assert store.warnings == []
    completed = next(j for j in store.list() if j.variant == names["completed"])
    assert completed.attempts == 1 and completed.started_at and completed.finished_at
    fresh = JobStore(tmp_path / "fresh")
    assert fresh.warnings == fresh.notes == []


def test_a_store_of_a_newer_schema_is_moved_aside_not_guessed_at(trainwright_home):
    JobStore(trainwright_home).close()
    conn = sqlite3.connect(trainwright_home / DB_FILE)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    (warning,) = JobStore(trainwright_home).warnings
    assert warning.startswith(f"trainwright.db was damaged (schema {SCHEMA_VERSION + 1} is newer")
    assert len(list(trainwright_home.glob("trainwright.db.corrupt-*"))) == 1


def test_a_store_that_cannot_be_opened_says_so_and_moves_nothing(trainwright_home):
    (trainwright_home / DB_FILE).mkdir()  # not a file at all
    with pytest.raises(StoreUnavailable, match=r"could not open .*trainwright\.db"):
        JobStore(trainwright_home)
    assert not list(trainwright_home.glob("*.corrupt-*"))


# ---- retry -------------------------------------------------------------------------------------
def test_retry_resumes_an_interrupted_run_and_starts_a_finished_one_over(
    trained_home, trainwright_home
):
    source, names = trained_home
    home = _copy_home(source, trainwright_home)
    store = JobStore(home)
    by_variant = {j.variant: j for j in store.list() if j.variant}

    again = store.retry(by_variant[names["cancelled"]].id)
    assert (again.kind, again.status, again.request.variant) == (
        "resume",
        "queued",
        names["cancelled"],
    )
    assert again.retry_of == by_variant[names["cancelled"]].id
    redo = store.retry(by_variant[names["completed"]].id)
    assert (redo.kind, redo.request.overwrite) == ("train", True)
    # A start over makes the same variant: the rebuilt request holds its resolved values.
    from engine.workspace import Workspace

    request = redo.request
    made = Workspace(home).create_variant(request.family, request.domain, request.training)
    assert made.name == names["completed"]
    # Killed (metadata says training, nobody holds the lock): resumed from its checkpoint.
    killed = store.retry(by_variant[names["interrupted"]].id)
    assert (killed.kind, killed.request.variant) == ("resume", names["interrupted"])
    with pytest.raises(JobError, match=f"job {again.id} is queued; only a finished job"):
        store.retry(again.id)
