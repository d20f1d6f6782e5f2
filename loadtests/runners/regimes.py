"""`make bench-regimes`: the closed loop's two stable answers, and what decides between them.

The same sync server (one worker, one thread) and the same journey (the form, the POST, the
thank-you page, think), 10 visitors: once started evenly over one journey cycle (as `make bench`
does), once all at the same instant (as the article pictures them). With one FIFO worker the
thank-you GET of a visitor whose POST was just answered goes to the back of the queue, behind
every POST already waiting, so visitors who start together stay together: the convoy re-forms
every cycle, and a staggered start keeps its spread. Both runs go at once, each on its own
stack: each is one worker waiting on its provider, light on the CPU, and whatever else the
machine does meanwhile falls on both alike. Each lasts `--minutes`; the homepage
probe's p50 in every minute shows that neither level drifts toward the other, and the model
replays both start schedules.

    python -m loadtests.runners.regimes                 # the reference, into results/regimes/
    python -m loadtests.runners.regimes --minutes 1 --visitors 4 --delay 0.5 --bin 10 --out /tmp/r
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT, open_stack
from loadtests.analysis.model import Scenario, cycle_s, simulate
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR, Point, percentile, requests_frame, unanswered
from loadtests.load.cli import exit_status, run_plan, runner_parser
from loadtests.load.drive import Load, bench_settings, generate, warm_up
from loadtests.publishing import equal_load
from loadtests.publishing.records import run_record, write_table

SCRATCH = PROJECT_ROOT / "var" / "bench" / "regimes"
STARTS = ("staggered", "synchronized")


@dataclass(frozen=True)
class RegimePlan:
    visitors: int = 10
    delay_s: float = 2.0
    think_s: float = 1.0
    probe_rate: float = 5.0
    minutes: float = 6.0
    bin_s: float = 60.0  # the series' resolution: the probe's p50 in each bin
    replications: int = 10
    out: Path = RESULTS_DIR / "regimes"

    @property
    def cycle_s(self) -> float:
        return cycle_s(Scenario(self.visitors, self.delay_s, think_s=self.think_s), blocking=True)

    def ramp_s(self, start: str) -> float:
        """Visitors start evenly over one cycle, or (0) at the same instant."""
        return self.cycle_s if start == "staggered" else 0.0

    def load(self, start: str) -> Load:
        return Load(
            ("HomepageProbe", "Visitor"),
            self.visitors + 1,
            think_s=self.think_s,
            probe_rate=self.probe_rate,
            warmup_s=0.0,
            window_s=60.0 * self.minutes,
            ramp_s=self.ramp_s(start),
            drain_max_s=2 * self.visitors * self.delay_s + 30,
        )

    def scenario(self, start: str, service_s: float) -> Scenario:
        return Scenario(
            self.visitors,
            self.delay_s,
            think_s=self.think_s,
            probe_rate=self.probe_rate,
            window_s=60.0 * self.minutes,
            spawn_s=self.ramp_s(start),
            service_s=service_s,
        )

    @property
    def settle_s(self) -> float:
        """What the overall figures leave out: the first two cycles, while the start plays."""
        return 2 * self.cycle_s


def per_bin(
    sent_s: np.ndarray, latency_ms: np.ndarray, bin_s: float
) -> list[tuple[float, float, int]]:
    """(bin start s, p50 ms, n) of the probes sent in each `bin_s` of the window."""
    rows = []
    for k in range(int(sent_s.max() // bin_s) + 1 if len(sent_s) else 0):
        inside = latency_ms[(sent_s >= k * bin_s) & (sent_s < (k + 1) * bin_s)]
        if len(inside):
            p50 = percentile(inside, 50)
            rows.append((k * bin_s, p50, len(inside)))
    return rows


def replayed(scenario: Scenario, seeds: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """The model's homepage probes over `seeds`, pooled: when each was sent (s) and its latency
    (ms). Probes arrive every 1/rate from 0 and the one worker serves them in arrival order, so
    the k-th latency of a replay is the probe sent at k / rate."""
    runs = [simulate(scenario, seed) for seed in seeds]
    sent_s = np.concatenate([np.arange(len(run)) / scenario.probe_rate for run in runs])
    return sent_s, np.concatenate(runs) * 1000


def measure(settings: Settings, plan: RegimePlan, start: str) -> tuple[pd.DataFrame, dict, float]:
    """One closed-loop run; its requests, window metadata and the idle homepage time (s)."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    raw_csv, log = SCRATCH / f"{start}.csv", SCRATCH / f"{start}.log"
    labels = Point.one_worker("sync", plan.visitors, plan.delay_s, settings.celery_concurrency)
    with open_stack("sync", settings) as stack:
        idle_s = warm_up(stack.url)
        meta = generate("locust", stack.url, plan.load(start), raw_csv, log)
        requests = requests_frame(raw_csv, meta, labels)
    shutil.rmtree(stack.run_dir, ignore_errors=True)
    return requests, meta, idle_s


def probes(requests: pd.DataFrame) -> pd.DataFrame:
    """Every homepage probe sent in the window, an unanswered one at what it had waited."""
    inside = requests[requests["in_window"].astype(bool)]
    sent = inside["endpoint"] == "home"
    return pd.concat([inside[sent], unanswered(inside, "home")])


