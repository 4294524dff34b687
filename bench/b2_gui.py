"""B2 — GUI responsiveness and memory: the main window while it trains, a 100,000-line
chronicle in the plots and table, and the time to the first painted window.

1. Responsiveness. The main window (QT_QPA_PLATFORM=offscreen unless set) trains workload (b),
   the 2×64 MLP on a seeded 10,000 × 20 CSV, batch 32, 3 epochs, log_every=1 (a chronicle row
   per step), started with the Training tab's Start button as a user would. Meanwhile a 10 ms
   precise QTimer on the GUI thread records how late each tick fires (interval − 10 ms, from
   the click until the run has ended). Repeated (Retrain); the figures are medians over runs.
2. A 100,000-line chronicle. A seeded chronicle.jsonl whose every line is an epoch-end row
   (full-batch training, as in workload (a): one point per line in every curve, the plots'
   worst case; fields as in the run above) is streamed through the real TrainingWorker and
   RunController (the worker's own ≤ 20 Hz batching) into the Training tab's table and plots.
   The first 95 % arrive as fast as the worker can batch them, the last 5 % at 2,000 rows/s
   (a fast run). Each frame of the plots' 25 Hz redraw timer is timed: `redraw()` itself, then
   the paint (`grab()` of the three plots). RSS (psutil) before, at each quarter and after.
3. Start-up: `python -m desktop_app --startup-benchmark` (time from process start to the first
   painted window), and the `trainwright` command itself (same figure, read from its log).

    .venv/bin/python bench/b2_gui.py            # ~3 min
    .venv/bin/python bench/b2_gui.py --quick    # ~30 s: keeps the script working (CI)
    .venv/bin/python bench/b2_gui.py --profile  # adds a cProfile of the GUI thread per phase
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
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

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

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


# ---- start-up (subprocesses, before this process opens a window) ----------------------------
def offscreen_env() -> dict[str, str]:
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
        raise RuntimeError(f"--startup-benchmark failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
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
    print(f"\n[3] start-up: time from process start to the first painted window ({runs} runs)")
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
        self._last = 0.0

    def start(self) -> None:
        self.samples = []
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return self.samples

    def _tick(self) -> None:
        now = time.perf_counter()
        self.samples.append(max(0.0, now - self._last - self.interval))
        self._last = now


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
        print("\n".join(out.getvalue().splitlines()[:top + 12]))


def open_window(home: Path):
    from desktop_app.app import create_application
    from desktop_app.main_window import MainWindow
    from desktop_app.workers import EngineWarmup
    from engine.workspace import Workspace

    app = create_application()
    window = MainWindow(Workspace(home))
    window.confirm_close = lambda: True
    window.training_tab.confirm = lambda *args: True
    window.show()
    spin(lambda: window.first_paint_time is not None, 30, "the first paint")
    tab = window.training_tab
    spin(lambda: tab.engine_ready, 120, "the engine warm-up (torch)")
    warmup = EngineWarmup.instance()
    # The warm-up thread goes on to import torch._dynamo: let it finish, as an idle user would.
    spin(lambda: warmup._thread is None or not warmup._thread.is_alive(), 120, "the warm-up")
    spin(lambda: tab._plots is not None, 30, "the plots")
    settle(0.3)
    return app, window


def configure(tab, domain: dict[str, Any], training: dict[str, Any]):
    assert tab.select_family("mlp"), "no mlp family"
    for name, value in domain.items():
        tab.domain_form.set_value(name, value)
    for name, value in training.items():
        tab.training_form.set_value(name, value)
    spin(
        lambda: tab.config is not None and tab.start_button.isEnabled(),
        60,
        f"the variant to resolve ({tab.error_text or tab.state})",
    )
    return tab.config


# ---- 1. responsiveness while training workload (b) -----------------------------------------
def responsiveness(window, csv_path: Path, epochs: int, runs: int, profile: bool):
    tab, controller = window.training_tab, window.controller
    domain = {
        "dataset": f"csv:{csv_path}",
        "task_type": "classification",
        "hidden_dim": 64,
        "num_hidden_layers": 2,
        "dropout": 0.0,
        "seed": 0,
    }
    training = {"epochs": epochs, "batch_size": 32, "log_every": 1}
    config = configure(tab, domain, training)
    t = config.training
    print(
        f"  variant {config.variant}: {epochs} epochs, batch {t.batch_size}, log_every "
        f"{t.log_every}, threads {t.threads} (0 = engine default), device {t.device}"
    )
    batches: list[int] = []
    controller.rowsReady.connect(lambda rows: batches.append(len(rows)))
    probe = LatenessProbe()
    results = []
    gui = GuiProfile(profile)
    for run in range(runs):
        batches.clear()
        ended: list[float] = []
        on_end = lambda outcome: ended.append(time.perf_counter())  # noqa: E731
        controller.runEnded.connect(on_end)
        cpu0 = time.process_time()
        with gui:
            probe.start()
            start = time.perf_counter()
            tab.start_button.click()  # what a user's Start does (Retrain after the first run)
            spin(lambda: bool(ended) and time.perf_counter() - ended[0] >= 0.2, 600, "the run")
            lateness = probe.stop()
        controller.runEnded.disconnect(on_end)
        outcome = controller.last_outcome
        if outcome is None or outcome.status != "completed":
            raise RuntimeError(f"the run did not complete: {outcome}")
        wall = ended[0] - start
        steps = int(outcome.session.get("steps", 0))
        p50, p99, worst = (ms(percentile(lateness, q)) for q in (50, 99, 100))
        rows = sum(batches)
        results.append((p99, worst))
        print(
            f"  run {run + 1}: {wall:.2f} s from Start to the end ({steps} steps, "
            f"{rows} rows in {len(batches)} batches, median {C.median(batches or [0]):.0f} "
            f"rows/batch); {len(lateness)} ticks, lateness p50 {p50:.1f} / p99 {p99:.1f} / "
            f"max {worst:.1f} ms; process CPU {time.process_time() - cpu0:.1f} s"
        )
    gui.report("training workload (b)")
    p99 = C.median([r[0] for r in results])
    worst = C.median([r[1] for r in results])
    return [
        f"B2 timer lateness p99 {p99:.1f} ms (median of {runs} runs; target <= "
        f"{TARGET_P99_MS:g}) {verdict(p99 <= TARGET_P99_MS)}",
        f"B2 timer lateness max {worst:.1f} ms (median of {runs} runs; target <= "
        f"{TARGET_MAX_MS:g}) {verdict(worst <= TARGET_MAX_MS)}",
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
    def __init__(self, rows: int, seconds: float) -> None:
        self.status = "completed"
        self.error_message = None
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
        fast = feed.lines - feed.tail
        tail_started = 0.0
        with open(feed.path, "rb") as handle:  # streamed: no copy of the file in memory
            for i, line in enumerate(handle):
                if self.cancel.is_set():
                    break
                if i == fast:
                    feed.fast_done.wait(600)  # until the GUI has taken the fast part
                    tail_started = time.perf_counter()
                if i >= fast and (i - fast) % 10 == 0:
                    due = tail_started + (i - fast) / TAIL_ROWS_PER_S
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                row = json.loads(line)
                for cb in self.callbacks:
                    cb.on_log(row)
        return _FeedSession(feed.lines, time.perf_counter() - started)


class ChronicleFeed:
    """A workspace stand-in for the RunController: its 'trainer' replays a chronicle file."""

    def __init__(self, path: Path, lines: int, tail: int, variant: Any) -> None:
        self.path, self.lines, self.tail = path, lines, tail
        self.variant = variant
        self.fast_done = threading.Event()

    def create_variant(self, family: str, domain: Any, training: Any) -> Any:
        return self.variant

    def trainer(self, variant: Any, callbacks: list[Any], cancel_event: threading.Event):
        return _FeedTrainer(self, callbacks, cancel_event)


class FrameTimer:
    """Takes the plots' 25 Hz redraw timer: each frame times redraw(), then the paint (grab)."""

    def __init__(self, plots: Any) -> None:
        self.plots = plots
        self.frames: list[tuple[int, float, float]] = []  # points, redraw s, paint s

    def install(self) -> None:
        self.plots._timer.timeout.disconnect(self.plots.redraw)
        self.plots._timer.timeout.connect(self.frame)

    def uninstall(self) -> None:
        self.plots._timer.timeout.disconnect(self.frame)
        self.plots._timer.timeout.connect(self.plots.redraw)

    def frame(self) -> None:
        plots = self.plots
        dirty = any(s.dirty for s in plots.series.values())
        t0 = time.perf_counter()
        plots.redraw()
        t1 = time.perf_counter()
        if not dirty:
            return  # the timer stops itself: nothing new, no frame
        plots.grab()
        t2 = time.perf_counter()
        self.frames.append((plots.point_count(), t1 - t0, t2 - t1))


