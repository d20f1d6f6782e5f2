"""Summarising `make bench-cost`: what each configuration cost (processes, PSS, CPU per
request), whether the target held, and the smallest size that held beside the predicted one.
Where the machine's cores run out: `cost_limits`."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from loadtests.analysis.cost_model import Prediction, Schedule, outcome
from loadtests.analysis.cost_plan import CostPlan, CostPoint
from loadtests.analysis.results import unanswered

PARTS = ("web", "worker", "redis", "push")
WEB_ENDPOINTS = ("home", "contact_form", "contact_post", "thanks")


def cost_columns(
    point: CostPoint,
    memory: Mapping[str, object],
    cpu_s: Mapping[str, float],
    generator_cpu_s: float,
    requests: pd.DataFrame,
    deliveries: pd.DataFrame,
) -> dict[str, object]:
    """The configuration and what it cost: processes and PSS per part (`memory`: part ->
    `footprint.TreeMemory`), CPU per request of the web tier and per email of the worker
    (`cpu_s`: part -> seconds over the run), the provider's and the generator's beside."""
    size = point.size
    served = requests[requests["endpoint"].isin(WEB_ENDPOINTS)]
    visitors = int((requests["endpoint"] == "contact_form").sum())
    emails = len(deliveries)
    row: dict[str, object] = {
        "family": point.family.name,
        "grows": point.family.grows,
        "rate": point.rate,
        "n": point.n,
        "predicted_n": point.predicted_n,
        "role": point.role,
        **size.settings(),
        "per_process": point.family.per_process(size),
        "processes": sum(m.processes for m in memory.values()),
        "pss_mb": sum(m.pss_mb for m in memory.values()),
    }
    for part in PARTS:
        if part in memory:
            row[f"{part}_processes"] = memory[part].processes
            row[f"{part}_pss_mb"] = memory[part].pss_mb
            row[f"{part}_leader_pss_mb"] = memory[part].leader_pss_mb
    row["web_cpu_ms_per_request"] = 1000 * cpu_s.get("web", math.nan) / max(len(served), 1)
    if "worker" in cpu_s:
        row["worker_cpu_ms_per_email"] = 1000 * cpu_s["worker"] / max(emails, 1)
    site = sum(v for k, v in cpu_s.items() if k != "provider")
    row["site_cpu_ms_per_visitor"] = 1000 * site / max(visitors, 1)
    row["provider_cpu_ms_per_email"] = 1000 * cpu_s.get("provider", math.nan) / max(emails, 1)
    # Its start-up (about a second of CPU) included: a bound, not the cost of one more request.
    row["generator_cpu_ms_per_request"] = 1000 * generator_cpu_s / max(len(requests), 1)
    return row


def model_columns(
    plan: CostPlan, point: CostPoint, long_run: Schedule, window: Schedule
) -> dict[str, object]:
    """The model at this very size: its long-run value (`model_*`) and its replay of the
    schedule this run received (`window_model_*`): one window is one draw, and near the
    threshold the draw can pass where the long run fails, or the reverse."""
    columns: dict[str, object] = {}
    for prefix, schedule in (("model", long_run), ("window_model", window)):
        o = outcome(plan, point.family, schedule, point.n, point.web_workers)
        columns[f"{prefix}_home_p95_ms"] = o.home_p95_ms
        columns[f"{prefix}_post_p95_ms"] = o.post_p95_ms
        columns[f"{prefix}_email_p95_ms"] = o.email_p95_ms
        columns[f"{prefix}_held"] = plan.target.met(o.home_p95_ms, o.post_p95_ms, o.email_p95_ms)
    return columns


def post_failures(requests: pd.DataFrame) -> int:
    """Contact POSTs of the window refused, failed, or still waiting when the run ended."""
    inside = requests[requests["in_window"].astype(bool)]
    posts = inside[inside["endpoint"] == "contact_post"]
    return int((~posts["ok"].astype(bool)).sum()) + len(unanswered(inside, "contact_post"))


def held(plan: CostPlan, row: Mapping[str, object]) -> bool:
    """The target, measured: the three p95s within it, no probe left waiting, no POST lost."""
    p95s = (row.get(f"{what}_p95_ms", math.nan) for what in ("home", "post", "email"))
    return plan.target.met(*p95s) and row["home_unanswered"] == 0 and row["post_failures"] == 0


def per_process_mb(table: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    """(family, part) -> (its leader's PSS, one more child's PSS), medians over the family's
    measured points: what the model's process counts weigh."""
    weights = {}
    for family, rows in table.groupby("family", sort=False):
        for part in PARTS:
            if f"{part}_pss_mb" not in rows or rows[f"{part}_pss_mb"].isna().all():
                continue
            children = rows[f"{part}_processes"] - 1
            child = (rows[f"{part}_pss_mb"] - rows[f"{part}_leader_pss_mb"]) / children
            leader = rows[f"{part}_leader_pss_mb"].median()
            weights[(family, part)] = (leader, child[children > 0].median())
    return weights


