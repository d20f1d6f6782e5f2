"""`make bench-open`: every hand-off under the same open arrivals, as a public site receives them.

In the closed loop of `make bench` each visitor waits for its answers before coming back, so a
slow app is sent less work than a fast one. Here visitors arrive as a Poisson process at a set
rate, whatever the site answers, make the journey once (form, POST, thank-you page) and leave:
every hand-off gets the same schedule of arrivals (the same seed), so the same work. The rate is
a fraction rho of the sync worker's capacity (rho = rate x provider delay). Per point: the
offered and achieved arrival rate, the homepage probe's mean, p50, p95, p99 and share over
100 ms, the POST, the email delay over every accepted email, and for the sync app the model's
replay of the very same schedule beside the textbook M/D/1 mean. One overload point (rho 1.2)
runs for a fixed time and reports how fast the wait grows against (rate - capacity).

    python -m loadtests.runners.open_arrivals                  # the reference, into results/open/
    python -m loadtests.runners.open_arrivals --quick          # a short sweep (part of make bench)
    python -m loadtests.runners.open_arrivals --agreement      # both generators, 3 schedules
    python -m loadtests.runners.open_arrivals --replay         # the model again, from raw data
    python -m loadtests.runners.open_arrivals --hand-offs sync --rhos 0.5 --out /tmp/open
    python -m loadtests.runners.open_arrivals --hand-offs celery --seeds 1 \
        --into results/open --why "another process loaded the machine"  # runs measured again
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from lab_hand_offs import hand_off as registered
from lab_hand_offs import names
from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT, Stack, open_stack
from loadtests.analysis.model import (
    textbook_overload_slope,
)
from loadtests.analysis.open_arrivals_plan import OpenPlan, agreement, quick
from loadtests.analysis.open_estimates import estimates
from loadtests.analysis.open_summary import OpenPoint, model_columns, point_line, summarise
from loadtests.analysis.results import (
    RESULTS_DIR,
    Point,
    deliveries_frame,
    message_ref,
    requests_frame,
)
from loadtests.analysis.summary import accepted_refs
from loadtests.load.cli import exit_status, run_plan, runner_parser
from loadtests.load.drive import (
    OPEN_USERS,
    Load,
    bench_settings,
    generate,
    wait_for_emails,
    warm_up,
)
from loadtests.load.journey import poisson_arrivals
from loadtests.publishing import equal_load, open_section
from loadtests.publishing.records import code_record, run_record, write_table
from loadtests.publishing.tables import text_table
from loadtests.runners.open_arrivals_again import put_in_place


def scratch_dir(base: Settings) -> Path:
    """Where a point's generator writes before its raw data is kept: under LAB_DATA_DIR."""
    return PROJECT_ROOT / base.data_dir / "bench" / "open"


def start_stack(base: Settings, plan: OpenPlan, hand_off: str) -> Stack:
    settings = bench_settings(
        base, provider_delay_s=plan.delay_s, celery_concurrency=plan.celery_concurrency
    )
    return open_stack(hand_off, settings)


def measure(base: Settings, plan: OpenPlan, point: OpenPoint) -> dict[str, object]:
    """Run one point; keep its raw requests and deliveries; return its summary row."""
    scratch = scratch_dir(base)
    scratch.mkdir(parents=True, exist_ok=True)
    warmup, window = plan.timing(point.hand_off, point.rho)
    rate = point.rate
    # Past capacity the wait grows all through the window: let the last probes come back.
    slope = textbook_overload_slope(rate, plan.delay_s)
    load = Load(
        OPEN_USERS,
        2,
        probe_rate=plan.probe_rate,
        warmup_s=warmup,
        window_s=window,
        drain_max_s=60 + 2 * slope * (warmup + window),
        arrival_rate=rate,
        arrival_seed=point.seed,
    )
    raw_csv, log = scratch / f"{point.name}.csv", scratch / f"{point.name}.log"
    labels = Point.one_worker(
        point.hand_off,
        0,
        plan.delay_s,
        plan.celery_concurrency,
        generator=point.generator,
        repeat=point.seed,
    )
    with start_stack(base, plan, point.hand_off) as stack:
        idle_s = warm_up(stack.url)
        meta = generate(point.generator, stack.url, load, raw_csv, log)
        requests = requests_frame(raw_csv, meta, labels)
        bound_at = wait_for_emails(stack, accepted_refs(requests), plan.email_wait_s, message_ref)
        deliveries = deliveries_frame(stack.provider.deliveries(), meta, labels)
    shutil.rmtree(stack.run_dir, ignore_errors=True)
    raw = plan.out / "raw" / point.name
    raw.parent.mkdir(parents=True, exist_ok=True)
    requests.to_csv(f"{raw}.requests.csv.gz", index=False)
    deliveries.to_csv(f"{raw}.deliveries.csv.gz", index=False)
    row = summarise(point, requests, deliveries, meta, bound_at)
    row["idle_ms"] = idle_s * 1000
    if registered(point.hand_off).blocking:
        warmup_s = float(meta["window_start"]) - float(meta["t0"])
        window_s = float(meta["window_end"]) - float(meta["window_start"])
        row.update(replayed_model(point, plan.probe_rate, warmup_s, window_s, idle_s, requests))
    return row


def replayed_model(
    point: OpenPoint,
    probe_rate: float,
    warmup_s: float,
    window_s: float,
    idle_s: float,
    requests: pd.DataFrame,
) -> dict[str, float]:
    """The model's columns of a blocking point, fed the very Poisson schedule the run sent."""
    arrivals = tuple(poisson_arrivals(point.rate, warmup_s + window_s, point.seed))
    meta = {"t0": 0.0, "window_start": warmup_s, "window_end": warmup_s + window_s}
    return model_columns(point, arrivals, probe_rate, meta, idle_s, requests)


