"""`make bench-cost`: what meeting one target costs each way of growing a hand-off.

"Then run more sync workers" is the commonest answer to the article. Here every hand-off must
meet one target at each arrival rate (homepage p95, contact POST p95, the email's p95 at the
provider) under the open sweep's arrivals: visitors arrive as a seeded Poisson process (the
same schedule for every hand-off at a rate) and make the journey once. Each way of growing (the
sync app's gunicorn workers or threads, gevent or asyncio processes, Celery's email workers) is
sized first by the queueing model (`loadtests/analysis/cost_model.py`), then measured at that
size and one below, to show where it breaks. Per configuration: its processes, their memory
(PSS summed over every process it needs: web tier, Redis, Celery worker and children, push;
not the provider, the rates API or the load generator), the CPU per request of the web tier and
per email of the worker, and the three p95s. Writes `results/cost/summary.csv` (+ `.json`,
`needed.csv`, `beyond.csv`: the model's sizes past the rates measured, `cost.png`, raw requests
and deliveries per configuration); `make bench-cost` then publishes them
(`loadtests/publishing/cost_sections.py`).

    python -m loadtests.runners.cost                          # the reference, results/cost/
    python -m loadtests.runners.cost --quick                  # two rates, short windows
    python -m loadtests.runners.cost --predict                # the model's sizes; measure nothing
    python -m loadtests.runners.cost --hand-offs celery --rates 1 --sizes 1 --window 10
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT, open_stack
from loadtests.analysis import cost_limits, cost_plots, cost_summary
from loadtests.analysis.cost_model import Prediction, Schedule, predict_all
from loadtests.analysis.cost_plan import FAMILIES, CostPlan, CostPoint, quick
from loadtests.analysis.open_summary import OpenPoint, summarise
from loadtests.analysis.plots import fmt_ms, save
from loadtests.analysis.results import Point, deliveries_frame, message_ref, requests_frame
from loadtests.analysis.summary import accepted_refs
from loadtests.load import footprint
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
from loadtests.publishing import cost_tables
from loadtests.publishing.records import run_record, write_table
from loadtests.publishing.tables import text_table

SCRATCH = PROJECT_ROOT / "var" / "bench" / "cost"
# Only what the contact form needs: the long reports share the email worker's queue (none is
# asked for), so no second Celery worker is started and counted.
STACK_SETTINGS = {"report_queue": "celery"}


def long_run(plan: CostPlan, rate: float) -> Schedule:
    """The model's hours of arrivals; their first minutes are the very schedule a run sends."""
    return Schedule.long_run(poisson_arrivals(rate, plan.model_visitors / rate, plan.seed))


def predictions(plan: CostPlan, rates: tuple[float, ...]) -> dict[tuple[str, float], Prediction]:
    return predict_all(plan, rates, lambda rate: long_run(plan, rate).arrivals)


