"""`make demo APP=sync|celery|asyncio`: one app's stack plus Locust's web UI, for a live class.

The instructor opens Locust's page, starts with a few users and raises the count: one user is
always the homepage probe (GET / on a fixed schedule), every other user is a visitor sending
the contact form. Watch the `home` row and the response-time chart: it climbs for the sync app
and stays flat for the Celery and async apps. Ctrl-C stops Locust and the whole stack.
"""

from __future__ import annotations

import argparse
import sys

from lab_settings import Settings
from lab_stack.processes import ManagedProcess
from lab_stack.stack import APPS, PROJECT_ROOT, Stack, http_ok, run_until_stopped

LOCUST_HOST = "127.0.0.1"


def locust_process(stack: Stack, port: int, think_s: float, probe_rate: float) -> ManagedProcess:
    env = {
        **stack.processes["web"].env,
        "LAB_THINK_S": str(think_s),
        "LAB_PROBE_RATE": str(probe_rate),
    }
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(PROJECT_ROOT / "loadtests" / "load" / "locustfile.py"),
        "--host",
        stack.url,
        "--web-host",
        LOCUST_HOST,
        "--web-port",
        str(port),
        "--users",
        "5",
        "--spawn-rate",
        "100",  # the form's defaults: the probe + 4 visitors
        "Visitor",
        "HomepageProbe",
    ]
    return ManagedProcess(
        "locust",
        argv,
        env,
        PROJECT_ROOT,
        stack.run_dir,
        lambda: http_ok(f"http://{LOCUST_HOST}:{port}/"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.runners.demo", description=__doc__)
    parser.add_argument("--app", choices=APPS, required=True)
    parser.add_argument("--locust-port", type=int, default=8089)
    parser.add_argument("--think", type=float, default=1.0, help="visitor think time, seconds")
    parser.add_argument("--probe-rate", type=float, default=2.0, help="homepage probes per second")
    args = parser.parse_args(argv)
    # Locust's visitors all come from 127.0.0.1: with the rate limit on, all but one would be
    # refused, so the demo turns it off (and says so).
    stack = Stack(args.app, Settings.from_env().replace(rate_limit_s=0.0))

    def start() -> str:
        print(f"starting the {args.app} stack and Locust...", flush=True)
        stack.start()
        locust = locust_process(stack, args.locust_port, args.think, args.probe_rate)
        stack.processes["locust"] = locust  # stopped first, with the rest of the stack
        locust.start()
        return (
            f"{stack.describe()}\n"
            f"\n  Locust    http://{LOCUST_HOST}:{args.locust_port}/  <- open this, press Start\n"
            "\nOne Locust user is the homepage probe; every other user is a visitor sending the\n"
            "contact form. Raise the number of users and watch the `home` row's latency.\n"
            "(The rate limit is off: every Locust visitor comes from 127.0.0.1.)\n"
            "Ctrl-C stops everything."
        )

    return run_until_stopped(stack, start, "demo stopped.")


if __name__ == "__main__":
    raise SystemExit(main())
