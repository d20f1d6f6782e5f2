"""A live minute for the class: the sync app's stack (one worker, a slow provider) started from
the notebook, visitors using the contact form for about a minute, and the real worker timeline
drawn from what was measured. Everything it starts is stopped when it returns, when it fails,
and when the kernel is interrupted (the stack is a context manager; Locust dies with its call).

    python -m loadtests.runners.live_minute               # about a minute, prints what it saw
    python -m loadtests.runners.live_minute --seconds 10  # the quick scale (the tests)
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd

from lab_settings import Settings
from lab_stack.stack import open_stack
from loadtests.analysis.live_minute import LiveMinute, homepage
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import Point, percentile, requests_frame
from loadtests.load.cli import exit_status, run_plan, runner_parser
from loadtests.load.drive import Load, bench_settings, generate, warm_up


def run(plan: LiveMinute | None = None, base: Settings | None = None) -> pd.DataFrame:
    """Every request of the minute (the raw frame `queue_view.worker_timeline` draws)."""
    plan = plan or LiveMinute()
    settings = bench_settings(base or Settings.from_env(), provider_delay_s=plan.delay_s)
    point = Point.one_worker("sync", plan.visitors, plan.delay_s, settings.celery_concurrency)
    load = Load(
        ("HomepageProbe", "Visitor"),
        plan.visitors + 1,
        think_s=plan.think_s,
        probe_rate=plan.probe_rate,
        warmup_s=2 * plan.ramp_s,
        window_s=plan.seconds,
        ramp_s=plan.ramp_s,
        drain_max_s=30.0,
    )
    with tempfile.TemporaryDirectory() as scratch, open_stack("sync", settings) as stack:
        warm_up(stack.url)
        raw_csv = Path(scratch) / "live.csv"
        meta = generate("locust", stack.url, load, raw_csv, Path(scratch) / "locust.log")
        requests = requests_frame(raw_csv, meta, point)
    shutil.rmtree(stack.run_dir, ignore_errors=True)
    return requests


def say(plan: LiveMinute, base: Settings) -> None:
    probes = homepage(run(plan, base))
    print(
        f"{plan.visitors} visitors, {plan.delay_s:g} s provider, {plan.seconds:g} s: homepage "
        f"p50 {fmt_ms(percentile(probes, 50))}, p95 {fmt_ms(percentile(probes, 95))} "
        f"({len(probes)} probes)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = runner_parser(__spec__.name, __doc__)
    parser.add_argument("--seconds", type=float, default=LiveMinute.seconds)
    args = parser.parse_args(argv)
    return run_plan(replace(LiveMinute(), seconds=args.seconds), say)


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
