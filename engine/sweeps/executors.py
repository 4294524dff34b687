"""Where a sweep's trials run at once: local worker processes, or Ray tasks on a cluster.

The executor decides where trials run, never what they compute: both run the runner's own
worker function on the same arguments (spec, combination, thread count), so a trial's weights
are the same on either, and the executor is not part of the sweep's spec. The process that
runs the sweep (the driver) still asks a search's study, records rows and writes sweep.json;
an executor only starts trials, hands back their futures and tells them to stop.

local: a pool of spawned worker processes on this machine (parallel=N); the stop signal is a
multiprocessing Event they share.

ray: each trial a Ray task with `num_cpus` = its torch threads, on the cluster `ray.init`
reaches (an address, else RAY_ADDRESS, else one `ray start` began here, else a new local one). Its workers write into
the same home, so a cluster needs the home on a shared file system at the same path: at start
one tiny task per node reads a token the driver has just written into the sweep's folder, and
the sweep is refused if a node does not see it. The stop signal is a file in the sweep's
folder (workers on other machines cannot share an Event), checked by the trainer's
`is_set()` at most every STOP_CHECK_S. A trial that was told to stop returns a "cancelled" row
with a resumable checkpoint, as locally; so does one whose driver died (Ray's SIGTERM), which
the next run of the sweep resumes. Ray is an optional extra (`trainwright[ray]`) and is
imported only here, only when asked for.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.sweeps import store
from engine.sweeps.errors import SweepError

EXECUTORS = ("local", "ray")
RAY_MISSING = "the Ray executor needs the ray extra: pip install 'trainwright[ray]'"
STOP_FILE = ".stop"  # in the sweep's folder: the Ray trials' stop signal
PROBE_FILE = ".ray-home-check"  # in the sweep's folder while the home is checked
STOP_CHECK_S = 0.2  # a trial looks for the stop file at most this often
PROBE_TIMEOUT_S = 120.0  # for the home check's tasks (a cold worker imports Ray first)
CLOSE_WAIT_S = 60.0  # for trials to stop when the driver leaves early; then they are cancelled

WorkerFn = Callable[..., dict[str, Any]]

# The stop signal of the trial running in this worker process (None in the driver).
_STOP: Any = None


def stop_signal() -> Any:
    """What a trial in this worker process checks to stop (an Event-like `is_set()`)."""
    return _STOP


def check_executor(kind: str, address: str | None = None) -> None:
    """Refuse an unknown executor, an address without Ray, or Ray when it is not installed,
    before anything is created or run."""
    if kind not in EXECUTORS:
        raise SweepError(f"executor {kind!r} is not one of {', '.join(EXECUTORS)}")
    if address is not None and kind != "ray":
        raise SweepError("a Ray address is for the Ray executor (--executor ray)")
    if kind == "ray":
        _ray()


class Executor:
    """Starts trials, hands back their futures (a row as JSON), and stops them. Used as a
    context manager: leaving it waits for (or stops) what still runs."""

    def submit(self, fn: WorkerFn, args: tuple[Any, ...], threads: int) -> Future[dict[str, Any]]:
        raise NotImplementedError

    def stop(self) -> None:
        """Tell every running trial to stop at its next step (resumable)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---- local processes ---------------------------------------------------------------------------
class LocalExecutor(Executor):
    """`processes` spawned workers. Spawn, not fork: torch's thread count and determinism
    flags are per process, and a forked torch can deadlock."""

    def __init__(self, processes: int) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self._stop,),
        )

    def submit(self, fn: WorkerFn, args: tuple[Any, ...], threads: int) -> Future[dict[str, Any]]:
        return self._pool.submit(fn, *args)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _init_worker(stop: Any) -> None:
    global _STOP
    _STOP = stop


# ---- Ray ----------------------------------------------------------------------------------------
class StopFile:
    """A Ray trial's stop signal: set once the sweep's stop file exists (the driver writes it;
    workers on other machines see it through the shared home), or once `set()` stops this
    process's trial alone. The trainer asks at every step, so the file is looked at most
    every STOP_CHECK_S."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._here = threading.Event()
        self._seen = False
        self._next_look = 0.0

    def is_set(self) -> bool:
        if self._here.is_set():
            return True
        if not self._seen and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + STOP_CHECK_S
            self._seen = self.path.exists()
        return self._seen

    def set(self) -> None:
        self._here.set()


def _ray() -> Any:
    """The ray module (imported only for the Ray executor), or SweepError naming the extra."""
    try:
        import ray
    except ImportError:
        raise SweepError(RAY_MISSING) from None
    return ray


def _ray_trial(stop_path: str, fn: WorkerFn, *args: Any) -> dict[str, Any]:
    """A Ray task's body: the runner's worker function, with the sweep's stop file as this
    process's stop signal (Ray reuses a worker process for one task after another)."""
    global _STOP
    stop = _STOP = StopFile(Path(stop_path))
    with _stop_on_sigterm(stop):
        return fn(*args)