def parse_args(argv: list[str] | None) -> OpenPlan:
    parser = runner_parser(__spec__.name, __doc__)
    add = parser.add_argument
    add("--quick", action="store_true", help="sync, celery, asyncio at rho 0.5 and 0.9, short")
    add(
        "--agreement",
        action="store_true",
        help="the sync app at rho 0.5 and 0.9, three schedules, each with both generators",
    )
    add(
        "--replay",
        action="store_true",
        help="recompute the model's columns from the stored raw requests; measure nothing",
    )
    add("--hand-offs", nargs="+", choices=names(), help="default: every one")
    add("--rhos", nargs="+", type=float, help="arrival rates as fractions of 1/delay")
    add("--delay", type=float, dest="delay_s", help="the provider's delay, s")
    add("--out", type=Path, help="results folder")
    add("--seeds", nargs="+", type=int, help="these schedules only (default: 1 to 3)")
    add(
        "--into",
        type=Path,
        help="measure these points again and put them in this sweep's results in place of "
        "the runs they repeat; its record says which, when and --why",
    )
    add("--why", default="", help="with --into: why the runs had to be measured again")
    args = parser.parse_args(argv)
    if args.into and not args.why:
        parser.error("--into needs --why: the record says why runs were measured again")
    changes = quick() if args.quick else {}
    if args.agreement:
        changes.update(agreement())
    changes["replay_only"] = args.replay
    if args.into:
        changes.update(into=args.into, why=args.why, overload_rho=None)
        changes.setdefault("out", args.into / "remeasured")
    for key in ("hand_offs", "rhos", "delay_s", "out", "seeds"):
        value = getattr(args, key)
        if value is not None:
            changes[key] = tuple(value) if isinstance(value, list) else value
    return replace(OpenPlan(), **changes)


def replay(plan: OpenPlan) -> pd.DataFrame:
    """The model's columns again, from the raw requests a run stored (after a change to the
    model): the measured columns and the run's record stay as they were, and the record says
    when its model columns were last computed."""
    summary = plan.out / "summary.csv"
    table = pd.read_csv(summary)
    record = json.loads(summary.with_suffix(".json").read_text())
    for i, row in table.iterrows():
        if not registered(row["hand_off"]).blocking:
            continue
        point = OpenPoint(
            row["hand_off"], row["rho"], row["delay_s"], row["generator"], int(row["seed"])
        )
        requests = pd.read_csv(plan.out / "raw" / f"{point.name}.requests.csv.gz")
        warmup, window, idle_s = row["warmup_s"], row["window_s"], row["idle_ms"] / 1000
        columns = replayed_model(point, plan.probe_rate, warmup, window, idle_s, requests)
        for key, value in columns.items():
            table.loc[i, key] = value
        print("  " + point_line(table.loc[i].to_dict()))
    record["model_replayed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record["model_replayed_with"] = code_record()
    write_table(table, summary, record)
    print(f"Rewrote the model's columns of {os.path.relpath(summary, Path.cwd())}.")
    write_estimates(plan, table, record)
    _publish_if_reference(plan)
    return table


def write_estimates(plan: OpenPlan, table: pd.DataFrame, record: dict[str, object]) -> None:
    """Each steady point as an estimate with its interval (`open_estimates`), beside the
    summary as `estimates.csv`, and printed."""
    points = estimates(table, plan.probe_rate)
    write_table(points, plan.out / "estimates.csv", record)
    print(
        f"\nWrote {os.path.relpath(plan.out / 'estimates.csv', Path.cwd())}. "
        + estimates_text(points)
    )


def estimates_text(points: pd.DataFrame) -> str:
    """What the terminal shows of the estimates: the homepage per hand-off and rate, and for
    the blocking one how far a single window of this length strays."""
    schedules = int(points["schedules"].min())
    lines = [
        (
            f"Homepage p95 / mean per point, each {schedules} schedules, with its 95% interval"
            if schedules > 1
            else "Homepage p95 / mean per point, one schedule each (no interval: "
            "`make bench-open` repeats every point)"
        )
        + " (`docs/method.md`, error bars):",
        text_table(open_section.by_rho(points, open_section.estimate_cell)),
    ]
    for _, row in points[points["hand_off"].map(lambda h: registered(h).blocking)].iterrows():
        lines.append(open_section.window_spread_line(row))
    return "\n".join(lines)


def _publish_if_reference(plan: OpenPlan) -> None:
    if plan.out.resolve().is_relative_to((RESULTS_DIR / "open").resolve()):
        equal_load.publish()


def run(plan: OpenPlan, base: Settings) -> pd.DataFrame:
    if plan.replay_only:
        return replay(plan)
    started = time.time()
    shutil.rmtree(plan.out / "raw", ignore_errors=True)
    points = plan.points()
    print(plan.announcement())
    rows = []
    for point in points:
        row = measure(base, plan, point)
        print("  " + point_line(row))
        rows.append(row)
    table = pd.DataFrame(rows)
    record = run_record(
        started,
        bench_settings(base, provider_delay_s=plan.delay_s),
        wall_time_s=round(time.time() - started, 1),
        plan={k: v for k, v in vars(plan).items() if k not in ("out", "replay_only", "into")},
    )
    write_table(table, plan.out / "summary.csv", record)
    minutes = (time.time() - started) / 60
    print(f"Wrote {os.path.relpath(plan.out / 'summary.csv', Path.cwd())} ({minutes:.1f} min).")
    if plan.into is not None:
        table, record = put_in_place(plan, table, record)
        plan = replace(plan, out=plan.into)
    write_estimates(plan, table, record)
    _publish_if_reference(plan)
    return table


def main(argv: list[str] | None = None) -> int:
    return run_plan(parse_args(argv), run)


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
