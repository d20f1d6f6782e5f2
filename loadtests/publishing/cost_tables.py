"""The tables `make bench-cost` prints: the model's sizes before the run, every configuration
measured, and the smallest size that held beside the predicted one (which its section of
docs/results.md shows too)."""

from __future__ import annotations

import pandas as pd

from loadtests.analysis.cost_model import Prediction
from loadtests.analysis.cost_plan import Family, family_named
from loadtests.analysis.plots import fmt_ms


def predicted(found: dict[tuple[str, float], Prediction]) -> pd.DataFrame:
    rows = []
    for (name, rate), p in found.items():
        o = p.outcome
        rows.append(
            {
                "family": name,
                "rate": f"{rate:g}/s",
                "size": "-" if p.n is None else p.n,
                "web workers": p.web_workers,
                "processes": p.processes,
                "homepage p95": fmt_ms(o.home_p95_ms) if o else "-",
                "POST p95": fmt_ms(o.post_p95_ms) if o else "-",
                "email p95": fmt_ms(o.email_p95_ms) if o else "-",
            }
        )
    return pd.DataFrame(rows)


def configurations(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family": table["family"],
            "rate": table["rate"].map(lambda r: f"{r:g}/s"),
            "size": [f"{n} ({role})" for n, role in zip(table["n"], table["role"], strict=True)],
            "per process": table["per_process"],
            "processes": table["processes"],
            "PSS": table["pss_mb"].map(lambda v: f"{v:.0f} MB"),
            "web CPU/request": table["web_cpu_ms_per_request"].map(lambda v: f"{v:.2f} ms"),
            "worker CPU/email": table.get("worker_cpu_ms_per_email", pd.Series(dtype=float))
            .reindex(table.index)
            .map(lambda v: "-" if pd.isna(v) else f"{v:.1f} ms"),
            "homepage p95": table["home_p95_ms"].map(fmt_ms),
            "POST p95": table["post_p95_ms"].map(fmt_ms),
            "email p95": table["email_p95_ms"].map(fmt_ms),
            "held": table["held"].map({True: "yes", False: "NO"}),
        }
    )


def needed(held: pd.DataFrame) -> pd.DataFrame:
    """Per arrival rate and way of growing (`cost_summary.held_configurations`): the smallest
    size that held and what it cost, the model's prediction in brackets."""
    rows = []
    for _, r in held.iterrows():
        family = family_named(r["family"])
        size = f"{int(r['measured_n'])}" if pd.notna(r["measured_n"]) else f"none of {r['tried']}"
        rows.append(
            {
                "visitors/s": f"{r['rate']:g}",
                "way of growing": family.name,
                "smallest size that held (predicted)": f"{size} ({int(r['predicted_n'])})",
                "web tier (and email senders)": web_tier(family, r),
                "processes (predicted)": f"{int(r['processes'])} ({int(r['predicted_processes'])})",
                "PSS (predicted)": f"{fmt_mb(r['pss_mb'])} ({fmt_mb(r['predicted_pss_mb'])})",
                "web CPU per request": f"{r['web_cpu_ms_per_request']:.2f} ms",
                "verdict": r["verdict"],
            }
        )
    return pd.DataFrame(rows)


def plural(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def size_words(family: Family, count: str, web_workers: int) -> str:
    """What a size (or a range of sizes, `4-7`) runs, in words: `5 workers`, `1 worker x 5
    threads`, `3 email senders beside 1 web worker`."""
    s = "" if count == "1" else "s"
    if family.grows == "celery_concurrency":
        return f"{count} email sender{s} beside {plural(web_workers, 'web worker')}"
    if family.grows == "web_threads":
        return f"{plural(web_workers, 'worker')} x {count} thread{s}"
    return f"{count} worker{s}"


def web_tier(family: Family, row: pd.Series) -> str:
    """The web tier's processes and what each holds at once, and Celery's senders."""
    count, inside = int(row["web_workers"]), row["per_process"]
    workers = plural(count, "worker")
    if "thread" in inside:
        text = f"{workers} x {inside}"
    elif inside == "event loop":
        text = f"{workers} with an event loop{' each' if count > 1 else ''}"
    else:
        text = f"{workers} with {inside}"
    if family.has_queue:
        text += f"; {plural(int(row['celery_concurrency']), 'email sender')}"
    return text


def fmt_mb(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.0f} MB"
