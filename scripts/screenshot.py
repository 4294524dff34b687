"""Write fresh screenshots of every tab, mid-run, for the docs:

    docs/screenshots/training.png   Training: modular addition p = 23 training, live curves
    docs/screenshots/analysis.png   Analysis: the Classification page of an image_classifier run
    docs/screenshots/sweeps.png     Sweeps: a small MLP sweep, mid-sweep
    docs/screenshots/datasets.png   Datasets: the shapes images, previewed
    docs/screenshots/jobs.png       Jobs: the history of those runs
    docs/screenshots/models.png     Models: the image classifier published, tried on images
    docs/screenshot.png             the Training one again (the README shows it)

    .venv/bin/python scripts/screenshot.py [--display :94] [--output-dir docs]

A real X11 window when a display is there: `--display :N` (Xvfb is started there if no
server answers), else DISPLAY, else an Xvfb this script starts on a free display and stops at
the end; captured as X shows it (ImageMagick's `import -window <id>`). Without Xvfb, offscreen
(QT_QPA_PLATFORM=offscreen) and captured with QWidget.grab(). A temporary data home; nothing
of yours is read or written. Takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ---- the display ---------------------------------------------------------------------------
def _x_answers(display: str) -> bool:
    if shutil.which("xdpyinfo"):
        done = subprocess.run(
            ["xdpyinfo", "-display", display],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return done.returncode == 0
    return Path(f"/tmp/.X11-unix/X{display.lstrip(':').split('.')[0]}").exists()


def _start_xvfb(display: str, width: int, height: int) -> subprocess.Popen:
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while not _x_answers(display):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"Xvfb did not start on {display}")
        time.sleep(0.1)
    return server


def choose_display(asked: str | None, width: int, height: int) -> subprocess.Popen | None:
    """Set QT_QPA_PLATFORM (and DISPLAY) before Qt loads; an Xvfb started here is returned."""
    if asked is None and os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return None
    display = asked or os.environ.get("DISPLAY")
    if display is None and shutil.which("Xvfb"):
        display = next(f":{n}" for n in range(99, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    if display is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return None
    os.environ["DISPLAY"] = display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    if _x_answers(display):
        return None
    return _start_xvfb(display, width + 40, height + 40)


# ---- driving the window ----------------------------------------------------------------------
def _wait(app, condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")


def _pause(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    _wait(app, lambda: time.monotonic() >= end, seconds + 5, "a pause")


def _yes(*args: object) -> bool:
    return True


class Shooter:
    def __init__(self, app, window, output_dir: Path) -> None:
        self.app, self.window = app, window
        self.folder = output_dir / "screenshots"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.real = os.environ.get("QT_QPA_PLATFORM") == "xcb" and shutil.which("import")
        self.written: list[Path] = []

    def shoot(self, name: str) -> Path:
        """The window as it is now, in docs/screenshots/<name>.png."""
        window = self.window
        if self.real:
            window.raise_()
            window.activateWindow()
        _pause(self.app, 0.6)  # the plots' next frames, the table's scrolling, the X server
        path = self.folder / f"{name}.png"
        if self.real:
            subprocess.run(
                ["import", "-window", str(int(window.winId())), str(path)],
                check=True,
                env=os.environ,
            )
        elif not window.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        self.written.append(path)
        print(f"wrote {path}", flush=True)
        return path


def train(app, window, family: str, domain: dict, training: dict, timeout: float) -> None:
    """Set the Training tab's forms and press Start (the run goes on in the background)."""
    tab = window.training_tab
    window.tabs.setCurrentWidget(tab)
    assert tab.select_family(family), family
    for name, value in domain.items():
        tab.domain_form.set_value(name, value)
    for name, value in training.items():
        tab.training_form.set_value(name, value)
    _wait(
        app,
        lambda: (
            tab.config is not None and tab.config.family == family and tab.start_button.isEnabled()
        ),
        timeout,
        f"the {family} variant to resolve ({tab.error_text or tab.state})",
    )
    tab.start_button.click()
    _wait(app, lambda: window.controller.busy, 30, f"the {family} run to start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=ROOT / "docs")
    parser.add_argument("--display", default=None, help="X display (default: see above)")
    parser.add_argument("--width", type=int, default=1360)
    parser.add_argument("--height", type=int, default=860)
    parser.add_argument("--prime", type=int, default=23)
    parser.add_argument("--epochs", type=int, default=400)
    args = parser.parse_args(argv)
    server = choose_display(args.display, args.width, args.height)
    try:
        return shoot_all(args)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)


