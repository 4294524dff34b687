"""B2 — GUI responsiveness and memory: the time to the first painted window, the main window
while it trains, and a 100,000-line chronicle in its plots and table.

1. Start-up: `python -m desktop_app --startup-benchmark` (time from process start to the first
   painted window, as the app measures it), and the `trainwright` command itself (it has no
   such flag: the same figure is read from the log the window writes, then the process ends).
2. Responsiveness. The main window trains, started with the Training tab's Start button as a
   user would, each of two workloads: (b) the 2x64 MLP on a seeded 10,000 x 20 CSV, batch 32,
   3 epochs, log_every=1 (a chronicle row per step), and (m) modulo addition p = 23, full
   batch, 600 epochs (a small model: ~10 ms epochs of mostly Python, the GIL-heavy case).
   Meanwhile a 10 ms precise QTimer on the GUI thread records how late each tick fires
   (interval - 10 ms), from the click until the run has ended. Repeated (Retrain); figures
   are medians over the runs. Each workload is trained two ways (`--training-in`):
   - thread: as the app does, the engine's loop on the TrainingWorker's QThread;
   - process: a prototype (here, not in desktop_app): the same TrainingWorker on its QThread
     runs the job, but the workspace it is given trains the variant in a child process
     (multiprocessing spawn), which sends its chronicle rows back through a pipe in batches
     (<= 20 a second); the QThread only waits on the pipe and hands the rows on.
3. A 100,000-line chronicle. A seeded chronicle.jsonl whose every line is an epoch-end row
   (full-batch training, as in workload (a): a point per line in every curve, the plots' worst
   case; fields as in the run above) goes through a real TrainingWorker and the RunController
   (the worker's own <= 20 Hz batching) into the Training tab's table and plots. The first 95 %
   arrive as fast as the worker batches them, pausing at each quarter to read the RSS (psutil,
   after gc.collect()); the last 5 % at 2,000 rows/s, a fast run. Every frame of the plots'
   25 Hz timer is timed: redraw() itself, then the paint, alternately by grab() of the three
   plots right away (the target's figure: all of it painted, an upper bound) and by summing
   the paint events the event loop then gives the three views.

The window is offscreen (QT_QPA_PLATFORM=offscreen) unless a display is given: `--display :94`
(an X server there, or one this script starts with Xvfb and stops at the end), or DISPLAY set
outside --quick; then it is a real X11 window (xcb), painted and composed by the X server.

    .venv/bin/python bench/b2_gui.py            # ~5 min
    .venv/bin/python bench/b2_gui.py --quick    # ~40 s: keeps the script working (CI)
    .venv/bin/python bench/b2_gui.py --display :94 --parts training   # a real window (Xvfb)
    .venv/bin/python bench/b2_gui.py --profile  # adds a cProfile of the GUI thread per part
    .venv/bin/python bench/b2_gui.py --parts training,chronicle --runs 9
    .venv/bin/python bench/b2_gui.py --parts training --workloads modulo --training-in process
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import math
import os
import pstats
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import psutil

REPO = Path(__file__).resolve().parent.parent

TIMER_MS = 10
TARGET_P99_MS = 30.0
TARGET_MAX_MS = 100.0
TARGET_FRAME_MS = 10.0
TARGET_FIRST_PAINT_S = 2.0
PROPORTIONAL = (0.67, 1.5)  # second half's growth / first half's, for "proportional"
TAIL_FRACTION = 0.05  # the last rows of the feed arrive at TAIL_ROWS_PER_S
TAIL_ROWS_PER_S = 2000.0
FIRST_PAINT = re.compile(r"first paint:? ([0-9.]+) s after process start")


def ms(seconds: float) -> float:
    return 1e3 * seconds


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


# ---- the platform: offscreen, or a real X11 window (an X server, or Xvfb started here) ------
def x_server_answers(display: str) -> bool:
    """Whether an X server accepts connections on `display` (xdpyinfo, else its socket)."""
    try:
        return (
            subprocess.run(
                ["xdpyinfo", "-display", display],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
            ).returncode
            == 0
        )
    except FileNotFoundError:
        number = display.split(":", 1)[-1].split(".", 1)[0]
        return Path(f"/tmp/.X11-unix/X{number}").exists()
    except subprocess.TimeoutExpired:
        return False


def choose_platform(display: str | None, quick: bool) -> subprocess.Popen | None:
    """Set QT_QPA_PLATFORM (and DISPLAY) before Qt loads: xcb on `display` when one is given
    (starting Xvfb there if no server answers; the process is returned, to be stopped), else
    the QT_QPA_PLATFORM already set, else xcb when DISPLAY is set (not in --quick), else
    offscreen."""
    if display is None:
        if "QT_QPA_PLATFORM" not in os.environ:
            real = bool(os.environ.get("DISPLAY")) and not quick
            os.environ["QT_QPA_PLATFORM"] = "xcb" if real else "offscreen"
        return None
    os.environ["DISPLAY"] = display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    if x_server_answers(display):
        return None
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while not x_server_answers(display):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"Xvfb did not start on {display}")
        time.sleep(0.1)
    return server


def platform_text() -> str:
    name = os.environ["QT_QPA_PLATFORM"]
    return f"{name} on {os.environ.get('DISPLAY', '?')}" if name == "xcb" else name


# ---- start-up (subprocesses, before this process opens a window) ----------------------------
def offscreen_env() -> dict[str, str]:
    """This process's environment: the platform (and display) main() chose, for the children."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def startup_module(home: Path) -> float:
    """Seconds from process start to the first painted window, as the app itself reports it."""
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--home", str(home), "--startup-benchmark"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=offscreen_env(),
    )
    match = FIRST_PAINT.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(
            f"--startup-benchmark failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return float(match.group(1))


def startup_command(command: Path, home: Path) -> float:
    """The same figure for the `trainwright` command (which has no --startup-benchmark): the
    window logs it to <home>/logs/trainwright.log; read it there, then end the process."""
    log = home / "logs" / "trainwright.log"
    seen = log.stat().st_size if log.exists() else 0
    proc = subprocess.Popen(
        [str(command), "--home", str(home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env=offscreen_env(),
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if log.exists():
                with open(log, encoding="utf-8", errors="replace") as handle:
                    handle.seek(seen)
                    match = FIRST_PAINT.search(handle.read())
                if match:
                    return float(match.group(1))
            if proc.poll() is not None:
                raise RuntimeError(f"{command} exited with {proc.returncode} before painting")
            time.sleep(0.05)
        raise RuntimeError(f"{command}: no first paint in the log within 120 s")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def startup(home: Path, runs: int) -> list[str]:
    print(f"\n[1] start-up: time from process start to the first painted window ({runs} run(s))")
    startup_module(home / "startup")  # untimed: creates the home, warms the disk cache
    module = [startup_module(home / "startup") for _ in range(runs)]
    print("  python -m desktop_app --startup-benchmark: " + ", ".join(f"{s:.2f}" for s in module))
    lines = [
        f"B2 first paint (python -m desktop_app) median {C.median(module):.2f} s of {runs} "
        f"(target <= {TARGET_FIRST_PAINT_S:g}) {verdict(C.median(module) <= TARGET_FIRST_PAINT_S)}"
    ]
    command = Path(sys.executable).parent / "trainwright"
    if command.exists():
        runs_cmd = [startup_command(command, home / "startup") for _ in range(runs)]
        print(f"  {command} (from its log): " + ", ".join(f"{s:.2f}" for s in runs_cmd))
        median = C.median(runs_cmd)
        lines.append(
            f"B2 first paint (trainwright command) median {median:.2f} s of {runs} "
            f"(target <= {TARGET_FIRST_PAINT_S:g}) {verdict(median <= TARGET_FIRST_PAINT_S)}"
        )
    else:
        print(f"  {command} not found (package not installed in this environment): skipped")
    return lines


# ---- GUI helpers ---------------------------------------------------------------------------
def spin(predicate, timeout_s: float, what: str) -> None:
    """Run the GUI event loop (a real one: timers fire on time) until predicate() is true."""
    from PySide6.QtCore import QEventLoop, QTimer

    if predicate():
        return
    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(5)

    def check() -> None:
        if predicate() or time.monotonic() > deadline:
            loop.quit()

    poll.timeout.connect(check)
    poll.start()
    loop.exec()
    poll.stop()
    if not predicate():
        raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")


def settle(seconds: float) -> None:
    end = time.monotonic() + seconds
    spin(lambda: time.monotonic() >= end, seconds + 5, "settling")


class LatenessProbe:
    """A 10 ms precise QTimer on the GUI thread; lateness = interval between ticks − 10 ms."""

    def __init__(self, interval_ms: int = TIMER_MS) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1e3
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.samples: list[float] = []
        self.times: list[float] = []  # perf_counter of each tick
        # The GUI thread's own CPU time between ticks (time.thread_time): what it spent working
        # rather than waiting for a core or for the GIL. Minus the interval, it estimates the
        # lateness a machine with a core free for it (and no GIL contention) would show.
        self.cpu: list[float] = []
        self._last = 0.0
        self._last_cpu = 0.0

    def start(self) -> None:
        self.samples = []
        self.times = []
        self.cpu = []
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return self.samples

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.samples.append(max(0.0, now - self._last - self.interval))
        self.times.append(now)
        self.cpu.append(cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu

    def own_work(self) -> list[float]:
        """Per gap, the GUI thread's own CPU time beyond the interval (see `cpu`)."""
        return [max(0.0, c - self.interval) for c in self.cpu]

    def since(self, moment: float) -> list[float]:
        """The lateness of the ticks from `moment` (a perf_counter time) on."""
        return [late for at, late in zip(self.times, self.samples, strict=True) if at >= moment]


class GuiProfile:
    """cProfile of everything the GUI thread runs in Python (its slots) while enabled."""

    def __init__(self, enabled: bool) -> None:
        self.profile = cProfile.Profile() if enabled else None

    def __enter__(self) -> GuiProfile:
        if self.profile:
            self.profile.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.profile:
            self.profile.disable()

    def report(self, title: str, top: int = 25) -> None:
        if not self.profile:
            return
        out = io.StringIO()
        stats = pstats.Stats(self.profile, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        print(f"\n--- cProfile, GUI thread, {title} (by own time) ---")
        print("\n".join(out.getvalue().splitlines()[: top + 12]))


def open_window(home: Path):
    from desktop_app.app import create_application
    from desktop_app.kit.warmup import EngineWarmup
    from desktop_app.main_window import MainWindow
    from engine.workspace import Workspace

    app = create_application()
    PaintClock.install()
    window = MainWindow(Workspace(home))
    window.confirm_close = lambda: True
    window.training_tab.confirm = lambda *args: True
    window.show()
    spin(lambda: window.first_paint_time is not None, 30, "the first paint")
    tab = window.training_tab
    spin(lambda: tab.engine_ready, 120, "the engine warm-up (torch)")
    warmup = EngineWarmup.instance()
    # The warm-up thread goes on to import torch._dynamo: let it finish, as an idle user would.
    spin(lambda: warmup.finished, 120, "the warm-up")
    spin(lambda: tab.results.plots_made, 30, "the plots")
    settle(0.5)  # the app's one collection + gc.freeze() after the warm-up happens meanwhile
    print(
        f"  window open; {gc.get_freeze_count():,} objects frozen for the cyclic garbage "
        "collector after the engine warm-up"
    )
    return app, window


def configure(tab, family: str, domain: dict[str, Any], training: dict[str, Any]):
    assert tab.select_family(family), f"no {family} family"
    for name, value in domain.items():
        tab.domain_form.set_value(name, value)
    for name, value in training.items():
        tab.training_form.set_value(name, value)
    spin(
        lambda: (
            tab.config is not None and tab.config.family == family and tab.start_button.isEnabled()
        ),
        60,
        f"the variant to resolve ({tab.error_text or tab.state})",
    )
    return tab.config


# ---- 1. responsiveness while training ------------------------------------------------------
def workloads(csv_path: Path, quick: bool) -> dict[str, SimpleNamespace]:
    """The two workloads the window trains: (b) the MLP, a step of small kernels with per-step
    Python; (m) modulo addition p = 23, a tiny transformer whose ~10 ms epochs are mostly
    Python (the GIL-heavy case), a chronicle row and a plot point every epoch."""
    epochs_mlp, epochs_mod = (1, 60) if quick else (3, 600)
    return {
        "modulo": SimpleNamespace(
            key="modulo",
            title=f"modulo addition p=23, full batch, {epochs_mod} epochs",
            family="modulo_addition_1layer",
            domain={"prime": 23},
            training={"epochs": epochs_mod},
        ),
        "mlp": SimpleNamespace(
            key="mlp",
            title=f"MLP 2x64 on {csv_path.stem.split('_')[-1]} CSV, batch 32, {epochs_mlp} "
            "epoch(s), log_every=1",
            family="mlp",
            domain={
                "dataset": f"csv:{csv_path}",
                "task_type": "classification",
                "hidden_dim": 64,
                "num_hidden_layers": 2,
                "dropout": 0.0,
                "seed": 0,
            },
            training={"epochs": epochs_mlp, "batch_size": 32, "log_every": 1},
        ),
    }


CHILD_FLUSH_S = 0.05  # the child sends its rows at most 20 times a second, like the worker


def _child_train(
    conn: Any,
    home: str,
    family: str,
    domain: dict[str, Any],
    training: dict[str, Any],
    options: dict[str, Any],
    overwrite: bool,
    stop: Any,
) -> None:
    """In the child process: train the variant with the real engine; send ("start", info),
    ("rows", [row, ...]) at most every CHILD_FLUSH_S, ("warning", text), then ("end", the
    session as JSON) or ("error", traceback)."""
    import traceback

    from engine.training.callbacks import Callback
    from engine.workspace import Workspace

    class Pipe(Callback):
        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []
            self.last = time.monotonic()

        def on_train_start(self, info: dict[str, Any]) -> None:
            conn.send(("start", {k: v for k, v in info.items() if k != "metrics"}))

        def on_log(self, row: dict[str, Any]) -> None:
            self.rows.append(dict(row))
            if time.monotonic() - self.last >= CHILD_FLUSH_S:
                self.flush()

        def on_warning(self, message: str) -> None:
            self.flush()
            conn.send(("warning", message))

        def flush(self) -> None:
            if self.rows:
                conn.send(("rows", self.rows))
                self.rows = []
            self.last = time.monotonic()

    pipe = Pipe()
    try:
        workspace = Workspace(home)
        variant = workspace.create_variant(family, domain, training, **options)
        session = workspace.train(variant, [pipe], stop, overwrite=overwrite)
        pipe.flush()
        conn.send(("end", session.model_dump(mode="json")))
    except BaseException:
        pipe.flush()
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class ChildProcessWorkspace:
    """Prototype, for the bench only: the real workspace, except that `train` runs the engine
    in a child process (multiprocessing spawn) and replays what it reports into the callbacks
    on the calling thread (the TrainingWorker's QThread), which otherwise only waits on the
    pipe (poll releases the GIL). Forwarded: on_train_start, on_log, on_warning and, at the
    end, on_train_end with the child's session; the step, epoch and checkpoint hooks are not
    (no callback the window uses needs them). Stop sets a multiprocessing Event the child's
    trainer watches as its cancel event."""

    def __init__(self, workspace: Any) -> None:
        self._workspace = workspace
        self._asked: dict[str, tuple[str, dict, dict, dict]] = {}
        self.first_message_s: list[float] = []  # spawn -> first message, per run
        self.first_message_at = 0.0  # perf_counter of the last run's first message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._workspace, name)

    def create_variant(
        self, family: str, params: Any = None, training: Any = None, **options: Any
    ) -> Any:
        variant = self._workspace.create_variant(family, params, training, **options)
        self._asked[variant.name] = (family, dict(params or {}), dict(training or {}), options)
        return variant

    def train(
        self, variant: Any, callbacks: Any = None, cancel_event: Any = None, *, overwrite=False
    ) -> Any:
        import multiprocessing

        from engine.training.session import TrainingSession

        family, domain, training, options = self._asked.pop(variant.name)
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        stop = context.Event()
        child = context.Process(
            target=_child_train,
            args=(send, str(self._workspace.home), family, domain, training, options),
            kwargs={"overwrite": overwrite, "stop": stop},
            name=f"train {variant.name}",
            daemon=True,
        )
        callbacks = list(callbacks or [])
        spawned = time.perf_counter()
        child.start()
        send.close()  # the child holds the only writing end: EOF when it ends
        session = None
        try:
            while session is None:
                if cancel_event is not None and cancel_event.is_set():
                    stop.set()
                if not receive.poll(0.05):
                    continue
                try:
                    kind, payload = receive.recv()
                except EOFError:
                    break
                if kind == "start":
                    self.first_message_at = time.perf_counter()
                    self.first_message_s.append(self.first_message_at - spawned)
                    for callback in callbacks:
                        callback.on_train_start(payload)
                elif kind == "rows":
                    for row in payload:
                        for callback in callbacks:
                            callback.on_log(row)
                elif kind == "warning":
                    for callback in callbacks:
                        callback.on_warning(payload)
                elif kind == "end":
                    session = TrainingSession.model_validate(payload)
                elif kind == "error":
                    raise RuntimeError(f"the training process failed:\n{payload}")
        finally:
            receive.close()
            child.join(30)
            if child.is_alive():
                child.terminate()
                child.join()
        if session is None:
            raise RuntimeError(
                f"the training process ended (exit code {child.exitcode}) without a session"
            )
        for callback in callbacks:
            callback.on_train_end(session)
        return session


def responsiveness(
    window, workload: SimpleNamespace, runs: int, profile: bool, where: str
) -> list[str]:
    tab, controller = window.training_tab, window.controller
    config = configure(tab, workload.family, workload.domain, workload.training)
    t = config.training
    print(
        f"  variant {config.variant}: {t.epochs} epochs, batch {t.batch_size}, log_every "
        f"{t.log_every}, threads {t.threads} (0 = engine default), device {t.device}; "
        f"the loop in {'a child process' if where == 'process' else 'the QThread'}"
    )
    batches: list[int] = []
    on_rows = lambda rows: batches.append(len(rows))  # noqa: E731
    probe = LatenessProbe()
    results = []
    owns: list[tuple[float, float]] = []
    gui = GuiProfile(profile)
    ended: list[float] = []

    def on_end(outcome: Any) -> None:
        ended.append(time.perf_counter())

    real_workspace = controller.workspace
    child = ChildProcessWorkspace(real_workspace) if where == "process" else None
    controller.rowsReady.connect(on_rows)
    controller.runEnded.connect(on_end)
    try:
        if child is not None:
            controller.workspace = child  # the RunController hands it to its TrainingWorker
        for run in range(runs):
            batches.clear()
            ended.clear()
            cpu0 = time.process_time()
            with gui:
                probe.start()
                start = time.perf_counter()
                tab.start_button.click()  # what a user's Start does (Retrain after the first)
                spin(lambda: bool(ended) and time.perf_counter() - ended[0] >= 0.2, 600, "the run")
                lateness = probe.stop()
            outcome = controller.last_outcome
            if outcome is None or outcome.status != "completed":
                raise RuntimeError(f"the run did not complete: {outcome}")
            wall = ended[0] - start
            steps = int(outcome.session.get("steps", 0))
            p50, p99, worst = (ms(percentile(lateness, q)) for q in (50, 99, 100))
            own = probe.own_work()
            own_p99, own_max = (ms(percentile(own, q)) for q in (99, 100))
            owns.append((own_p99, own_max))
            rows = sum(batches)
            spawn = ""
            if child is not None and child.first_message_s:
                training = probe.since(child.first_message_at)
                p99_t, worst_t = (ms(percentile(training, q)) for q in (99, 100))
                results.append((p99, worst, p99_t, worst_t))
                spawn = (
                    f"; the child's first message {child.first_message_s[-1]:.2f} s after "
                    f"spawn; from then on {len(training)} ticks, p99 {p99_t:.1f} / max "
                    f"{worst_t:.1f} ms"
                )
            else:
                results.append((p99, worst))
            print(
                f"  run {run + 1}: {wall:.2f} s from Start to the end ({steps} steps, "
                f"{rows} rows in {len(batches)} batches, median {C.median(batches or [0]):.0f} "
                f"rows/batch); {len(lateness)} ticks, lateness p50 {p50:.1f} / p99 {p99:.1f} / "
                f"max {worst:.1f} ms (the GUI thread's own work beyond 10 ms: p99 {own_p99:.1f} / "
                f"max {own_max:.1f}); this process's CPU {time.process_time() - cpu0:.1f} s"
                f"{spawn}"
            )
    finally:
        controller.workspace = real_workspace
        controller.runEnded.disconnect(on_end)
        controller.rowsReady.disconnect(on_rows)
    gui.report(f"training {workload.key} ({where})")
    p99 = C.median([r[0] for r in results])
    worst = C.median([r[1] for r in results])
    runs_text = f"{runs} run{'s' if runs != 1 else ''}"
    p99_runs = ", ".join(f"{r[0]:.0f}" for r in results)
    max_runs = ", ".join(f"{r[1]:.0f}" for r in results)
    loop = "loop in a child process" if where == "process" else "loop in the QThread"
    switch = sys.getswitchinterval()
    gil = f", GIL switch interval {1e3 * switch:g} ms" if abs(switch - 0.005) > 1e-9 else ""
    label = f"[{workload.key}, {loop}, {platform_text()}{gil}]"
    p99_after = f"; GUI thread's own work {C.median([o[0] for o in owns]):.1f}"
    max_after = f"; GUI thread's own work {C.median([o[1] for o in owns]):.1f}"
    if all(len(r) == 4 for r in results):  # the child's: without its spawn (torch's import)
        p99_after += f"; after the spawn {C.median([r[2] for r in results]):.1f}"
        max_after += f"; after the spawn {C.median([r[3] for r in results]):.1f}"
    return [
        f"B2 timer lateness p99 {p99:.1f} ms {label} (median of {runs_text}: {p99_runs}"
        f"{p99_after}; target <= {TARGET_P99_MS:g}) {verdict(p99 <= TARGET_P99_MS)}",
        f"B2 timer lateness max {worst:.1f} ms {label} (median of {runs_text}: {max_runs}"
        f"{max_after}; target <= {TARGET_MAX_MS:g}) {verdict(worst <= TARGET_MAX_MS)}",
    ]


# ---- 2. a large chronicle through the worker path --------------------------------------------
def write_chronicle(path: Path, lines: int, template: dict[str, Any], seed: int = 0) -> None:
    """A seeded chronicle of `lines` epoch-end rows with the fields of `template`."""
    rng = random.Random(seed)
    start = time.time()
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(lines):
            epoch = i + 1
            decay = math.exp(-epoch / (lines / 4))
            loss = 2.0 * decay + 0.02 + 0.05 * rng.random()
            test_loss = 2.2 * decay + 0.05 + 0.08 * rng.random()
            values = {
                "epoch": epoch,
                "step": epoch,
                "loss": loss,
                "lr": 1e-3,
                "grad_norm": 0.5 * decay + 0.1 * rng.random(),
                "timestamp": round(start + 0.003 * i, 3),
                "train_loss": loss,
                "train_accuracy": min(1.0, 1.0 - 0.5 * decay + 0.01 * rng.random()),
                "test_loss": test_loss,
                "test_accuracy": min(1.0, 1.0 - 0.55 * decay + 0.02 * rng.random()),
                "epoch_time": 0.003 + 0.001 * rng.random(),
            }
            row = {key: values.get(key, template[key]) for key in template}
            handle.write(json.dumps(row, separators=(",", ":")) + "\n")


class _FeedSession:
    def __init__(self, variant: Any, rows: int, seconds: float) -> None:
        self.status = "completed"
        self.error_message = None
        self.variant, self.family = variant.name, variant.family
        self.final_metrics: dict[str, Any] = {}
        self._summary = {
            "status": "completed",
            "epochs_completed": rows,
            "total_epochs": rows,
            "steps": rows,
            "duration_s": seconds,
        }

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return dict(self._summary)


class _FeedTrainer:
    """Stands in for the engine's Trainer: streams chronicle lines into the callbacks."""

    def __init__(self, feed: ChronicleFeed, callbacks: list[Any], cancel: threading.Event):
        self.feed, self.callbacks, self.cancel = feed, callbacks, cancel

    def train(self, overwrite: bool = False) -> _FeedSession:
        feed = self.feed
        info = {
            "variant": feed.variant.name,
            "family": feed.variant.family,
            "total_epochs": feed.lines,
            "start_epoch": 0,
            "steps_per_epoch": 1,
            "resumed": False,
            "metrics": [],
        }
        for cb in self.callbacks:
            cb.on_train_start(info)
        started = time.perf_counter()
        # The engine's rows share their key strings (literals in its code); json.loads makes
        # new ones for every line, which would count ~0.6 KB a row that a real run never holds.
        keys: dict[str, str] = {}
        stops = dict(feed.stops)
        tail_started = 0.0
        with open(feed.path, "rb") as handle:  # streamed: no copy of the file in memory
            for i, line in enumerate(handle):
                if self.cancel.is_set():
                    break
                if i in stops:
                    stops[i].wait(600)  # the GUI measures here, then lets the feed go on
                    if i == feed.tail_start:
                        tail_started = time.perf_counter()
                if i >= feed.tail_start and (i - feed.tail_start) % 10 == 0:
                    due = tail_started + (i - feed.tail_start) / TAIL_ROWS_PER_S
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                row = {keys.setdefault(k, k): v for k, v in json.loads(line).items()}
                for cb in self.callbacks:
                    cb.on_log(row)
        return _FeedSession(feed.variant, feed.lines, time.perf_counter() - started)


class ChronicleFeed:
    """A workspace stand-in for the RunController (which runs every request as a job of the
    store in `home`): its 'training' replays a chronicle file, pausing before the lines in
    `stops` until the GUI has measured and lets it go on."""

    def __init__(
        self, home: Path, path: Path, lines: int, stops: list[int], tail_start: int, variant: Any
    ):
        self.home = home
        self.path, self.lines, self.tail_start = path, lines, tail_start
        self.stops = [(i, threading.Event()) for i in stops]
        self.variant = variant

    def release(self) -> None:
        for _, event in self.stops:
            event.set()

    def create_variant(self, family: str, domain: Any, training: Any) -> Any:
        return self.variant

    def trainer(self, variant: Any, callbacks: list[Any], cancel_event: threading.Event):
        return _FeedTrainer(self, callbacks, cancel_event)

    def train(
        self, variant: Any, callbacks: list[Any], cancel_event: threading.Event, **kwargs: Any
    ) -> _FeedSession:
        return self.trainer(variant, callbacks, cancel_event).train()


class PaintClock:
    """Times pyqtgraph views' paint events. Installed before any plot exists: PySide looks up
    a Python override of a virtual method when it wraps the object, so patching later misses."""

    hook: Any = None

    @classmethod
    def install(cls) -> None:
        import pyqtgraph as pg

        original = pg.GraphicsView.paintEvent

        def paint_event(view: Any, event: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(view, event)
            finally:
                if cls.hook is not None:
                    cls.hook(view, time.perf_counter() - start)

        pg.GraphicsView.paintEvent = paint_event


class FrameTimer:
    """Takes the plots' 25 Hz redraw timer and times each frame: `redraw()` itself, then the
    paint. Frames alternate between two ways of timing the paint: `grab()` of the three plots
    right after the redraw (everything painted, static parts included: an upper bound), and
    the paint the event loop then does by itself (the plots' views' paint events, summed)."""

    def __init__(self, plots: Any) -> None:
        self.plots = plots
        self.frames: list[tuple[int, float, float, str]] = []  # points, redraw s, paint s, how
        self._open: tuple[int, float] | None = None  # a "natural" frame collecting its paints
        self._painted = 0.0
        self._grabbing = False
        self._original_paint: Any = None

    def install(self) -> None:
        views = {id(view) for view in self.plots.plots}

        def painted(view: Any, seconds: float) -> None:
            if self._open is not None and not self._grabbing and id(view) in views:
                self._painted += seconds

        PaintClock.hook = painted
        self.plots._timer.timeout.disconnect(self.plots.redraw)
        self.plots._timer.timeout.connect(self.frame)

    def uninstall(self) -> None:
        self._close()
        PaintClock.hook = None
        self.plots._timer.timeout.disconnect(self.frame)
        self.plots._timer.timeout.connect(self.plots.redraw)

    def _close(self) -> None:
        if self._open is not None:
            points, redraw = self._open
            self.frames.append((points, redraw, self._painted, "natural"))
            self._open = None

    def frame(self) -> None:
        self._close()
        plots = self.plots
        dirty = any(s.dirty for s in plots.series.values())
        t0 = time.perf_counter()
        plots.redraw()
        t1 = time.perf_counter()
        if not dirty:
            return  # the timer stops itself: nothing new, no frame
        if len(self.frames) % 2 == 0:
            self._grabbing = True
            plots.grab()
            self._grabbing = False
            self.frames.append((plots.point_count(), t1 - t0, time.perf_counter() - t1, "grab"))
        else:
            self._open, self._painted = (plots.point_count(), t1 - t0), 0.0


def rows_size_mb(rows: list[dict[str, Any]], sample: int = 2000) -> float:
    """Python size of the row dicts and their values (keys are shared), from a sample."""
    if not rows:
        return 0.0
    step = max(1, len(rows) // sample)
    picked = rows[::step]
    size = sum(
        sys.getsizeof(row) + sum(sys.getsizeof(v) for v in row.values() if v is not None)
        for row in picked
    )
    return size / len(picked) * len(rows) / 2**20


def describe_frames(frames: list[tuple[int, float, float, str]], label: str) -> dict:
    """Print the frames' figures; returns the medians (ms) by name."""
    redraw = [ms(f[1]) for f in frames]
    out = {"redraw": C.median(redraw), "frames": len(frames)}
    parts = [f"redraw median {out['redraw']:.2f} / max {max(redraw):.2f} ms"]
    for how, what in (("grab", "grab()"), ("natural", "by the event loop")):
        chosen = [f for f in frames if f[3] == how]
        if not chosen:
            continue
        paint = [ms(f[2]) for f in chosen]
        total = [ms(f[1] + f[2]) for f in chosen]
        out[how] = C.median(paint)
        out[how + "_total"] = C.median(total)
        out[how + "_p90"] = percentile(total, 90)
        parts.append(
            f"paint {what} median {C.median(paint):.2f} / max {max(paint):.2f} ms, redraw + "
            f"paint median {C.median(total):.2f} / p90 {percentile(total, 90):.2f} ms "
            f"({len(chosen)} frames)"
        )
    print(f"  {label}, {len(frames)} frames: " + "; ".join(parts))
    return out


def chronicle_feed(window, home: Path, lines: int, profile: bool) -> list[str]:
    from desktop_app.training.run_queue import RunRequest
    from engine.training.chronicle import is_epoch_end

    tab, controller = window.training_tab, window.controller
    config = tab.config
    real_rows = [r for r in tab.chronicle_model.rows() if is_epoch_end(r)]
    template = dict(real_rows[-1]) if real_rows else {}
    template.pop("warning", None)
    path = home / "chronicle-feed.jsonl"
    write_chronicle(path, lines, template or {k: 0 for k in ("epoch", "step", "loss")})
    size_mb = path.stat().st_size / 2**20
    print(
        f"  {lines:,} lines ({size_mb:.1f} MB of JSON), every one an epoch-end row: "
        + ", ".join(template)
    )

    tail = max(1, int(lines * TAIL_FRACTION))
    tail_start = lines - tail
    quarters = [lines * q // 4 for q in (1, 2, 3)]
    stops = sorted({*quarters, tail_start})
    variant = SimpleNamespace(
        name=config.variant,
        family=config.family,
        chronicle_path=path,
        metadata_path=home / "chronicle-feed-metadata.json",  # none: the job reads no attempts
    )
    feed = ChronicleFeed(home, path, lines, stops, tail_start, variant)
    real_workspace = controller.workspace
    controller.workspace = feed  # the RunController hands it to a real TrainingWorker
    frames = FrameTimer(tab.plots)
    batches: list[int] = []
    marks: list[tuple[int, float]] = []
    ended: list[float] = []

    def on_rows(rows: list[dict[str, Any]]) -> None:
        batches.append(len(rows))

    on_end = lambda outcome: ended.append(time.perf_counter())  # noqa: E731
    probe = LatenessProbe()
    gui = GuiProfile(profile)

    def taken() -> int:  # rows the GUI has, plus those waiting in the worker's buffer
        worker = controller.active.task
        return tab.chronicle_model.rowCount() + (len(worker.buffer) if worker else 0)

    try:
        controller.rowsReady.connect(on_rows)
        controller.runEnded.connect(on_end)
        tab.chronicle_model.clear()
        tab.plots.clear()
        tab.plots.redraw()
        settle(0.2)
        gc.collect()
        before = rss_mb()
        frames.install()
        started = time.perf_counter()
        # Parameters, not the config: the feed stands in for the workspace and "creates" it.
        request = RunRequest(
            "retrain",
            config.variant,
            config.family,
            domain=dict(config.domain),
            training=config.training.model_dump(),
        )
        with gui:
            assert tab.submit(request)
            for stop, event in feed.stops:
                spin(lambda stop=stop: taken() >= stop, 600, f"{stop:,} rows")
                if stop in quarters:
                    gc.collect()
                    marks.append((stop, rss_mb()))
                if stop == tail_start:
                    fast_s = time.perf_counter() - started
                    first_tail_frame = len(frames.frames)
                    probe.start()
                event.set()
            spin(lambda: bool(ended), 600, "the end of the feed")
            lateness = probe.stop()
        total_s = ended[0] - started
    finally:
        feed.release()
        controller.workspace = real_workspace
        controller.runEnded.disconnect(on_end)
        controller.rowsReady.disconnect(on_rows)
        frames.uninstall()
    settle(0.3)
    gc.collect()
    after = rss_mb()
    rows = tab.chronicle_model.rowCount()
    points = tab.plots.point_count()
    if rows != lines or points != lines:
        raise RuntimeError(f"fed {lines} lines; the table has {rows} rows, the plots {points}")
    gui.report("feeding the chronicle")

    print(
        f"  fed in {total_s:.1f} s through a TrainingWorker: the first {tail_start:,} lines as "
        f"fast as it batches them ({fast_s:.1f} s, pausing at each quarter to read the RSS), "
        f"the last {tail:,} at {TAIL_ROWS_PER_S:,.0f} rows/s; {len(batches)} batches (median "
        f"{C.median(batches):.0f}, max {max(batches)} rows)"
    )
    print(
        f"  10 ms timer during the last {tail:,} lines: {len(lateness)} ticks, lateness p50 "
        f"{ms(percentile(lateness, 50)):.1f} / p99 {ms(percentile(lateness, 99)):.1f} / max "
        f"{ms(percentile(lateness, 100)):.1f} ms (for information)"
    )
    fast_frames = frames.frames[:first_tail_frame]
    edges = [0, lines // 10, lines // 2, tail_start]
    for low, high in itertools.pairwise(edges):
        bucket = [f for f in fast_frames if low <= f[0] < high]
        if bucket:
            describe_frames(bucket, f"frames at {low:,}..{high:,} points (fast part)")
    top = frames.frames[first_tail_frame:]
    if not any(f[3] == "grab" for f in top):
        raise RuntimeError("no frame was drawn during the paced tail")
    tail_figures = describe_frames(
        top, f"frames at {tail_start:,}..{lines:,} points (the paced tail)"
    )
    grabs = []
    for _ in range(10):
        t0 = time.perf_counter()
        tab.plots.grab()
        grabs.append(ms(time.perf_counter() - t0))
    print(
        f"  paint (grab) of the plots once the run has ended (nothing new to lay out): "
        f"median {C.median(grabs):.2f} ms of 10"
    )

    growth = after - before
    per_100k = growth / lines * 100_000
    steps = [(0, before), *marks, (lines, after)]
    print(
        "  RSS: "
        + "; ".join(
            f"{count:,} rows {value:.1f} MB" + (f" (+{value - before:.1f})" if count else "")
            for count, value in steps
        )
    )
    per_quarter = [(b[1] - a[1]) / (b[0] - a[0]) * 100_000 for a, b in itertools.pairwise(steps)]
    half = next(value for count, value in marks if count == lines // 2)
    first, second = half - before, after - half
    ratio = second / first if first > 0 else float("nan")
    low, high = PROPORTIONAL
    proportional = low <= ratio <= high
    held = rows_size_mb(tab.chronicle_model.rows())
    arrays = sum((s.x.capacity + s.y.capacity) * 8 for s in tab.plots.series.values()) / 2**20
    print(
        "  growth per quarter, in MB per 100,000 rows: "
        + ", ".join(f"{v:.1f}" for v in per_quarter)
        + f"; second half / first half = {ratio:.2f}"
    )
    print(
        f"  growth {growth:.1f} MB = {1e3 * growth / lines:.2f} KB a row ({growth / size_mb:.1f}x "
        f"the JSON); of which the table's row dicts {held:.1f} MB, the plots' arrays "
        f"{arrays:.1f} MB (capacity), the rest Qt, pyqtgraph and the allocator"
    )
    frame_ms = tail_figures["grab_total"]
    natural = (
        f"; with the event loop's own paint {tail_figures['natural_total']:.2f}"
        if "natural_total" in tail_figures
        else ""
    )
    return [
        f"B2 plot frame (redraw + grab) at {tail_start:,}..{lines:,} points median "
        f"{frame_ms:.2f} ms (redraw {tail_figures['redraw']:.2f} + paint "
        f"{tail_figures['grab']:.2f}; p90 {tail_figures['grab_p90']:.2f}{natural}; target <= "
        f"{TARGET_FRAME_MS:g}) {verdict(frame_ms <= TARGET_FRAME_MS)}",
        f"B2 memory growth {per_100k:.1f} MB per 100,000 rows (RSS +{growth:.1f} MB for "
        f"{lines:,}; second half / first half {ratio:.2f}, target {low:g}..{high:g} = "
        f"proportional) {verdict(proportional)}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small runs (CI smoke test)")
    parser.add_argument("--runs", type=int, default=None, help="training runs (default 5)")
    parser.add_argument("--lines", type=int, default=None, help="chronicle lines (100,000)")
    parser.add_argument("--startups", type=int, default=None, help="start-up runs (default 5)")
    parser.add_argument("--profile", action="store_true", help="cProfile the GUI thread")
    parser.add_argument(
        "--parts",
        default="startup,training,chronicle",
        help="which parts to measure (comma-separated; default all three)",
    )
    parser.add_argument(
        "--workloads", default="modulo,mlp", help="what the window trains (default modulo,mlp)"
    )
    parser.add_argument(
        "--training-in",
        default="thread,process",
        help="where the training loop runs: thread (the app's QThread), process (a child "
        "process, the prototype); default both",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval in ms for this process (Python's default 5): how long the "
        "training thread may keep the GIL while the GUI thread waits for it",
    )
    parser.add_argument(
        "--display",
        default=None,
        help="a real X11 window on this display (e.g. :94; Xvfb is started there if no "
        "server answers); default offscreen, or DISPLAY when set (not in --quick)",
    )
    args = parser.parse_args(argv)
    parts = {part.strip() for part in args.parts.split(",")}
    unknown = parts - {"startup", "training", "chronicle"}
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    chosen = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if not chosen or set(chosen) - {"modulo", "mlp"}:
        parser.error("--workloads takes modulo, mlp or both")
    places = [w.strip() for w in args.training_in.split(",") if w.strip()]
    if not places or set(places) - {"thread", "process"}:
        parser.error("--training-in takes thread, process or both")
    quick = args.quick
    runs = args.runs or (1 if quick else 5)
    lines = args.lines or (10_000 if quick else 100_000)
    startups = args.startups or (1 if quick else 5)
    csv_rows = 2000 if quick else 10_000
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval / 1e3)
    xvfb = choose_platform(args.display, quick)
    try:
        summary = measure(args, parts, chosen, places, quick, runs, lines, startups, csv_rows)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    if quick:  # small samples: the lines are printed for the test, not to be read as figures
        summary = [line + " [quick mode: indicative only]" for line in summary]
    print("\n".join(summary))
    return 0


def measure(
    args: argparse.Namespace,
    parts: set[str],
    chosen: list[str],
    places: list[str],
    quick: bool,
    runs: int,
    lines: int,
    startups: int,
    csv_rows: int,
) -> list[str]:
    print(f"B2 GUI responsiveness and memory on {C.machine()}")
    print(
        f"load average {C.load_average()}; QT_QPA_PLATFORM={platform_text()}; "
        f"{'quick' if quick else 'full'} mode; GIL switch interval "
        f"{1e3 * sys.getswitchinterval():g} ms"
    )
    summary: list[str] = []
    with C.temp_home() as home:
        if "startup" in parts:
            summary += startup(home, startups)
        if parts & {"training", "chronicle"}:
            csv_path = home / f"synthetic_{csv_rows}x20.csv"
            C.write_classification_csv(csv_path, rows=csv_rows)
            app, window = open_window(home / "home")
            try:
                known = workloads(csv_path, quick)
                # The chronicle part needs a trained variant (its fields, its name): the MLP,
                # trained last, as in the figures before the modulo workload was added.
                if "training" in parts:
                    for key in chosen:
                        for where in places:
                            print(
                                f"\n[2] responsiveness: {known[key].title}, {runs} run(s) "
                                f"started with Start, the loop in "
                                f"{'a child process' if where == 'process' else 'the QThread'}"
                                f" (load average {C.load_average()})"
                            )
                            summary += responsiveness(window, known[key], runs, args.profile, where)
                if "chronicle" in parts:
                    if "training" not in parts or chosen[-1] != "mlp":
                        print(f"\n[2] one untimed run of {known['mlp'].title}")
                        responsiveness(window, known["mlp"], 1, False, "thread")
                    print(
                        f"\n[3] a {lines:,}-line chronicle through the worker into the table "
                        f"and plots (load average {C.load_average()})"
                    )
                    summary += chronicle_feed(window, home, lines, args.profile)
            finally:
                window.close()
                window.controller.shutdown()
                window.deleteLater()
                settle(0.1)
                del app
    print(f"\nload average at the end {C.load_average()}")
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