def run(plan: RegimePlan, base: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    started = time.time()
    (plan.out / "raw").mkdir(parents=True, exist_ok=True)
    print(
        f"Closed loop, two starts: sync 1x1, {plan.visitors} visitors, provider "
        f"{plan.delay_s:g} s, think {plan.think_s:g} s, {plan.minutes} minutes, both at once."
    )
    settings = {start: bench_settings(base, provider_delay_s=plan.delay_s) for start in STARTS}
    with ThreadPoolExecutor(len(STARTS)) as pool:
        runs = {start: pool.submit(measure, settings[start], plan, start) for start in STARTS}
    series, summary = [], []
    for start in STARTS:
        requests, meta, idle_s = runs[start].result()
        requests.to_csv(plan.out / "raw" / f"{start}.requests.csv.gz", index=False)
        sent = probes(requests)
        measured = per_bin(sent["t_s"].to_numpy(), sent["latency_ms"].to_numpy(), plan.bin_s)
        model_sent, model_ms = replayed(plan.scenario(start, idle_s), range(plan.replications))
        modelled = per_bin(model_sent, model_ms, plan.bin_s)
        for source, rows in (("measured", measured), ("model", modelled)):
            series += [(start, source, t, p50, n) for t, p50, n in rows]
        after_first = sent[sent["t_s"] >= plan.settle_s]
        model_after = model_ms[model_sent >= plan.settle_s]
        settled = [p50 for t, p50, _ in measured if t >= plan.settle_s]
        posts = requests[(requests["endpoint"] == "contact_post") & requests["in_window"]]
        row = {
            "start": start,
            "visitors": plan.visitors,
            "delay_s": plan.delay_s,
            "ramp_s": plan.ramp_s(start),
            "minutes": plan.minutes,
            "probes": len(sent),
            "unanswered": int((sent["endpoint"] != "home").sum()),
            "p50_ms": percentile(after_first["latency_ms"], 50),
            "p95_ms": percentile(after_first["latency_ms"], 95),
            "settle_s": plan.settle_s,
            "bin_p50_min_ms": min(settled),
            "bin_p50_max_ms": max(settled),
            "model_p50_ms": percentile(model_after, 50),
            "model_p95_ms": percentile(model_after, 95),
            "posts_per_s": len(posts) / (float(meta["window_end"]) - float(meta["window_start"])),
            "cpu_warnings": len(meta.get("cpu_warnings", [])),
        }
        summary.append(row)
        print(
            f"  {start:12} homepage p50 {fmt_ms(row['p50_ms'])} after {plan.settle_s:.0f} s (each "
            f"{plan.bin_s:g} s: {fmt_ms(row['bin_p50_min_ms'])}-{fmt_ms(row['bin_p50_max_ms'])}), "
            f"p95 {fmt_ms(row['p95_ms'])}; model p50 {fmt_ms(row['model_p50_ms'])}; "
            f"{row['posts_per_s']:.2f} POSTs/s"
        )
    table = pd.DataFrame(summary)
    series = pd.DataFrame(series, columns=["start", "source", "t_s", "p50_ms", "n"])
    record = run_record(
        started,
        settings[STARTS[0]],
        wall_time_s=round(time.time() - started, 1),
        plan={k: v for k, v in vars(plan).items() if k != "out"},
        cycle_s=plan.cycle_s,
    )
    write_table(table, plan.out / "summary.csv", record)
    series.to_csv(plan.out / "series.csv", index=False)
    if plan.out.resolve() == (RESULTS_DIR / "regimes").resolve():
        equal_load.publish()
    print(
        f"Wrote {os.path.relpath(plan.out, Path.cwd())}/ ({(time.time() - started) / 60:.1f} min)."
    )
    return table, series


def parse_args(argv: list[str] | None) -> RegimePlan:
    parser = runner_parser(__spec__.name, __doc__)
    add = parser.add_argument
    add("--minutes", type=float, help="length of each run (default 6)")
    add("--bin", type=float, dest="bin_s", help="the series' bins, s (default 60)")
    add("--visitors", type=int, help="closed-loop visitors (default 10)")
    add("--delay", type=float, dest="delay_s", help="the provider's delay, s (default 2)")
    add("--think", type=float, dest="think_s", help="mean think time, s (default 1)")
    add("--out", type=Path, help="results folder (default results/regimes/)")
    args = parser.parse_args(argv)
    changes = {k: v for k, v in vars(args).items() if v is not None}
    plan = replace(RegimePlan(), **changes)
    first_settled_bin_s = math.ceil(plan.settle_s / plan.bin_s) * plan.bin_s
    if first_settled_bin_s >= 60 * plan.minutes:
        parser.error(
            f"no bin of {plan.bin_s:g} s starts after the first {plan.settle_s:.0f} s (two "
            f"cycles) of {plan.minutes:g} minutes: run longer or pass a shorter --bin"
        )
    return plan


def main(argv: list[str] | None = None) -> int:
    return run_plan(parse_args(argv), run)


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