def predicted_mb(
    prediction: Prediction, weights: Mapping[tuple[str, str], tuple[float, float]]
) -> float:
    """The predicted configuration's PSS: its processes, each weighing what this run measured
    for its family and part (NaN where the run measured none of that family)."""
    if prediction.size is None:
        return math.nan
    family = prediction.family
    total = 0.0
    for part, count in prediction.size.processes(family.has_queue).items():
        leader, child = weights.get((family.name, part), (math.nan, math.nan))
        total += leader + (child * (count - 1) if count > 1 else 0.0)
    return total


def needed(
    table: pd.DataFrame, predictions: Mapping[tuple[str, float], Prediction]
) -> pd.DataFrame:
    """Per family and rate: the predicted size and the smallest measured size that held, with
    what that one cost; `verdict` says whether one below broke, as predicted."""
    weights = per_process_mb(table)
    rows = []
    for (name, rate), runs in table.groupby(["family", "rate"], sort=False):
        prediction = predictions[(name, rate)]
        good = runs[runs["held"].astype(bool)].sort_values("n")
        below = runs[runs["n"] < prediction.n]
        at = runs[runs["n"] == prediction.n]
        chosen = good.iloc[0] if len(good) else runs.sort_values("n").iloc[-1]
        rows.append(
            {
                "family": name,
                "rate": rate,
                "predicted_n": prediction.n,
                "measured_n": int(chosen["n"]) if len(good) else math.nan,
                "verdict": _verdict(at, below, good),
                "predicted_processes": prediction.processes,
                "processes": int(chosen["processes"]),
                "predicted_pss_mb": predicted_mb(prediction, weights),
                "pss_mb": chosen["pss_mb"] if len(good) else math.nan,
                "web_cpu_ms_per_request": chosen["web_cpu_ms_per_request"],
            }
        )
    return pd.DataFrame(rows)


def _verdict(at: pd.DataFrame, below: pd.DataFrame, good: pd.DataFrame) -> str:
    if at.empty:
        return "not measured at the predicted size"
    if not bool(at["held"].iloc[0]):
        if len(good):
            return f"predicted size missed; {int(good['n'].iloc[0])} held"
        return "predicted size missed, and every size tried above it"
    if below.empty:
        return "held; nothing smaller to try"
    if bool(below["held"].iloc[0]):
        return "held, and so did one below: the model is cautious here"
    return "held; one below broke: as predicted"


def held_configurations(needed: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """`needed`, each row with the settings of the configuration it names: the smallest size
    that held, or, where none did, the largest tried (`n`); the sizes tried (`tried`, for a
    reader: `4-7`) and the smallest of them (`least_tried`)."""
    rows = []
    settings = ("web_workers", "web_threads", "celery_concurrency", "per_process")
    for need in needed.itertuples(index=False):
        runs = table[(table["family"] == need.family) & (table["rate"] == need.rate)]
        n = need.measured_n if pd.notna(need.measured_n) else runs["n"].max()
        config = runs[runs["n"] == n].iloc[0]
        sizes = sorted(int(size) for size in runs["n"].unique())
        tried = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
        rows.append(
            {
                **need._asdict(),
                **config[list(settings)],
                "n": int(n),
                "tried": tried,
                "least_tried": sizes[0],
            }
        )
    return pd.DataFrame(rows)
