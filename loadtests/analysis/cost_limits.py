"""Where `make bench-cost`'s machine runs out of cores, per way of growing a hand-off, and the
model's sizes past the rates measured (it knows no cores), which the run stores as `beyond.csv`
so that its page can state them without running the model again."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from loadtests.analysis.cost_model import (
    Prediction,
    machine_cpu_per_visitor_s,
    machine_limit,
    one_process_limit,
    rate_filling_cores,
)
from loadtests.analysis.cost_plan import CostPlan, family_named
from loadtests.analysis.cost_summary import per_process_mb, predicted_mb


def machine_limits(
    plan: CostPlan, cores: int, measured: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per family, where this machine's cores run out: one visitor's CPU (web tier, worker,
    provider, generator) by the plan's figures and, with `measured`, by this run's; the rate
    that keeps the cores `max_utilisation` busy by each; and, where one web process holds every
    request (threads, an event loop), the rate at which its own CPU fills first."""
    rows = []
    for family in plan.families:
        row = {
            "family": family.name,
            "planned_cpu_ms": 1000 * machine_cpu_per_visitor_s(plan, family),
            "planned_limit_per_s": machine_limit(plan, family, cores),
            "measured_cpu_ms": math.nan,
            "measured_limit_per_s": math.nan,
            "one_process_per_s": math.nan,
        }
        if measured is not None:
            seen = _measured_cpu_ms(plan, measured[measured["family"] == family.name])
            row["measured_cpu_ms"] = seen
            row["measured_limit_per_s"] = rate_filling_cores(plan, seen / 1000, cores)
        if family.grows != "web_workers" or family.kind == "cpu":
            row["one_process_per_s"] = one_process_limit(plan, family)
        rows.append(row)
    return pd.DataFrame(rows)


def beyond_sizes(
    plan: CostPlan,
    cores: int,
    beyond: Mapping[tuple[str, float], Prediction],
    measured: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The model's sizes past the rates measured (it knows no cores): per family and rate, the
    size (NaN: none will do), its processes, their memory at what this run measured each to
    weigh (NaN without `measured`), and whether the rate is past this machine's limit."""
    weights = per_process_mb(measured) if measured is not None else {}
    rows = []
    for family in plan.families:
        for rate in sorted({rate for _, rate in beyond}):
            prediction = beyond[(family.name, rate)]
            rows.append(
                {
                    "family": family.name,
                    "rate": rate,
                    "n": math.nan if prediction.n is None else prediction.n,
                    "processes": prediction.processes,
                    "pss_mb": predicted_mb(prediction, weights) if weights else math.nan,
                    "past_machine": rate > machine_limit(plan, family, cores),
                }
            )
    return pd.DataFrame(rows)


def limits_text(
    plan: CostPlan,
    cores: int,
    beyond: Mapping[tuple[str, float], Prediction],
    measured: pd.DataFrame | None = None,
) -> str:
    """`machine_limits` and `beyond_sizes` for the terminal."""
    lines = [
        f"Where this {cores}-core machine becomes the limit: one visitor's CPU (web tier, "
        "worker, provider, generator; planning figure"
        + (" / this run's)" if measured is not None else ")")
        + f", and the rate that keeps the cores {plan.max_utilisation:.0%} busy:"
    ]
    for r in machine_limits(plan, cores, measured).itertuples():
        text = f"  {r.family}: ~{r.planned_cpu_ms:.0f}"
        text += f" / {r.measured_cpu_ms:.0f} ms" if measured is not None else " ms"
        text += f" -> ~{r.planned_limit_per_s:.0f}"
        text += f" / ~{r.measured_limit_per_s:.0f}" if measured is not None else ""
        text += " visitors/s"
        if not math.isnan(r.one_process_per_s):
            text += f"; its one web process's CPU at ~{r.one_process_per_s:.0f}/s"
        lines.append(text)
    sizes = beyond_sizes(plan, cores, beyond, measured)
    rates = sorted(sizes["rate"].unique())
    lines.append(
        "Past the rates measured, the model (which knows no cores) predicts, at "
        f"{', '.join(f'{r:g}' for r in rates)} visitors/s"
        + (" (memory: each process at what this run measured):" if measured is not None else ":")
    )
    for name, rows in sizes.groupby("family", sort=False):
        cells = ", ".join(size_cell(r) for _, r in rows.iterrows())
        past = [f"{r:g}" for r in rows.loc[rows["past_machine"], "rate"]]
        note = f"; more than this machine at {', '.join(past)}/s" if past else ""
        lines.append(f"  {name}: {cells}{note}")
    if sizes["n"].isna().any():
        lines.append(f"  ({NO_SIZE}: {NO_SIZE_WHY})")
    return "\n".join(lines)


NO_SIZE, NO_SIZE_WHY = "-", "no size will do; threads share one process's CPU: grow processes"


def size_cell(row: pd.Series) -> str:
    """One of the model's sizes: `n (processes[, ~MB])`, or `NO_SIZE`."""
    if pd.isna(row["n"]):
        return NO_SIZE
    mb = "" if pd.isna(row["pss_mb"]) else f", ~{row['pss_mb']:.0f} MB"
    return f"{int(row['n'])} ({int(row['processes'])} processes{mb})"


def _measured_cpu_ms(plan: CostPlan, rows: pd.DataFrame) -> float:
    """One visitor's CPU as this run measured it: three web requests, the worker's send, the
    provider's receipt (each part's idle upkeep spread over the run's requests, so an upper
    bound), and the generator's three requests at the planning figure (what the run measured
    for the generator includes its start-up)."""
    worker = rows.get("worker_cpu_ms_per_email", pd.Series(0.0, index=rows.index)).fillna(0.0)
    site = 3 * rows["web_cpu_ms_per_request"] + worker + rows["provider_cpu_ms_per_email"]
    return float(site.median()) + 3000 * plan.generator_cpu_s


def predictions_frame(predictions: Mapping[tuple[str, float], Prediction]) -> pd.DataFrame:
    """The model's sizes as a table a run stores (`beyond.csv`); n NaN where none will do."""
    return pd.DataFrame(
        {
            "family": p.family.name,
            "rate": p.rate,
            "n": math.nan if p.n is None else p.n,
            "web_workers": p.web_workers,
            "processes": p.processes,
        }
        for p in predictions.values()
    )


def predictions_from(table: pd.DataFrame) -> dict[tuple[str, float], Prediction]:
    """`predictions_frame` read back: the sizes (not the p95s) the model predicted."""
    return {
        (r.family, r.rate): Prediction(
            family_named(r.family), r.rate, None if pd.isna(r.n) else int(r.n), int(r.web_workers)
        )
        for r in table.itertuples()
    }
