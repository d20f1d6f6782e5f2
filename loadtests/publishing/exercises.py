"""The class's exercises: each answer is computed (from the model or from the stored runs), so a
student can check a number without seeing it, and the answers notebook shows how it is found.

    from loadtests.publishing.exercises import check
    check("burst", 18)      # -> right, or how far off
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loadtests.analysis.cost_plan import CostPlan, family_named
from loadtests.analysis.model import (
    burst_wait_s,
    predict,
    predict_distribution,
    steady_scenario,
)
from loadtests.analysis.results import RESULTS_DIR, load_raw, load_summary


@dataclass(frozen=True)
class Exercise:
    question: str
    answer: Callable[[], float]
    tolerance: float  # relative: a student's figure within this share of the answer is right
    unit: str


def _burst() -> float:
    return burst_wait_s(sent_after_s=0.0, visitors=6, delay_s=3.0, servers=1)


def _sustained() -> float:
    return predict(steady_scenario(visitors=6, delay_s=2.0), replications=5).p50_s


def _senders() -> float:
    # Little's law: emails per second (20 visitors, one form every 4 s each) x 2 s a send.
    return 20 / 4.0 * 2.0


def _slots() -> float:
    # A target on the share of probes, not on the median: a p50 under 100 ms still leaves
    # nearly half the visitors over it.
    for slots in (1, 2, 4, 8, 16, 32, 64):
        scenario = steady_scenario(12, 2.0, servers=slots)
        if predict_distribution(scenario, replications=3).share_over_100ms <= 0.05:
            return float(slots)
    return float("nan")


def _slow_share(results: Path = RESULTS_DIR) -> float:
    raw = load_raw(results)
    least = int(raw.loc[raw["visitors"] > 0, "visitors"].min())
    probes = raw[(raw["app"] == "sync") & (raw["visitors"] == least) & (raw["endpoint"] == "home")]
    probes = probes[probes["in_window"].astype(bool)]
    return float(100 * (probes["latency_ms"] > 100).mean())


def _lost(results: Path = RESULTS_DIR) -> float:
    chaos = pd.read_csv(results / "chaos.csv").set_index(["scenario", "app"])
    return float(chaos.loc[("web-killed", "asyncio+task"), "lost"])


def _rate(results: Path = RESULTS_DIR) -> float:
    summary = load_summary(results)
    mail = summary[(summary["app"] == "celery") & (summary["endpoint"] == "email_delivery")]
    mail = mail[(mail["generator"] == "locust") & (mail["repeat"] == 1)]
    top = mail[mail["visitors"] == mail["visitors"].max()].iloc[0]
    return float(top["accepted"] / top["window_s"])


def _drain(results: Path = RESULTS_DIR) -> float:
    """Derived, not read: the backlog when the visitors stopped, sent c at a time, d s each."""
    soak = json.loads((results / "soak.json").read_text())
    settings = soak["settings"]
    per_s = settings["celery_concurrency"] / settings["provider_delay_s"]
    return float(soak["backlog_when_load_stopped"]) / per_s


# The sync_workers exercise states `make bench-cost`'s own givens, at one of its rates.
COST_PLAN = CostPlan()
WORKERS_RATE = 4.0
SYNC_WORKERS = family_named("sync x WEB_CONCURRENCY")


def _sync_workers(results: Path = RESULTS_DIR) -> float:
    """Measured, not modelled: the fewest sync workers that held the target at the question's
    rate in the stored `make bench-cost` run, which must have had the question's givens."""
    needed_csv = results / "cost" / "needed.csv"
    stored = json.loads(needed_csv.with_suffix(".json").read_text())["plan"]
    plan = CostPlan.from_record(stored)
    if (plan.delay_s, plan.target) != (COST_PLAN.delay_s, COST_PLAN.target):
        raise ValueError(f"{needed_csv}: measured with other givens than the question states")
    needed = pd.read_csv(needed_csv)
    row = needed[(needed["family"] == SYNC_WORKERS.name) & (needed["rate"] == WORKERS_RATE)]
    if row["measured_n"].isna().all():  # not measured at that rate, or no size tried held
        raise ValueError(f"{needed_csv}: no sync worker count held at {WORKERS_RATE:g}/s")
    return float(row["measured_n"].iloc[0])


EXERCISES = {
    "burst": Exercise(
        "6 visitors press send at the same instant; the provider takes 3 s; the sync app has one "
        "worker. How long does a homepage request sent just after them wait (s)?",
        _burst,
        0.05,
        "s",
    ),
    "sustained": Exercise(
        "6 visitors use the site as in `make bench` (form, send, thank-you, a second of "
        "thinking), provider 2 s, one worker. What does the model give for the homepage p50 (s)?",
        _sustained,
        0.15,
        "s",
    ),
    "senders": Exercise(
        "20 visitors each send the form once every 4 s; the provider takes 2 s per email. How "
        "many Celery senders (processes, threads or greenlets) are busy on average?",
        _senders,
        0.05,
        "senders",
    ),
    "slots": Exercise(
        "With the model: the fewest web slots (workers x threads, a power of two) that answer at "
        "least 95% of the sync homepage's probes within 100 ms, with 12 visitors and a 2 s "
        "provider?",
        _slots,
        0.01,
        "slots",
    ),
    "slow_share": Exercise(
        "From the reference run's raw data: what percentage of the sync app's homepage probes "
        "took over 100 ms at its lightest load (the fewest visitors above none)?",
        _slow_share,
        0.03,
        "%",
    ),
    "arrival_rate": Exercise(
        "From results/summary.csv: how many contact forms per second did the Celery app accept "
        "at the busiest point (accepted emails / window)?",
        _rate,
        0.05,
        "forms/s",
    ),
    "lost": Exercise(
        "From results/chaos.csv: how many accepted emails did `asyncio.create_task` lose when the "
        "web process was killed?",
        _lost,
        0.0,
        "emails",
    ),
    "drain": Exercise(
        "From results/soak.json: when the soak's visitors stopped, emails were still queued "
        "(`backlog_when_load_stopped`); its worker had `celery_concurrency` processes and the "
        "provider took `provider_delay_s` per email (both under `settings`). How many seconds "
        "should the queue take to drain? (Then compare with the measured `drain_s`.)",
        _drain,
        0.05,
        "s",
    ),
    "sync_workers": Exercise(
        f"Visitors arrive at random (Poisson), {WORKERS_RATE:g} a second on average, each "
        "sending the contact form once (the form, the POST, the thank-you page); the provider "
        f"takes {COST_PLAN.delay_s:g} s per email, and each POST holds its worker that long and "
        "a few milliseconds more; the homepage, "
        f"{COST_PLAN.page_s * 1000:g} ms of work, is requested {COST_PLAN.probe_rate:g} times a "
        "second besides; every gunicorn worker of the sync app has one thread. The target: "
        f"{COST_PLAN.target.describe()}. How many workers does the sync app need, at least? "
        "Predict it before you look at anything: `make bench-cost` measured it.",
        _sync_workers,
        0.2,  # about one worker either side: the model and one measured run can differ by one
        "workers",
    ),
}


def check(name: str, value: float) -> bool:
    """Print whether `value` answers exercise `name`, without giving the answer away."""
    exercise = EXERCISES[name]
    expected = exercise.answer()
    right = bool(np.isclose(value, expected, rtol=exercise.tolerance, atol=1e-9))
    if right:
        print(f"{name}: right.")
    else:
        direction = "too high" if value > expected else "too low"
        print(f"{name}: not yet ({direction}). The answers notebook shows how.")
    return right
