"""What every runner's command line does alike: a parser with the runner's docstring as its help,
output that shows each line at once (even in a pipe), SIGTERM taken as Ctrl-C, and one message
when a run is interrupted (its stacks are stopped by then: each is a context manager)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeVar

from lab_settings import Settings
from lab_stack.processes import sigterm_like_ctrl_c

T = TypeVar("T")
INTERRUPTED = 130  # the shell's status for Ctrl-C


class Interrupted(Exception):
    """The run was interrupted; `until_interrupted` has said so."""


def runner_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def until_interrupted(measure: Callable[[], T]) -> T:
    """`measure()`, line-buffered and with SIGTERM as Ctrl-C; raises Interrupted (after saying
    so) when it is interrupted."""
    sys.stdout.reconfigure(line_buffering=True)
    sigterm_like_ctrl_c()
    try:
        return measure()
    except KeyboardInterrupt:
        print("\nInterrupted; every stack it started has been stopped.", file=sys.stderr)
        raise Interrupted from None


def run_plan(plan: T, run: Callable[[T, Settings], object]) -> int:
    """The whole `main` of a runner that measures one plan: `run(plan, settings)`."""
    until_interrupted(lambda: run(plan, Settings.from_env()))
    return 0


def exit_status(main: Callable[[], int]) -> int:
    """`main()`'s status, or INTERRUPTED."""
    try:
        return main()
    except Interrupted:
        return INTERRUPTED
