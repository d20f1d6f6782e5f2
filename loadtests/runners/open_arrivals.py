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
    python -m loadtests.runners.open_arrivals --hand-offs sync --rhos 0.5 --out /tmp/open
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from lab_hand_offs import hand_off as registered
from lab_hand_offs import names
from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT, Stack, open_stack
from loadtests.analysis import open_plots
from loadtests.analysis.model import (
    textbook_overload_slope,
)
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
from loadtests.publishing import equal_load
from loadtests.publishing.records import run_record, write_table
from loadtests.publishing.tables import text_table

SCRATCH = PROJECT_ROOT / "var" / "bench" / "open"


@dataclass(frozen=True)
class OpenPlan:
    hand_offs: tuple[str, ...] = field(default_factory=names)
    rhos: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
    overload_rho: float | None = 1.2
    delay_s: float = 0.5
    probe_rate: float = 5.0
    celery_concurrency: int = 4
    # The sync worker's queue settles on a time scale of about delay / (1 - rho)^2: its warm-up
    # is one such time and its window `settle_windows` of them (at least `min_window_s`).
    settle_windows: float = 3.0
    min_window_s: float = 30.0
    # The sync queue's tail rests on its few long busy periods: at 5 probes/s a p95 needs about
    # this long to stand on a few dozen slow probes, whatever rho (30 s gave the two generators
    # p95s 40% apart at rho 0.5, on the same schedule).
    min_queue_window_s: float = 90.0
    min_warmup_s: float = 5.0
    overload_window_s: float = 40.0
    # Where the threads generator measures the same schedule again, and the repeats with other
    # seeds (the spread of one point over different Poisson schedules).
    second_generator_rhos: tuple[float, ...] = (0.5, 0.9)
    repeat_rhos: tuple[float, ...] = (0.9,)
    repeats: int = 2
    email_wait_s: float = 20.0
    out: Path = RESULTS_DIR / "open"

    def rate(self, rho: float) -> float:
        return rho / self.delay_s

    def relaxation_s(self, rho: float) -> float:
        return self.delay_s / (1 - rho) ** 2

    def timing(self, hand_off: str, rho: float) -> tuple[float, float]:
        """(warm-up, window) in seconds."""
        if rho >= 1:
            return self.min_warmup_s, self.overload_window_s
        if not registered(hand_off).blocking:
            return self.min_warmup_s, self.min_window_s
        settle = self.relaxation_s(rho)
        window = max(self.min_queue_window_s, self.settle_windows * settle)
        return max(self.min_warmup_s, settle), window

    def points(self) -> list[OpenPoint]:
        rhos = (*self.rhos, *((self.overload_rho,) if self.overload_rho else ()))
        first = [OpenPoint(h, rho, self.delay_s) for h in self.hand_offs for rho in rhos]
        second = [
            OpenPoint(h, rho, self.delay_s, generator="threads")
            for h in self.hand_offs
            for rho in self.second_generator_rhos
            if registered(h).blocking and rho in self.rhos
        ]
        again = [
            OpenPoint(h, rho, self.delay_s, seed=seed)
            for seed in range(2, self.repeats + 1)
            for h in self.hand_offs
            for rho in self.repeat_rhos
            if registered(h).blocking and rho in self.rhos
        ]
        return first + second + again


QUICK = {
    "hand_offs": names("app"),
    "rhos": (0.5, 0.9),
    "overload_rho": None,
    "settle_windows": 1.0,
    "min_window_s": 20.0,
    "min_queue_window_s": 30.0,
    "second_generator_rhos": (),
    "repeats": 1,
    "email_wait_s": 10.0,
    "out": RESULTS_DIR / "local" / "open",
}


def start_stack(base: Settings, plan: OpenPlan, hand_off: str) -> Stack:
    settings = bench_settings(
        base, provider_delay_s=plan.delay_s, celery_concurrency=plan.celery_concurrency
    )
    return open_stack(hand_off, settings)


def measure(base: Settings, plan: OpenPlan, point: OpenPoint) -> dict[str, object]:
    """Run one point; keep its raw requests and deliveries; return its summary row."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
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
    raw_csv, log = SCRATCH / f"{point.name}.csv", SCRATCH / f"{point.name}.log"
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
        until = warmup_s + float(meta["window_end"]) - float(meta["window_start"])
        arrivals = tuple(poisson_arrivals(point.rate, until, point.seed))
        row.update(model_columns(point, arrivals, plan.probe_rate, meta, idle_s))
    return row


def parse_args(argv: list[str] | None) -> OpenPlan:
    parser = runner_parser(__spec__.name, __doc__)
    add = parser.add_argument
    add("--quick", action="store_true", help="sync, celery, asyncio at rho 0.5 and 0.9, short")
    add("--hand-offs", nargs="+", choices=names(), help="default: every one")
    add("--rhos", nargs="+", type=float, help="arrival rates as fractions of 1/delay")
    add("--delay", type=float, dest="delay_s", help="the provider's delay, s")
    add("--out", type=Path, help="results folder")
    args = parser.parse_args(argv)
    changes: dict[str, object] = dict(QUICK) if args.quick else {}
    for key in ("hand_offs", "rhos", "delay_s", "out"):
        value = getattr(args, key)
        if value is not None:
            changes[key] = tuple(value) if isinstance(value, list) else value
    return replace(OpenPlan(), **changes)


def run(plan: OpenPlan, base: Settings) -> pd.DataFrame:
    started = time.time()
    shutil.rmtree(plan.out / "raw", ignore_errors=True)
    points = plan.points()
    print(
        f"Open arrivals: {len(points)} points ({', '.join(plan.hand_offs)} at rho "
        f"{', '.join(f'{r:g}' for r in plan.rhos)}"
        + (f", overload {plan.overload_rho:g}" if plan.overload_rho else "")
        + f"); provider delay {plan.delay_s:g} s, so rho 1 is {1 / plan.delay_s:g} arrivals/s."
    )
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
        plan={k: v for k, v in vars(plan).items() if k != "out"},
    )
    write_table(table, plan.out / "summary.csv", record)
    minutes = (time.time() - started) / 60
    print(f"Wrote {os.path.relpath(plan.out / 'summary.csv', Path.cwd())} ({minutes:.1f} min).")
    print("\nThe same arrivals for every hand-off: homepage p95 / mean (share over 100 ms):")
    steady = open_plots.first_runs(table[table["rho"] < 1])
    print(text_table(equal_load.by_rho(steady, equal_load.home_cell)))
    if plan.out.resolve() == (RESULTS_DIR / "open").resolve():
        equal_load.publish()
        print("README.md: its open-arrivals section now shows this run.")
    return table


def main(argv: list[str] | None = None) -> int:
    return run_plan(parse_args(argv), run)


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