def shoot_all(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="trainwright-screenshot-") as home:
        os.environ["TRAINWRIGHT_HOME"] = home
        from desktop_app.app import create_application
        from desktop_app.kit.warmup import EngineWarmup
        from desktop_app.main_window import MainWindow
        from engine.workspace import Workspace

        app = create_application()
        print(f"platform {app.platformName()} {os.environ.get('DISPLAY', '')}", flush=True)
        window = MainWindow(Workspace(home))
        window.confirm_close = _yes
        window.training_tab.confirm = _yes
        window.resize(args.width, args.height)
        window.move(0, 0)
        window.show()
        shooter = Shooter(app, window, args.output_dir)
        tab, controller = window.training_tab, window.controller
        _wait(app, lambda: tab.engine_ready, 120, "the engine")

        # 1. An image classifier run to the end: its Classification page and a job.
        train(app, window, "image_classifier", {"dataset": "shapes"}, {"epochs": 3}, 60)
        _wait(app, lambda: not controller.busy, 300, "the image classifier run")
        classifier = controller.last_outcome.variant

        # 2. Modular addition, shot halfway through with an earlier epoch marked.
        train(
            app,
            window,
            "modulo_addition_1layer",
            {"prime": args.prime},
            {"epochs": args.epochs},
            60,
        )
        halfway = args.epochs // 2
        _wait(app, lambda: tab.progress_bar.epochs_done >= halfway, 300, f"epoch {halfway}")
        tab.plots.epochClicked.emit(max(1, halfway * 2 // 3))
        training_shot = shooter.shoot("training")
        _wait(app, lambda: not controller.busy, 300, "the modular addition run")

        # 3. A small MLP sweep, shot with some of its runs done.
        sweeps = window.sweep_panel
        window.tabs.setCurrentWidget(sweeps)
        assert sweeps.select_family("mlp")
        sweeps.editor.domain_form.set_value("num_hidden_layers", 1)
        sweeps.editor.domain_form.set_list("hidden_dim", "8,16,32")
        sweeps.editor.training_form.set_list("epochs", "10,20,40")
        _wait(app, sweeps.can_start, 60, "the sweep to be startable")
        assert sweeps.start_sweep()
        _wait(app, lambda: sweeps.progress.value() >= 4, 300, "four of the sweep's runs")
        sweeps.select_runs([0, 1, 2, 3])  # their curves overlaid below the table
        shooter.shoot("sweeps")
        _wait(app, lambda: not sweeps.busy, 600, "the sweep")

        # 4. The Analysis tab on the image classifier's Classification page.
        analysis = window.analysis_tab
        window.tabs.setCurrentWidget(window._analysis_page)
        analysis.refresh()
        _wait(
            app,
            lambda: classifier in [s.variant for s in analysis.model.summaries()],
            60,
            "the variants to be listed",
        )
        analysis.select_variants([classifier])
        analysis.show_classification()
        _pause(app, 2.0)  # its confusion matrix loads in the background
        shooter.shoot("analysis")

        # 5. The Datasets tab previewing the shapes images.
        datasets = window.datasets_tab
        window.tabs.setCurrentWidget(datasets)
        _wait(app, lambda: datasets.listed, 60, "the dataset library")
        assert datasets.select_dataset("shapes")
        _pause(app, 2.0)  # the preview renders in the background
        shooter.shoot("datasets")

        # 6. The Jobs tab: every run above in the history.
        window.tabs.setCurrentWidget(window.jobs_tab)
        jobs = window.jobs_tab  # lists the jobs when shown
        _wait(app, lambda: jobs.model.rowCount() >= 3, 30, "the three jobs to be listed")
        assert jobs.select_job(1)
        _pause(app, 1.0)  # its log is read in the background
        shooter.shoot("jobs")

        # 7. The Models tab: the image classifier published (through the Publish… dialog)
        # and tried on a few images of its dataset.
        models = window.models_tab
        dialog = models.publish_variant(classifier, "image_classifier", "shapes")
        dialog.alias_edit.setText("production")
        dialog.publish()
        _wait(app, lambda: models.model.row_of("image-classifier-shapes") >= 0, 120, "publish")
        window.tabs.setCurrentWidget(models)
        assert models.select_version("image-classifier-shapes")
        models.try_pane.predict([str(_shape_images(Path(home) / "try", 12))])
        _wait(app, lambda: models.try_pane.tried is not None, 120, "the predictions")
        _pause(app, 1.0)
        shooter.shoot("models")

        readme_image = args.output_dir / "screenshot.png"
        shutil.copyfile(training_shot, readme_image)
        print(f"wrote {readme_image} (the Training tab)", flush=True)

        window.close()
        _wait(app, lambda: not controller.busy, 120, "the window to close")
        EngineWarmup.instance().join()
        window.deleteLater()
        app.processEvents()
    return 0


def _shape_images(folder: Path, count: int) -> Path:
    """The first `count` images of the built-in shapes dataset as PNG files in `folder`."""
    from PIL import Image

    from engine.datasets import get_dataset

    folder.mkdir(parents=True, exist_ok=True)
    loaded = get_dataset("shapes").load_images(32, 3)
    for i in range(count):
        pixels = loaded.x[i].permute(1, 2, 0).contiguous().numpy()
        Image.fromarray(pixels, "RGB").save(folder / f"shape{i:02d}.png")
    return folder


if __name__ == "__main__":
    sys.exit(main())
