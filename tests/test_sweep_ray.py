"""The Ray executor (`--executor ray`): trials as Ray tasks give the rows and weights of local
runs; a stopped or killed driver resumes to the same rows; a home the workers cannot see is
refused; no Ray process outlives the tests. One local Ray (2 CPUs, 127.0.0.1, no token auth)
serves the module; without the ray extra these tests skip, except the refusal that names it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
from helpers.sweeps import kill_sweep_midway, read_sweep_json

from engine.sweeps import SweepError, create_sweep, list_sweeps, load_sweep, run_sweep, sweep
from engine.sweeps.executors import RAY_MISSING
from engine.training.lock import is_locked
from engine.workspace import Workspace

# Before Ray is imported: no token auth for the test clusters, and every Ray process bound to
# 127.0.0.1 (Ray reads the second at import; on Linux it binds to the machine's address). The
# module's subprocesses inherit both; `ray_environment` puts the old values back at its end.
RAY_ENVIRONMENT = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
_BEFORE = {name: os.environ.get(name) for name in RAY_ENVIRONMENT}
os.environ.update(RAY_ENVIRONMENT)

try:
    import ray
except ImportError:
    ray = None

needs_ray = pytest.mark.skipif(
    ray is None,
    reason="the Ray executor's tests need the ray extra: pip install 'trainwright[ray]'",
)
ROOT = Path(__file__).resolve().parents[1]
SMALL = {"hidden_dim": 8, "num_hidden_layers": 1}
FAST = {"threads": 1, "resume_every": 1}  # a full checkpoint every epoch
GRID = {"epochs": "3, 60, 4, 5"}  # the second run is long enough to stop or kill mid-way
GRID_ARGS = ["-g", "epochs=3,60,4,5", "-p", "hidden_dim=8", "-p", "num_hidden_layers=1"]
GRID_ARGS += ["-t", "threads=1", "-t", "resume_every=1"]
RAY_NAMES = ("raylet", "gcs_server", "ray::", "ray/_private", "ray/dashboard", "ray/autoscaler")


def stable(rows):
    """Rows without what records when or how long (compared across runs)."""
    return [r.model_dump(exclude={"duration_s", "finished_at"}) for r in rows]


def hashes(rows):
    return [r.weights_sha256 for r in rows]


def _is_ray(process: psutil.Process) -> bool:
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        text = process.name() + " " + " ".join(process.cmdline())
    except psutil.Error:
        return False
    return any(name in text for name in RAY_NAMES)


def _ray_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if _is_ray(p)]


def _wait_until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.fixture(scope="module", autouse=True)
def ray_environment():
    """The module's Ray settings in the environment until its end, then what was there."""
    yield
    for name, value in _BEFORE.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray for the module (2 CPUs on 127.0.0.1): its GCS address. Shut down at the
    end, and no raylet, GCS or worker of it may remain."""
    assert not ray.is_initialized()
    sigterm = signal.getsignal(signal.SIGTERM)  # ray.init sets its own and leaves it there
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    try:
        address = ray.get_runtime_context().gcs_address
        assert address.startswith("127.0.0.1:"), address
        yield address
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, sigterm)
        assert _wait_until(lambda: not _ray_children()), [p.name() for p in _ray_children()]


@pytest.fixture(scope="module")
def clean_grid(tmp_path_factory):
    """The grid run here, one combination after another, never interrupted: the reference."""
    home = tmp_path_factory.mktemp("clean_grid")
    return sweep(Workspace(home), "mlp", GRID, SMALL, FAST)


def _search(workspace: Workspace, **options):
    grid = {"hidden_dim": "8..32", "lr": "1e-3..1e-1:log"}
    training = {"threads": 1, "epochs": 3}
    domain = {"num_hidden_layers": 1}
    return sweep(workspace, "mlp", grid, domain, training, search="random", trials=4, **options)


# ---- the extra
def test_ray_without_the_extra_is_refused_naming_it(workspace, monkeypatch, capsys):
    """Without ray installed (imports of it fail here), `--executor ray` is refused with exit 2
    before a sweep is created, and run_sweep refuses it too. First in the module: no Ray
    thread of the module's cluster is running yet to trip over the missing module."""
    from engine.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["sweep", "mlp", "-g", "epochs=1,2", "--executor", "ray"]) == 2
    assert capsys.readouterr().err.strip() == f"trainwright: error: {RAY_MISSING}"
    assert list_sweeps(workspace) == []
    record = create_sweep(workspace, "mlp", {"epochs": "1"}, SMALL, FAST)
    with pytest.raises(SweepError, match=r"pip install 'trainwright\[ray\]'"):
        run_sweep(workspace, record.id, executor="ray")
    assert main(["sweep", "mlp", "-g", "epochs=1", "--ray-address", "127.0.0.1:6379"]) == 2
    assert "a Ray address is for the Ray executor" in capsys.readouterr().err


