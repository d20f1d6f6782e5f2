"""A small `make bench-cost` run, made up but shaped like a real one, for the tests of what it
publishes: the files its runner writes under results/cost/, in a folder of the test's own
(never the committed results/). Two rates, every way of growing, one of them holding at no size
tried; the needed table and the memory the model's sizes weigh come from the lab's own code."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd

from loadtests.analysis.cost_limits import predictions_frame
from loadtests.analysis.cost_model import Prediction
from loadtests.analysis.cost_plan import CostPlan, CostPoint, family_named
from loadtests.analysis.cost_summary import needed

PLAN = replace(CostPlan(), rates=(2.0, 4.0), beyond_rates=(16.0, 128.0))
# (family, rate, predicted size, the sizes measured and whether each held the target)
RUNS = (
    ("sync x WEB_CONCURRENCY", 2.0, 4, {3: False, 4: True}),
    ("sync x WEB_THREADS", 2.0, 4, {3: False, 4: True}),
    ("sync/gevent x WEB_CONCURRENCY", 2.0, 1, {1: True}),
    ("asyncio x WEB_CONCURRENCY", 2.0, 1, {1: True}),
    ("celery x CELERY_CONCURRENCY", 2.0, 2, {1: True, 2: True}),
    ("sync x WEB_CONCURRENCY", 4.0, 5, {4: False, 5: True}),
    ("sync x WEB_THREADS", 4.0, 5, {4: False, 5: False, 6: False, 7: False}),
    ("sync/gevent x WEB_CONCURRENCY", 4.0, 1, {1: True}),
    ("asyncio x WEB_CONCURRENCY", 4.0, 1, {1: True}),
    ("celery x CELERY_CONCURRENCY", 4.0, 3, {2: False, 3: True}),
)
# The model's sizes past the rates measured: threads stop helping at 128/s (one process's CPU).
BEYOND = {
    "sync x WEB_CONCURRENCY": (12, 74),
    "sync x WEB_THREADS": (12, None),
    "sync/gevent x WEB_CONCURRENCY": (1, 3),
    "asyncio x WEB_CONCURRENCY": (1, 3),
    "celery x CELERY_CONCURRENCY": (11, 70),
}
# PSS per process, MB: (the part's first process, each more one); a web worker per hand-off.
LEADER_MB = {"web": 21.0, "redis": 5.0, "worker": 40.0, "push": 47.0}
CHILD_MB = {"sync": 18.0, "sync/gevent": 23.0, "asyncio": 31.0, "celery": 19.0, "worker": 38.0}
RECORD = {
    "date": "2026-12-07T01:02:03+00:00",
    "machine": {
        "cpu_model": "Fake CPU",
        "cores": 2,
        "os": "Linux",
        "python": "3.11.7",
    },
    "git_commit": "abc1234",
    "git_uncommitted_changes": False,
    "git_uncommitted_files": [],
    "wall_time_s": 2712.0,
    "memory_measure": "PSS",
    "settings": {"provider_delay_s": PLAN.delay_s},
}


def _row(point: CostPoint, held: bool) -> dict[str, object]:
    family, size = point.family, point.size
    row: dict[str, object] = {
        "family": family.name,
        "grows": family.grows,
        "rate": point.rate,
        "n": point.n,
        "predicted_n": point.predicted_n,
        "role": point.role,
        **size.settings(),
        "per_process": family.per_process(size),
    }
    child = {"web": CHILD_MB[family.hand_off], "worker": CHILD_MB["worker"]}
    for part, count in size.processes(family.has_queue).items():
        leader = LEADER_MB[part]
        row[f"{part}_processes"] = count
        row[f"{part}_leader_pss_mb"] = leader
        row[f"{part}_pss_mb"] = leader + child.get(part, 0.0) * (count - 1)
    parts = size.processes(family.has_queue)
    row["processes"] = sum(parts.values())
    row["pss_mb"] = sum(row[f"{part}_pss_mb"] for part in parts)
    row["web_cpu_ms_per_request"] = 1.3 if family.has_queue else 1.6
    row["worker_cpu_ms_per_email"] = 6.0 if family.has_queue else math.nan
    row["provider_cpu_ms_per_email"] = 3.5
    post = 5.0 if family.has_queue else 520.0
    row.update(
        home_p95_ms=40.0 if held else 450.0,
        post_p95_ms=post if held else post * 3,
        email_p95_ms=1100.0 if held else 7200.0,
        home_unanswered=0,
        post_failures=0,
        held=held,
        model_home_p95_ms=30.0 if point.n >= point.predicted_n else 260.0,
    )
    return row


def write_fake_cost_run(results: Path) -> Path:
    """The files of a finished `make bench-cost` under `results`/cost/; returns that folder."""
    rows, predictions = [], {}
    for name, rate, predicted, sizes in RUNS:
        family = family_named(name)
        predictions[(name, rate)] = Prediction(family, rate, predicted)
        for n, held in sizes.items():
            rows.append(_row(CostPoint(family, rate, n, predicted), held))
    table = pd.DataFrame(rows)
    beyond = {
        (name, rate): Prediction(family_named(name), rate, n)
        for name, sizes in BEYOND.items()
        for rate, n in zip(PLAN.beyond_rates, sizes, strict=True)
    }
    record = json.loads(json.dumps({**RECORD, "plan": PLAN.record()}, default=str))
    folder = results / "cost"
    folder.mkdir(parents=True)
    for name, frame in (
        ("summary", table),
        ("needed", needed(table, predictions)),
        ("beyond", predictions_frame(beyond)),
    ):
        frame.to_csv(folder / f"{name}.csv", index=False)
        (folder / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return folder