@contextlib.contextmanager
def _stop_on_sigterm(stop: StopFile) -> Iterator[None]:
    """Ray ends the tasks of a driver that died with SIGTERM, and its own handler raises
    SystemExit wherever the trial is: mid-step, where the trainer's last-chance checkpoint
    may hold a step half taken, which a resume would not continue exactly. While the trial
    runs, SIGTERM stops it at its next step instead (a resumable checkpoint, as a stop
    does); then the signal goes on to Ray's handler, which ends the worker."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    terminated = threading.Event()

    def on_sigterm(signum: int, frame: Any) -> None:
        terminated.set()
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if terminated.is_set():
            os.kill(os.getpid(), signal.SIGTERM)


def _read_probe(path: str) -> str | None:
    """The home check's task: what this node reads at `path` (None: nothing there)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return None


class RayExecutor(Executor):
    """Trials as Ray tasks. Connects with `ray.init(address=address)` unless this process is
    connected already (then that connection is used as it is, and left open at the end),
    then checks that every node sees the home."""

    def __init__(self, home: Path, sweep_id: str, address: str | None = None) -> None:
        self.ray = _ray()
        self.home = Path(home)
        directory = store.sweep_dir(self.home, sweep_id)
        self.stop_path = directory / STOP_FILE
        self.stop_path.unlink(missing_ok=True)  # a stop left by an earlier run of this sweep
        # ray.init sets a SIGTERM handler of its own (exit, so that Ray shuts down) and leaves
        # it set after ray.shutdown: this process gets its own back when it disconnects.
        self._sigterm = signal.getsignal(signal.SIGTERM)
        self.connected_here = _connect(self.ray, address)
        self._stopped = False
        self._running: dict[Future[dict[str, Any]], Any] = {}
        try:
            self.max_cpus = check_shared_home(self.ray, self.home, directory)
        except BaseException:
            self._disconnect()
            raise
        # A trial whose worker dies is a failed row, as a dead local worker's is: no retry.
        self._task = self.ray.remote(max_retries=0)(_ray_trial)

    def submit(self, fn: WorkerFn, args: tuple[Any, ...], threads: int) -> Future[dict[str, Any]]:
        # More CPUs than the largest node has would leave the task waiting for ever.
        cpus = max(1, min(threads, self.max_cpus))
        ref = self._task.options(num_cpus=cpus).remote(str(self.stop_path), fn, *args)
        future = _unwrapped(self.ray, ref)
        self._running = {f: r for f, r in self._running.items() if not f.done()}
        self._running[future] = ref
        return future

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.stop_path.touch()

    def close(self) -> None:
        """Trials still running (the driver left early): told to stop, waited for a while,
        then cancelled; the stop file is removed and a connection made here closed."""
        try:
            running = [f for f in self._running if not f.done()]
            if running:
                self.stop()
                _, left = wait(running, timeout=CLOSE_WAIT_S)
                for future in left:
                    self.ray.cancel(self._running[future], force=True)
        finally:
            self.stop_path.unlink(missing_ok=True)
            self._disconnect()

    def _disconnect(self) -> None:
        if self.connected_here:
            self.ray.shutdown()
            self.connected_here = False
            if threading.current_thread() is threading.main_thread() and self._sigterm is not None:
                signal.signal(signal.SIGTERM, self._sigterm)


def _connect(ray: Any, address: str | None) -> bool:
    """Connect this process to Ray; True if this call did (so closing should disconnect)."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level="warning")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "RAY_ADDRESS or a new local cluster"
        raise SweepError(f"cannot start the Ray executor ({where}): {exc}") from None
    return True


def _unwrapped(ray: Any, ref: Any) -> Future[dict[str, Any]]:
    """A future of the task's result whose failure is the worker's own exception (as a local
    worker's would be), not Ray's wrapper around it."""
    out: Future[dict[str, Any]] = Future()

    def settle(done: Future[Any]) -> None:
        exc = done.exception()
        if exc is None:
            out.set_result(done.result())
            return
        cause = getattr(exc, "cause", None)
        wrapped = isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, Exception)
        out.set_exception(cause if wrapped else exc)

    ref.future().add_done_callback(settle)
    return out


def check_shared_home(ray: Any, home: Path, directory: Path) -> int:
    """Every node with CPUs reads the token just written into the sweep's folder; SweepError
    naming the nodes that do not, with the rule. The most CPUs a node has, for clamping."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    if not nodes:
        raise SweepError("the Ray cluster has no node with CPUs to run trials on")
    probe = directory / PROBE_FILE
    token = secrets.token_hex(16)
    probe.write_text(token, encoding="utf-8")
    read = ray.remote(num_cpus=0, max_retries=0)(_read_probe)
    try:
        refs = [
            read.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(str(probe))
            for n in nodes
        ]
        try:
            seen = ray.get(refs, timeout=PROBE_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise SweepError(
                f"the Ray cluster did not run the home check within {PROBE_TIMEOUT_S:.0f} s"
            ) from None
    finally:
        probe.unlink(missing_ok=True)
    blind = [
        n.get("NodeManagerAddress", n["NodeID"])
        for n, text in zip(nodes, seen, strict=True)
        if text != token
    ]
    if blind:
        raise SweepError(
            f"the Ray workers on {', '.join(sorted(set(blind)))} cannot see this home "
            f"({home}): the Ray executor needs the home on a file system every node shares, "
            "at the same path; mount it there, or run the sweep with --executor local"
        )
    return int(max(n["Resources"]["CPU"] for n in nodes))


__all__ = [
    "EXECUTORS",
    "RAY_MISSING",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "StopFile",
    "check_executor",
    "check_shared_home",
    "stop_signal",
]