# ---- the same results ----------------------------------------------------------------------------
@needs_ray
def test_a_grid_on_ray_gives_the_rows_and_weights_of_local_runs(ray_address, workspace, clean_grid):
    record = sweep(workspace, "mlp", GRID, SMALL, FAST, parallel=2, executor="ray")
    assert record.status == "completed" and record.in_progress == []
    assert all(r.result == "completed" and not r.reused for r in record.rows)
    assert stable(record.rows) == stable(clean_grid.rows)
    assert hashes(record.rows) == hashes(clean_grid.rows)
    sweep_dir = workspace.home / "sweeps" / record.id
    assert sorted(p.name for p in sweep_dir.iterdir()) == [".lock", "sweep.json"]  # no flags left


@needs_ray
def test_a_random_search_on_ray_draws_and_trains_what_it_does_here(
    ray_address, workspace, tmp_path
):
    on_ray = _search(workspace, parallel=2, executor="ray")
    here = _search(Workspace(tmp_path / "here"))
    assert on_ray.status == "completed" and len(on_ray.rows) == 4
    assert stable(on_ray.rows) == stable(here.rows)
    assert hashes(on_ray.rows) == hashes(here.rows)


# ---- stop and kill ------------------------------------------------------------------------------
@needs_ray
def test_a_stopped_ray_sweep_resumes_to_the_uninterrupted_rows(ray_address, workspace, clean_grid):
    """Stop once the first row is in and the second run has a checkpoint: that run stops at
    a step with a resumable checkpoint (a "cancelled" row, as locally), no other starts, and
    resuming on Ray finishes the grid to the rows of an uninterrupted one."""
    cancel = threading.Event()
    long_run = workspace.create_variant("mlp", SMALL, {**FAST, "epochs": 60})

    def stop_after_first(row) -> None:  # a cold Ray worker may not have started it yet
        assert _wait_until(lambda: any(long_run.checkpoints_dir.glob("state_e*.pt")), 60)
        cancel.set()

    record = sweep(
        workspace,
        "mlp",
        GRID,
        SMALL,
        FAST,
        parallel=2,
        executor="ray",
        cancel_event=cancel,
        on_row=stop_after_first,
    )
    assert record.status == "cancelled"
    assert [r.result for r in record.rows] == ["completed", "cancelled"]
    stopped = workspace.variant(record.rows[1].variant)
    assert stopped.name == long_run.name
    assert 1 <= json.loads(stopped.metadata_path.read_text())["epochs_completed"] < 60
    assert not (workspace.home / "sweeps" / record.id / ".stop").exists()

    resumed = run_sweep(workspace, record.id, executor="ray", parallel=2)
    assert resumed.status == "completed"
    assert stable(resumed.rows) == stable(clean_grid.rows)
    assert hashes(resumed.rows) == hashes(clean_grid.rows)


