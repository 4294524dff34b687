"""`trainwright jobs` and `trainwright queue`, and the runs the CLI records as jobs: a queue
that survives a restart, SIGKILL -> interrupted -> retry equal to an uninterrupted run, a
cancel from another process, a damaged store rebuilt, a store that cannot be used."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.cli import run_cli

from engine.jobs import JobStore

ROOT = Path(__file__).resolve().parents[1]
# Long enough to be caught running with two full checkpoints (epoch 10), short enough for
# the test to stay quick: about 1.5 s of training after a 3 s start.
LONG = ["modulo_addition_1layer", "-p", "prime=23", "-t", "epochs=150", "-t", "resume_every=5"]
SMALL = ["-p", "hidden_dim=8", "-p", "num_hidden_layers=1", "-t", "threads=1"]


def _start(home, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "--home", str(home), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _main(capsys, *argv) -> tuple[int, str, str]:
    from engine.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _wait_for(condition, process: subprocess.Popen, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before the test could reach it"
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _running_job(home: Path):
    """The job running in `home` once its store exists, else None (a read-only look)."""
    if not (home / "trainwright.db").exists():
        return None
    with JobStore(home) as store:
        running = store.list("running")
    return running[0] if running else None


def _logs(home: Path, job_id: int):
    with JobStore(home) as store:
        return store.logs(job_id)


# ---- runs recorded ---------------------------------------------------------------------------
def test_train_is_recorded_as_a_job_with_its_log_and_its_output_unchanged(capsys, tmp_path):
    result = run_cli(tmp_path, "train", "mlp", *SMALL, "-t", "epochs=2", "--json")
    assert result.returncode == 0 and result.stderr == ""
    session = json.loads(result.stdout)
    assert set(session) == {
        "variant", "family", "status", "epochs_completed", "final_metrics",
        "weights_sha256", "path", "error_message", "warnings", "stop_reason",
    }  # fmt: skip
    home = ["--home", str(tmp_path)]

    listed = json.loads(_main(capsys, *home, "jobs", "--json")[1])
    assert [(j["id"], j["kind"], j["status"], j["variant"]) for j in listed] == [
        (1, "train", "completed", session["variant"])
    ]
    shown = json.loads(_main(capsys, *home, "jobs", "show", "1", "--json")[1])
    assert shown["cpu_time_s"] > 0 and shown["peak_rss_bytes"] > 0
    assert shown["logs"][0]["message"] == f"training {session['variant']} from epoch 0"
    table = _main(capsys, *home, "jobs")[1].splitlines()
    assert table[0].split() == [
        "ID", "KIND", "STATUS", "WHAT", "CREATED", "DURATION", "TRIES", "ERROR"
    ]  # fmt: skip
    assert table[1].split()[:5] == ["1", "train", "completed", "Train", session["variant"]]
    logs = _main(capsys, *home, "jobs", "logs", "1")[1].splitlines()
    assert logs[0].endswith(f"INFO    training {session['variant']} from epoch 0")
    assert "completed: " + session["variant"] in logs[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["queue", "add", "mlp", "-t", "epochs=0"], "epochs: 0 is out of range"),
        (["queue", "add", "mlp", "-p", "hidden_dim=x"], "hidden_dim: 'x' is not valid"),
        (["queue", "add", "nope"], "unknown family 'nope'"),
        (["jobs", "show", "99"], "no job 99"),
        (["jobs", "--status", "nope"], "unknown job status 'nope'"),
        (["jobs", "retry", "99"], "no job 99"),
        (["queue", "remove", "99"], "no job 99"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, trainwright_home, args, message):
    code, out, err = _main(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err


def test_sweep_and_distill_and_replay_commands_are_recorded_as_jobs(capsys, teacher):
    code, out, _ = _main(capsys, "sweep", "mlp", "-g", "epochs=1,2", *SMALL, "--json")
    assert code == 0
    sweep_id = json.loads(out)["id"]
    code, out, _ = _main(capsys, "distill", teacher, "mlp", "-p", "hidden_dim=16", "-t", "epochs=2")
    assert code == 0 and out.startswith("completed: ")
    code, out, _ = _main(capsys, "replay", teacher)
    assert code == 0 and out.startswith("identical")
    code, out, _ = _main(capsys, "jobs", "--json")
    jobs = json.loads(out)
    assert [(j["kind"], j["status"]) for j in jobs] == [
        ("replay", "completed"),
        ("distill", "completed"),
        ("sweep", "completed"),
        ("train", "completed"),  # the teacher, found in the home when the store was created
    ]
    assert jobs[2]["sweep_id"] == sweep_id and jobs[0]["variant"] == jobs[3]["variant"] == teacher
    assert jobs[1]["request"]["teacher"] == teacher


# ---- the queue -------------------------------------------------------------------------------
def test_the_queue_survives_a_restart_and_queue_run_works_through_it(capsys, trainwright_home):
    ids = []
    for epochs in (1, 2, 3):
        code, out, _ = _main(capsys, "queue", "add", "mlp", *SMALL, "-t", f"epochs={epochs}")
        assert code == 0
        match = re.match(r"queued job (\d+): Train mlp_two_moons_h8x1_seed0_\w+ \((\d) in", out)
        assert match and int(match[2]) == epochs, out
        ids.append(int(match[1]))
    first, second, third = ids
    assert _main(capsys, "queue", "move", str(third), "--before", str(first))[0] == 0
    assert _main(capsys, "queue", "pause", str(second))[0] == 0

    # Another process, with a store of its own, sees the same queue in the same order.
    seen = json.loads(run_cli(trainwright_home, "queue", "--json").stdout)
    assert [(j["id"], j["paused"]) for j in seen] == [
        (third, False),
        (first, False),
        (second, True),
    ]
    run = run_cli(trainwright_home, "queue", "run")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split()[:3] for line in lines[:2]] == [
        ["job", str(third), "completed:"],
        ["job", str(first), "completed:"],
    ]
    assert lines[-1] == "2 job(s) run: 2 completed; 1 still queued (1 paused)"
    code, out, _ = _main(capsys, "queue", "--json")
    assert [j["id"] for j in json.loads(out)] == [second]


# ---- processes -------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_then_retry_and_queue_run_equals_the_uninterrupted_run(capsys, tmp_path):
    home = tmp_path / "crash"
    process = _start(home, "train", *LONG, "--json")
    caught = {}

    def kill_when_checkpointed() -> None:
        def killable():
            job = _running_job(home)
            if job is None or job.variant is None:
                return None
            checkpoints = home / "variants" / job.family / job.variant / "checkpoints"
            return job if len(list(checkpoints.glob("state_*.pt.sha256"))) >= 2 else None

        try:
            caught["job"] = _wait_for(killable, process)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait(30)

    killer = threading.Thread(target=kill_when_checkpointed)
    killer.start()
    # Meanwhile the uninterrupted run, in this process (which then resumes without a restart).
    code, out, _ = _main(capsys, "--home", str(tmp_path / "ref"), "train", *LONG, "--json")
    assert code == 0
    uninterrupted = json.loads(out)
    killer.join(60)
    job = caught["job"]
    with JobStore(home) as store:
        interrupted = store.get(job.id)
    assert interrupted.status == "interrupted" and f"pid {process.pid}" in interrupted.error

    code, out, _ = _main(capsys, "--home", str(home), "jobs", "retry", str(job.id))
    assert code == 0 and out.startswith(f"queued job {job.id + 1}: Resume {job.variant}")
    code, out, _ = _main(capsys, "--home", str(home), "queue", "run", "--json")
    assert code == 0
    (resumed,) = json.loads(out)
    assert (resumed["kind"], resumed["status"], resumed["retry_of"]) == (
        "resume", "completed", job.id
    )  # fmt: skip
    meta = json.loads((home / "variants" / job.family / job.variant / "metadata.json").read_text())
    assert meta["weights_sha256"] == uninterrupted["weights_sha256"]


def test_cancel_from_another_process_stops_the_run_and_follow_sees_it_end(tmp_path):
    home = tmp_path
    process = _start(home, "train", *LONG)
    follower = None
    try:
        job = _wait_for(lambda: _running_job(home), process)
        follower = _start(home, "jobs", "logs", str(job.id), "--follow")
        _wait_for(lambda: _logs(home, job.id), process)  # it is training
        cancel = run_cli(home, "jobs", "cancel", str(job.id))
        assert cancel.returncode == 0
        assert cancel.stdout.startswith(f"asked job {job.id} to stop: process {process.pid}")
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 130 and "resume with: trainwright resume" in out
        followed, _ = follower.communicate(timeout=30)
    finally:
        for p in (process, follower):
            if p is not None and p.poll() is None:
                p.kill()
    assert follower.returncode == 0
    assert "WARNING cancel requested: stopping at the next step" in " ".join(followed.split())
    assert "cancelled: " + job.request.variant in followed.splitlines()[-1]
    with JobStore(home) as store:
        assert store.get(job.id).status == "cancelled"
    again = run_cli(home, "jobs", "cancel", str(job.id))
    assert (
        again.returncode == 0
        and again.stdout == f"job {job.id} is already cancelled; nothing to cancel\n"
    )


# ---- the store itself ------------------------------------------------------------------------
def test_a_damaged_store_is_rebuilt_with_one_warning(capsys, tmp_path):
    home = tmp_path / "home"
    assert _main(capsys, "--home", str(home), "train", "mlp", *SMALL, "-t", "epochs=1")[0] == 0
    (home / "trainwright.db").write_bytes(b"not a database at all" * 100)
    for leftover in home.glob("trainwright.db-*"):
        leftover.unlink()
    code, out, err = _main(capsys, "--home", str(home), "jobs", "--json")
    assert code == 0 and [j["status"] for j in json.loads(out)] == ["completed"]
    assert re.fullmatch(
        r"trainwright: warning: trainwright\.db was damaged \(file is not a database\); moved "
        r"to trainwright\.db\.corrupt-\d{8}T\d{6}Z and rebuilt from 1 variant and 0 sweeps\n",
        err,
    ), err


def test_a_store_that_cannot_be_used_never_stops_a_run_and_changes_nothing_else(tmp_path):
    blocked = tmp_path / "blocked"
    (blocked / "trainwright.db").mkdir(parents=True)
    plain = _start(tmp_path / "plain", "train", "mlp", *SMALL, "-t", "epochs=2", "--json")
    result = _start(blocked, "train", "mlp", *SMALL, "-t", "epochs=2", "--json")
    ours, err = result.communicate(timeout=120)
    assert result.returncode == 0
    theirs = json.loads(plain.communicate(timeout=120)[0])
    assert json.loads(ours)["weights_sha256"] == theirs["weights_sha256"]
    (warning,) = err.splitlines()
    assert warning.startswith("trainwright: warning: could not open ")
    assert warning.endswith("; this run is not recorded in the job history")
    assert os.path.isdir(blocked / "trainwright.db")
    # A request the engine refuses ran nothing: its one-line error is all that is said.
    again = run_cli(blocked, "resume", json.loads(ours)["variant"])
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "is already completed" in again.stderr
