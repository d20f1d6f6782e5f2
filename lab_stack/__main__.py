"""Start one app's whole stack and keep it up until Ctrl-C: `python -m lab_stack up --app sync`.

`python -m lab_stack down` stops what a runner killed without warning left behind.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from contact_form.settings import Settings
from lab_stack.processes import sigterm_like_ctrl_c
from lab_stack.stack import APPS, PROJECT_ROOT, Stack, StartupError, stop_leftovers


def up(app: str) -> int:
    settings = Settings.from_env()
    stack = Stack(app, settings)
    sigterm_like_ctrl_c()
    try:
        print(f"starting the {app} stack...", flush=True)
        stack.start()
        print(stack.describe(), "\nCtrl-C stops every process.", flush=True)
        while not stack.dead():
            time.sleep(0.5)
        print(f"stopped unexpectedly: {', '.join(stack.dead())}; see the logs", file=sys.stderr)
        return 1
    except StartupError as exc:
        print(f"could not start the stack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        print("stack stopped.", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m lab_stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start a stack").add_argument(
        "--app", choices=APPS, required=True
    )
    commands.add_parser("down", help="stop stacks left behind by a killed runner")
    args = parser.parse_args()
    if args.command == "up":
        return up(args.app)
    data_dir = PROJECT_ROOT / Path(Settings.from_env().data_dir)
    for line in stop_leftovers(data_dir):
        print("stopped", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