@needs_ray
def test_a_killed_ray_driver_resumes_to_the_same_rows(ray_address, workspace, clean_grid, capsys):
    """SIGKILL `trainwright sweep --executor ray` once a row is stored and another run has a
    checkpoint: Ray ends the dead driver's tasks, and `sweep resume ID --executor ray` trains
    only what is left, to the rows and weights of a sweep never interrupted."""
    from engine.cli import main

    home = workspace.home
    command = [sys.executable, "-m", "engine.cli", "sweep", "mlp", *GRID_ARGS, "--parallel", "2"]
    command += ["--executor", "ray", "--ray-address", ray_address, "--json"]
    log = workspace.home.parent / "driver.log"  # Ray's worker logs can be long
    killed_in = kill_sweep_midway(command, home, log)
    assert killed_in is not None, log.read_text()[-2000:]
    (sweep_file,) = (home / "sweeps").glob("*/sweep.json")
    sweep_id = sweep_file.parent.name
    finished = {r["variant"]: r["finished_at"] for r in read_sweep_json(sweep_file)["rows"]}
    assert [s.status for s in list_sweeps(workspace)] == ["interrupted"]
    # The dead driver's tasks end with it: no Ray worker keeps training (or locking) a variant.
    variants = list((home / "variants" / "mlp").iterdir())
    assert _wait_until(lambda: not any(is_locked(v / ".lock") for v in variants))

    assert main(["sweep", "resume", sweep_id, "--executor", "ray", "--json"]) == 0
    capsys.readouterr()
    resumed = load_sweep(workspace, sweep_id)
    for row in resumed.rows:  # the runs recorded before the kill were not run again
        if row.variant in finished:
            assert row.finished_at == finished[row.variant]
    assert stable(resumed.rows) == stable(clean_grid.rows)
    assert hashes(resumed.rows) == hashes(clean_grid.rows)


# ---- refusals -----------------------------------------------------------------------------------
def _private_mount() -> list[str] | None:
    """How to run a command in a mount namespace of its own (root: unshare -m; a user:
    unshare -Urm), or None where this machine does not allow one."""
    if shutil.which("unshare") is None:
        return None
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-Urm"]
    try:
        probe = subprocess.run(
            [*prefix, "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if probe.returncode == 0 else None


@needs_ray
def test_a_home_the_ray_workers_cannot_see_is_refused(ray_address, tmp_path):
    """The driver runs with its home on a file system only it sees (a tmpfs mounted in a
    mount namespace of its own, as a home on a machine's local disk is to a cluster): the
    workers find nothing there, and the sweep is refused, naming the home and the rule."""
    prefix = _private_mount()
    if prefix is None:
        pytest.skip("needs `unshare` and a mount namespace to hide the home from the workers")
    private = tmp_path / "private"
    private.mkdir()
    home = private / "home"
    script = 'mount -t tmpfs tmpfs "$1" && shift && exec "$@"'
    command = [*prefix, "sh", "-c", script, "sh", str(private), sys.executable, "-m"]
    command += ["engine.cli", "sweep", "mlp", *GRID_ARGS, "--executor", "ray"]
    command += ["--ray-address", ray_address]
    env = {**os.environ, "TRAINWRIGHT_HOME": str(home)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("trainwright: error: the Ray workers on 127.0.0.1 cannot see")
    assert f"({home})" in message and "a file system every node shares" in message
    assert list(private.iterdir()) == []  # the home really was the driver's alone


# ---- no Ray process left behind -----------------------------------------------------------------
@needs_ray
def test_a_cli_sweep_that_starts_its_own_ray_leaves_no_ray_process(tmp_path):
    """With `--ray-address local` the CLI starts a Ray of its own (as without an address,
    RAY_ADDRESS or a `ray start` cluster); when the sweep ends it is shut down: no process
    that Ray started for it is left."""
    mark = uuid.uuid4().hex
    env = {**os.environ, "TRAINWRIGHT_HOME": str(tmp_path / "home"), "TRAINWRIGHT_TEST_MARK": mark}
    env.pop("RAY_ADDRESS", None)
    command = [sys.executable, "-m", "engine.cli", "sweep", "mlp", "-g", "epochs=1,2"]
    command += ["-p", "hidden_dim=8", "-p", "num_hidden_layers=1", "-t", "threads=1"]
    command += ["--executor", "ray", "--ray-address", "local", "--json"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["result"] for r in json.loads(done.stdout)["rows"]] == ["completed", "completed"]
    assert _wait_until(lambda: not _marked(mark)), [p.name() for p in _marked(mark)]


def _marked(mark: str) -> list[psutil.Process]:
    """Live processes whose environment carries `mark` (what the command started)."""
    found = []
    for process in psutil.process_iter():
        try:
            marked = process.environ().get("TRAINWRIGHT_TEST_MARK") == mark
            if marked and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found
