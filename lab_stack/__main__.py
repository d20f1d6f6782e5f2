"""Start one app's whole stack and keep it up until Ctrl-C: `python -m lab_stack up --app sync`
(or any registered hand-off: `--app sync+thread`, `--app sync/gevent`).

`python -m lab_stack down` stops what a runner killed without warning left behind;
`python -m lab_stack redis` says which Redis the stacks will use, or how to install one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab_hand_offs import APPS, hand_off, names
from lab_settings import Settings
from lab_stack.redis_server import RedisNotFound, redis_in_use
from lab_stack.stack import Stack, open_stack, run_until_stopped, stop_leftovers


def up_stack(app: str, settings: Settings, *, proxy: bool) -> Stack:
    """The stack `up` runs: an app with a queue gets its beat, which runs the scheduled jobs
    (the nightly reminders, the hourly sweep of old reports)."""
    with_beat = APPS[hand_off(app).app].has_queue
    return open_stack(app, settings, beat=with_beat, proxy=proxy)


def up(app: str, proxy: bool) -> int:
    stack = up_stack(app, Settings.from_env(), proxy=proxy)

    def start() -> str:
        print(f"starting the {app} stack...", flush=True)
        stack.start()
        return f"{stack.describe()}\nCtrl-C stops every process."

    return run_until_stopped(stack, start, "stack stopped.")


def which_redis() -> int:
    try:
        print("redis:", redis_in_use(Settings.from_env()))
    except RedisNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m lab_stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start a stack")
    up_parser.add_argument("--app", choices=names(), required=True)
    up_parser.add_argument(
        "--proxy", action="store_true", help="nginx in front, as in production (PROXY_PORT)"
    )
    commands.add_parser("down", help="stop stacks left behind by a killed runner")
    commands.add_parser("redis", help="which Redis the stacks use (or how to install one)")
    args = parser.parse_args()
    if args.command == "up":
        return up(args.app, args.proxy)
    if args.command == "redis":
        return which_redis()
    data_dir = Path.cwd() / Settings.from_env().data_dir
    for line in stop_leftovers(data_dir):
        print("stopped", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
