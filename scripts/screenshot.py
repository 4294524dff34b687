"""Write docs/screenshot.png: the main window, offscreen, in the middle of a small run.

    .venv/bin/python scripts/screenshot.py [--output docs/screenshot.png]

Uses a temporary data home; trains modular addition with p = 23 for a few hundred epochs,
grabs the window about halfway, then stops the run and exits.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _wait(app, condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")


def _yes() -> bool:
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--prime", type=int, default=23)
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--at", type=int, default=0, help="epoch to grab at (default: half)")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    grab_at = args.at or args.epochs // 2

    with tempfile.TemporaryDirectory(prefix="trainwright-screenshot-") as home:
        os.environ["TRAINWRIGHT_HOME"] = home
        from desktop_app.app import create_application
        from desktop_app.kit.warmup import EngineWarmup
        from desktop_app.main_window import MainWindow
        from engine.workspace import Workspace

        app = create_application()
        window = MainWindow(Workspace(home))
        window.confirm_close = _yes
        window.resize(args.width, args.height)
        window.show()
        tab = window.training_tab
        _wait(app, lambda: tab.engine_ready, 120, "the engine")
        tab.select_family("modulo_addition_1layer")
        tab.domain_form.set_value("prime", args.prime)
        tab.training_form.set_value("epochs", args.epochs)
        tab.main_splitter.setSizes([360, args.width - 360])
        _wait(app, tab.start_button.isEnabled, 60, "the variant name")
        tab.start_button.click()
        _wait(app, lambda: tab.progress_bar.value() >= grab_at, 300, f"epoch {grab_at}")

        # Mark an earlier epoch (as a click in the plot would) and show the readout there.
        marked = max(1, grab_at * 2 // 3)
        tab.plots.epochClicked.emit(marked)
        tab.plots.readout.setText(tab.plots.readout_text(marked))
        tab.table.scrollToBottom()
        tab.plots.redraw()
        for _ in range(5):
            app.processEvents()
        args.output.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(args.output)):
            print(f"could not write {args.output}", file=sys.stderr)
            return 1
        print(f"wrote {args.output} at epoch {tab.progress_bar.value()} of {args.epochs}")

        tab.stop()
        _wait(app, lambda: not window.controller.busy, 120, "the run to stop")
        window.close()
        EngineWarmup.instance().join()
        window.deleteLater()
        app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