def measure(base: Settings, plan: CostPlan, point: CostPoint) -> dict[str, object]:
    """Run one configuration; keep its raw requests and deliveries; return its row."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    settings = bench_settings(
        base, provider_delay_s=plan.delay_s, **STACK_SETTINGS, **point.size.settings()
    )
    load = Load(
        OPEN_USERS,
        2,
        probe_rate=plan.probe_rate,
        warmup_s=plan.warmup_s,
        window_s=plan.window_s,
        arrival_rate=point.rate,
        arrival_seed=point.seed,
    )
    raw_csv, log = SCRATCH / f"{point.name}.csv", SCRATCH / f"{point.name}.log"
    size = point.size
    labels = Point(
        app=point.family.hand_off,
        visitors=0,
        smtp_delay_s=plan.delay_s,
        web_workers=size.web_workers,
        web_threads=size.web_threads,
        celery_concurrency=size.celery_concurrency,
        repeat=point.seed,
    )
    with open_stack(point.family.hand_off, settings) as stack:
        idle_s = warm_up(stack.url)
        pids = {**footprint.site_pids(stack), "provider": stack.processes["provider"].pid}
        cpu_before, generator_before = footprint.cpu_s(pids), footprint.finished_children_cpu_s()
        meta = generate("locust", stack.url, load, raw_csv, log)
        generator_s = footprint.finished_children_cpu_s() - generator_before
        requests = requests_frame(raw_csv, meta, labels)
        bound_at = wait_for_emails(stack, accepted_refs(requests), plan.email_wait_s, message_ref)
        cpu = {k: v - cpu_before[k] for k, v in footprint.cpu_s(pids).items()}
        memory = footprint.site_memory(stack)
        deliveries = deliveries_frame(stack.provider.deliveries(), meta, labels)
    shutil.rmtree(stack.run_dir, ignore_errors=True)
    raw = plan.out / "raw" / point.name
    raw.parent.mkdir(parents=True, exist_ok=True)
    requests.to_csv(f"{raw}.requests.csv.gz", index=False)
    deliveries.to_csv(f"{raw}.deliveries.csv.gz", index=False)
    rho = point.rate * plan.delay_s
    opened = OpenPoint(point.family.hand_off, rho, plan.delay_s, seed=point.seed)
    row = cost_summary.cost_columns(point, memory, cpu, generator_s, requests, deliveries)
    row.update(summarise(opened, requests, deliveries, meta, bound_at))
    row["idle_ms"] = idle_s * 1000
    row["memory_measure"] = footprint.memory_measure()
    row["post_failures"] = cost_summary.post_failures(requests)
    row["held"] = cost_summary.held(plan, row)
    sent = poisson_arrivals(point.rate, plan.warmup_s + plan.window_s, point.seed)
    window = Schedule(tuple(sent), plan.warmup_s)
    row.update(cost_summary.model_columns(plan, point, long_run(plan, point.rate), window))
    row["valid"] = row["cpu_warnings"] == 0
    return row


def point_line(row: dict[str, object]) -> str:
    row = {"home_p95_ms": math.nan, **row}  # no probe answered: no homepage figures
    return (
        f"{row['family']:28} {row['rate']:>4g}/s  n {row['n']:<3} ({row['role']}): "
        f"{row['processes']} processes, {row['pss_mb']:.0f} MB PSS, web CPU "
        f"{row['web_cpu_ms_per_request']:.2f} ms/request; homepage p95 "
        f"{fmt_ms(row['home_p95_ms'])}, POST p95 {fmt_ms(row['post_p95_ms'])}, email p95 "
        f"{fmt_ms(row['email_p95_ms'])} -> {'held' if row['held'] else 'MISSED'} (model: "
        f"{fmt_ms(row['model_home_p95_ms'])} long run, {fmt_ms(row['window_model_home_p95_ms'])}"
        " on this window's arrivals)"
    )


def run(plan: CostPlan, base: Settings) -> pd.DataFrame | None:
    started = time.time()
    found = predictions(plan, plan.rates)
    beyond = predictions(plan, plan.beyond_rates)
    model_s = time.time() - started
    cores = os.cpu_count() or 1
    print(f"The model's smallest sizes ({plan.target.describe()}):")
    print(text_table(cost_tables.predicted(found)))
    print(cost_limits.limits_text(plan, cores, beyond))
    points = plan.points(found)
    print(plan.announcement(points, model_s))
    if plan.predict_only:
        return None
    shutil.rmtree(plan.out / "raw", ignore_errors=True)
    rows = []
    for point in points:
        row = measure(base, plan, point)
        print("  " + point_line(row))
        rows.append(row)
        # A predicted size that missed: one size up at a time until one holds, so the table
        # says what it did take.
        climbed = 0
        while point.role != "one below" and not row["held"] and climbed < plan.max_climb:
            point, climbed = replace(point, n=point.n + 1), climbed + 1
            row = measure(base, plan, point)
            print("  " + point_line(row))
            rows.append(row)
    table = pd.DataFrame(rows)
    needed = cost_summary.needed(table, found)
    record = run_record(
        started,
        bench_settings(base, provider_delay_s=plan.delay_s, **STACK_SETTINGS),
        wall_time_s=round(time.time() - started, 1),
        memory_measure=footprint.memory_measure(),
        plan=plan.record(),
    )
    write_table(table, plan.out / "summary.csv", record)
    write_table(needed, plan.out / "needed.csv", record)
    # Stored, so that its page states where the cores run out without running the model again.
    write_table(cost_limits.predictions_frame(beyond), plan.out / "beyond.csv", record)
    figure = save(cost_plots.cost_of_target(needed, plan.target.describe()), plan.out / "cost.png")
    print(f"\nEvery configuration ({plan.target.describe()}):")
    print(text_table(cost_tables.configurations(table)))
    print("\nThe smallest size that held, beside the model's:")
    print(text_table(cost_tables.needed(cost_summary.held_configurations(needed, table))))
    print(cost_limits.limits_text(plan, cores, beyond, measured=table))
    minutes = (time.time() - started) / 60
    where = os.path.relpath(plan.out, Path.cwd())
    print(
        f"Wrote {where}/summary.csv, needed.csv, beyond.csv and {figure.name} ({minutes:.1f} min)."
    )
    return table


def parse_args(argv: list[str] | None) -> CostPlan:
    parser = runner_parser(__spec__.name, __doc__)
    add = parser.add_argument
    add("--quick", action="store_true", help="two rates, 10 s windows, into results/local/cost/")
    add("--predict", action="store_true", help="the model's sizes and the plan; measure nothing")
    hand_offs = sorted({f.hand_off for f in FAMILIES})
    add("--hand-offs", nargs="+", choices=hand_offs, help="the families of these hand-offs only")
    add("--rates", nargs="+", type=float, help="visitors arriving per second")
    add("--sizes", nargs="+", type=int, help="measure these sizes, not the predicted and one below")
    add("--window", type=float, dest="window_s", help="the measured window, s")
    add("--out", type=Path, help="results folder")
    args = parser.parse_args(argv)
    changes = quick() if args.quick else {}
    changes["predict_only"] = args.predict
    if args.hand_offs:
        changes["families"] = tuple(f for f in FAMILIES if f.hand_off in args.hand_offs)
    for key in ("rates", "sizes", "window_s", "out"):
        value = getattr(args, key)
        if value is not None:
            changes[key] = tuple(value) if isinstance(value, list) else value
    return replace(CostPlan(), **changes)


def main(argv: list[str] | None = None) -> int:
    return run_plan(parse_args(argv), run)


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