def chronicle_feed(window, home: Path, lines: int, profile: bool) -> list[str]:
    from desktop_app.run_queue import RunRequest

    tab, controller = window.training_tab, window.controller
    config = tab.config
    real_rows = [r for r in tab.chronicle_model.rows() if "train_loss" in r]
    template = dict(real_rows[-1]) if real_rows else {}
    template.pop("warning", None)
    path = home / "chronicle-feed.jsonl"
    write_chronicle(path, lines, template or {k: 0 for k in ("epoch", "step", "loss")})
    size_mb = path.stat().st_size / 2**20
    fields = ", ".join(template)
    print(f"  {lines:,} lines ({size_mb:.1f} MB of JSON), every one an epoch-end row: {fields}")

    tail = max(1, int(lines * TAIL_FRACTION))
    variant = SimpleNamespace(name=config.variant, family=config.family, chronicle_path=path)
    feed = ChronicleFeed(path, lines, tail, variant)
    real_workspace = controller.workspace
    controller.workspace = feed  # the RunController hands it to a real TrainingWorker
    frames = FrameTimer(tab.plots)
    frames.install()
    batches: list[int] = []
    marks: list[tuple[int, float]] = []
    quarters = [lines * q // 4 for q in (1, 2, 3)]

    def on_rows(rows: list[dict[str, Any]]) -> None:  # after the tab's own slot
        batches.append(len(rows))
        count = tab.chronicle_model.rowCount()
        while quarters and count >= quarters[0]:
            quarters.pop(0)
            marks.append((count, rss_mb()))

    ended: list[float] = []
    on_end = lambda outcome: ended.append(time.perf_counter())  # noqa: E731
    probe = LatenessProbe()
    gui = GuiProfile(profile)
    try:
        controller.rowsReady.connect(on_rows)
        controller.runEnded.connect(on_end)
        tab.chronicle_model.clear()
        tab.plots.clear()
        tab.plots.redraw()
        settle(0.2)
        gc.collect()
        before = rss_mb()
        with gui:
            probe.start()
            started = time.perf_counter()
            request = RunRequest(
                mode="retrain",
                variant=config.variant,
                family=config.family,
                domain=dict(config.domain),
                training=config.training.model_dump(),
            )
            assert tab.submit(request)
            fast = lines - tail
            # The worker keeps what arrived since its last flush (< 50 ms) until the next row.
            spin(
                lambda: controller._worker is not None
                and tab.chronicle_model.rowCount() + len(controller._worker.buffer) >= fast,
                600,
                "the fast part",
            )
            fast_s = time.perf_counter() - started
            feed.fast_done.set()
            spin(lambda: bool(ended), 600, "the end of the feed")
            lateness = probe.stop()
        total_s = ended[0] - started
    finally:
        feed.fast_done.set()
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
        f"  fed in {total_s:.1f} s ({fast_s:.1f} s for the first {lines - tail:,} at full "
        f"speed, then {tail:,} at {TAIL_ROWS_PER_S:,.0f} rows/s) in {len(batches)} batches "
        f"(median {C.median(batches):.0f}, max {max(batches)} rows)"
    )
    print(
        f"  10 ms timer meanwhile: {len(lateness)} ticks, lateness p50 "
        f"{ms(percentile(lateness, 50)):.1f} / p99 {ms(percentile(lateness, 99)):.1f} / max "
        f"{ms(percentile(lateness, 100)):.1f} ms (no target: the fast part is a flood)"
    )

    # Frames: all of them by size, and the ones at >= 95 % of the lines (the paced tail).
    def describe(selected: list[tuple[int, float, float]], label: str) -> tuple[float, ...]:
        redraw = [ms(f[1]) for f in selected]
        paint = [ms(f[2]) for f in selected]
        total = [ms(f[1] + f[2]) for f in selected]
        print(
            f"  {label}: {len(selected)} frames; redraw median {C.median(redraw):.2f} / max "
            f"{max(redraw):.2f} ms; paint (grab) median {C.median(paint):.2f} / max "
            f"{max(paint):.2f} ms; redraw + paint median {C.median(total):.2f} / p90 "
            f"{percentile(total, 90):.2f} / max {max(total):.2f} ms"
        )
        return C.median(redraw), C.median(paint), C.median(total), percentile(total, 90)

    if frames.frames:
        describe(frames.frames, "all frames during the feed")
    top = [f for f in frames.frames if f[0] >= lines - tail]
    if not top:
        raise RuntimeError("no frame was drawn in the paced tail")
    redraw_med, paint_med, total_med, total_p90 = describe(
        top, f"frames at {lines - tail:,}..{lines:,} points"
    )
    # A grab() of the finished plots: the paint with nothing else going on.
    grabs = []
    for _ in range(10):
        t0 = time.perf_counter()
        tab.plots.grab()
        grabs.append(ms(time.perf_counter() - t0))
    print(f"  paint (grab) of the finished plots: median {C.median(grabs):.2f} ms of 10")

    print(f"  RSS before {before:.1f} MB; " + "; ".join(
        f"at {count:,} rows {value:.1f} MB (+{value - before:.1f})" for count, value in marks
    ) + f"; after {after:.1f} MB (+{after - before:.1f})")
    growth = after - before
    per_100k = growth / lines * 100_000
    half = next((value for count, value in marks if count >= lines // 2), None)
    if half is not None and half - before > 0:
        ratio = (after - half) / (half - before)
    else:
        ratio = float("nan")
    low, high = PROPORTIONAL
    proportional = low <= ratio <= high
    print(
        f"  growth {growth:.1f} MB for {lines:,} rows = {1e3 * growth / lines:.2f} KB/row "
        f"({growth / size_mb:.1f}x the JSON); second half / first half = {ratio:.2f}"
    )
    frame_label = f"{lines:,}"
    return [
        f"B2 plot frame (redraw + paint) at {frame_label} points median {total_med:.2f} ms "
        f"(redraw {redraw_med:.2f} + paint {paint_med:.2f}; p90 {total_p90:.2f}; target <= "
        f"{TARGET_FRAME_MS:g}) {verdict(total_med <= TARGET_FRAME_MS)}",
        f"B2 memory growth {per_100k:.1f} MB per 100,000 rows (RSS +{growth:.1f} MB for "
        f"{lines:,}; second half / first half {ratio:.2f}, target {low:g}..{high:g} = "
        f"proportional) {verdict(proportional)}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small runs (CI smoke test)")
    parser.add_argument("--runs", type=int, default=None, help="training runs (default 3)")
    parser.add_argument("--lines", type=int, default=None, help="chronicle lines (100,000)")
    parser.add_argument("--startups", type=int, default=None, help="start-up runs (default 5)")
    parser.add_argument("--profile", action="store_true", help="cProfile the GUI thread")
    args = parser.parse_args(argv)
    quick = args.quick
    runs = args.runs or (1 if quick else 3)
    lines = args.lines or (10_000 if quick else 100_000)
    startups = args.startups or (1 if quick else 5)
    epochs, csv_rows = (1, 2000) if quick else (3, 10_000)

    print(f"B2 GUI responsiveness and memory on {C.machine()}")
    print(
        f"load average {C.load_average()}; QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}; "
        f"{'quick' if quick else 'full'} mode"
    )
    summary: list[str] = []
    with C.temp_home() as home:
        summary += startup(home, startups)
        csv_path = home / f"synthetic_{csv_rows}x20.csv"
        C.write_classification_csv(csv_path, rows=csv_rows)
        app, window = open_window(home / "home")
        try:
            print(
                f"\n[1] responsiveness: MLP 2x64 on {csv_rows:,} x 20 CSV, batch 32, {epochs} "
                f"epoch(s), log_every=1, {runs} run(s) started with Start"
            )
            summary += responsiveness(window, csv_path, epochs, runs, args.profile)
            print(f"\n[2] a {lines:,}-line chronicle through the worker into the table and plots")
            summary += chronicle_feed(window, home, lines, args.profile)
        finally:
            window.close()
            window.controller.shutdown()
            window.deleteLater()
            settle(0.1)
            del app
    print(f"\nload average at the end {C.load_average()}")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
