"""Entry point: `python -m desktop_app [--home DIR]`, `trainwright-gui`, or `trainwright`."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from engine import __version__

    parser = argparse.ArgumentParser(
        prog="trainwright",
        description="Open the Trainwright desktop workbench.",
    )
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="data home (default: $TRAINWRIGHT_HOME, else the user data folder)",
    )
    parser.add_argument("--version", action="version", version=f"Trainwright {__version__}")
    # Prints the time from process start to the first painted window, then quits.
    parser.add_argument("--startup-benchmark", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `--home`/`--version` and open the window; other arguments go to Qt."""
    if "--self-test" in (sys.argv[1:] if argv is None else argv):
        from desktop_app.self_test import run_self_test

        return run_self_test()
    args, qt_args = build_parser().parse_known_args(argv)
    from desktop_app.app import run

    return run(args.home, qt_args=qt_args, startup_benchmark=args.startup_benchmark)


def trainwright(argv: list[str] | None = None) -> int:
    """The `trainwright` command: a subcommand runs headless in the engine, none opens the window."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from engine import cli

    if cli.names_a_command(argv):
        return cli.main(argv)
    return main(argv)


if __name__ == "__main__":
    sys.exit(main())
