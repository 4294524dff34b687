"""Entry point of the frozen Trainwright app (PyInstaller script; see trainwright.spec).

Behaves like the `trainwright` console script (`desktop_app.__main__:trainwright`): no arguments open the
window, `--version` prints the version, subcommands run headless. `--self-test` runs
`desktop_app.self_test.run_self_test()` (train, replay, compare; exit 0 or 1).
"""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()
    argv = sys.argv[1:]
    if "--self-test" in argv:
        from desktop_app.self_test import run_self_test

        return run_self_test()
    from desktop_app.__main__ import trainwright

    return int(trainwright(argv) or 0)


if __name__ == "__main__":
    sys.exit(main())
