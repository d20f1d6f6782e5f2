"""Where each part breaks, measured (issue: equal load for every hand-off).

1. The web process at its CPU limit: each app's homepage, requested on a fixed schedule at
   rising rates (an open load, as visitors arrive), one stack per app. What it answers per
   second and the p95 at each rate; its capacity is the highest rate answered in full at a
   p95 <= 100 ms (C5, from throughput).
2. The Celery email worker at concurrency / delay: visitors arriving at half and one and a half
   times what one worker process sends; the backlog's growth per second against the formula.

    python -m loadtests.runners.capacity            # into results/capacity/ (~8 min)
    python -m loadtests.runners.capacity --quick    # fewer rates, shorter windows
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from lab_hand_offs import names
from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT, open_stack
from loadtests.analysis import capacity
from loadtests.analysis.results import RESULTS_DIR, Point, deliveries_frame, requests_frame
from loadtests.load.cli import exit_status, run_plan, runner_parser
from loadtests.load.drive import (
    OPEN_USERS,
    BacklogSampler,
    Load,
    bench_settings,
    generate,
    warm_up,
)
from loadtests.publishing.records import run_record, write_table
from loadtests.publishing.tables import text_table

SCRATCH = PROJECT_ROOT / "var" / "bench" / "capacity"


@dataclass(frozen=True)
class CapacityPlan:
    apps: tuple[str, ...] = field(default_factory=lambda: names("app"))
    home_rates: tuple[float, ...] = (50, 100, 200, 400, 600, 800, 1000)
    home_window_s: float = 20.0
    warmup_s: float = 3.0
    delay_s: float = 0.5
    worker_concurrency: int = 1  # one email process: its capacity is 1 / delay
    email_loads: tuple[float, ...] = (0.5, 1.5)  # arrivals as multiples of that capacity
    email_window_s: float = 40.0
    probe_rate: float = 5.0
    out: Path = RESULTS_DIR / "capacity"


QUICK = {
    "home_rates": (50, 200),
    "home_window_s": 8.0,
    "email_loads": (1.5,),
    "email_window_s": 15.0,
    "out": RESULTS_DIR / "local" / "capacity",
}


def web_limit(base: Settings, plan: CapacityPlan, app: str) -> list[dict[str, object]]:
    """The homepage at each rate on one stack, until the app no longer keeps up."""
    rows = []
    settings = bench_settings(base, provider_delay_s=plan.delay_s)
    point = Point.one_worker(app, 0, plan.delay_s, settings.celery_concurrency)
    with open_stack(app, settings) as stack:
        warm_up(stack.url)
        for rate in plan.home_rates:
            load = Load(
                ("HomepageProbe",),
                1,
                probe_rate=rate,
                warmup_s=plan.warmup_s,
                window_s=plan.home_window_s,
                drain_max_s=30.0,
            )
            raw_csv, log = SCRATCH / f"web-{app}-{rate:g}.csv", SCRATCH / f"web-{app}-{rate:g}.log"
            meta = generate("locust", stack.url, load, raw_csv, log)
            requests = requests_frame(raw_csv, meta, point)
            row = capacity.web_row(app, rate, requests, meta)
            print(
                f"  {app:8} {rate:4g}/s offered: answered {row['answered_per_s']:5.1f}/s, "
                f"p95 {row['p95_ms']:7.1f} ms, {row['over_100ms']:.0%} over 100 ms"
            )
            rows.append(row)
            if row["p95_ms"] > 10 * capacity.HOME_P95_LIMIT_MS:
                break  # well past its limit: higher rates only queue longer
    shutil.rmtree(stack.run_dir, ignore_errors=True)
    return rows


def email_worker(base: Settings, plan: CapacityPlan, load_x: float) -> dict[str, object]:
    """Visitors arriving at `load_x` times what the email worker sends, its backlog sampled."""
    concurrency = plan.worker_concurrency
    rate = load_x * concurrency / plan.delay_s
    settings = bench_settings(base, provider_delay_s=plan.delay_s, celery_concurrency=concurrency)
    load = Load(
        OPEN_USERS,
        2,
        probe_rate=plan.probe_rate,
        warmup_s=plan.warmup_s,
        window_s=plan.email_window_s,
        arrival_rate=rate,
        arrival_seed=1,
    )
    raw_csv, log = SCRATCH / f"email-{load_x:g}.csv", SCRATCH / f"email-{load_x:g}.log"
    with open_stack("celery", settings) as stack:
        warm_up(stack.url)
        sampler = BacklogSampler(stack.settings.effective_redis_url)
        sampler.start()
        try:
            meta = generate("locust", stack.url, load, raw_csv, log)
        finally:
            samples = sampler.stop()
        point = Point.one_worker("celery", 0, plan.delay_s, concurrency)
        requests = requests_frame(raw_csv, meta, point)
        deliveries = deliveries_frame(stack.provider.deliveries(), meta, point)
    shutil.rmtree(stack.run_dir, ignore_errors=True)
    row = capacity.email_row(rate, concurrency, plan.delay_s, requests, deliveries, samples, meta)
    raw = plan.out / "raw" / f"email-{load_x:g}x.backlog.csv.gz"
    raw.parent.mkdir(parents=True, exist_ok=True)
    samples.assign(
        in_window=samples["time"].between(float(meta["window_start"]), float(meta["window_end"]))
    ).to_csv(raw, index=False)
    print(
        f"  email worker x{concurrency} at {load_x:g}x its capacity ({rate:g}/s): backlog grew "
        f"{row['backlog_growth_per_s']:+.2f}/s (formula {row['formula_growth_per_s']:+.2f}/s)"
    )
    return {"load_x": load_x, **row}


def run(plan: CapacityPlan, base: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    started = time.time()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    print(
        f"Capacity: the homepage of {', '.join(plan.apps)} at {plan.home_rates} per second; "
        f"the Celery email worker at {plan.email_loads} x its capacity."
    )
    web = pd.DataFrame([row for app in plan.apps for row in web_limit(base, plan, app)])
    email = pd.DataFrame([email_worker(base, plan, x) for x in plan.email_loads])
    record = run_record(
        started,
        bench_settings(base, provider_delay_s=plan.delay_s),
        wall_time_s=round(time.time() - started, 1),
        plan={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(plan).items()},
    )
    write_table(web, plan.out / "web.csv", record, float_format="%.3f")
    write_table(email, plan.out / "email.csv", record, float_format="%.3f")
    print("\nThe web process, at a homepage p95 <= 100 ms:\n")
    print(text_table(capacity.web_capacity(web)))
    print(
        f"\nWrote {os.path.relpath(plan.out, Path.cwd())}/web.csv and email.csv "
        f"({(time.time() - started) / 60:.1f} min)."
    )
    return web, email


def parse_args(argv: list[str] | None) -> CapacityPlan:
    parser = runner_parser(__spec__.name, __doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rates, shorter windows")
    parser.add_argument("--apps", nargs="+", choices=names("app"))
    parser.add_argument("--out", type=Path, help="results folder")
    args = parser.parse_args(argv)
    changes: dict[str, object] = dict(QUICK) if args.quick else {}
    if args.apps:
        changes["apps"] = tuple(args.apps)
    if args.out:
        changes["out"] = args.out
    return replace(CapacityPlan(), **changes)


def main(argv: list[str] | None = None) -> int:
    return run_plan(parse_args(argv), run)


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
