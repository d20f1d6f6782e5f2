"""The tables `make bench-cost` prints: the model's sizes before the run, every configuration
measured, and the smallest size that held beside the predicted one."""

from __future__ import annotations

import pandas as pd

from loadtests.analysis.cost_model import Prediction
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


def needed(needed: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family": needed["family"],
            "rate": needed["rate"].map(lambda r: f"{r:g}/s"),
            "predicted": needed["predicted_n"],
            "smallest held": needed["measured_n"].map(lambda v: "none" if pd.isna(v) else int(v)),
            "processes (pred.)": [
                f"{m} ({p})"
                for m, p in zip(needed["processes"], needed["predicted_processes"], strict=True)
            ],
            "PSS (pred.)": [
                f"{fmt_mb(m)} ({fmt_mb(p)})"
                for m, p in zip(needed["pss_mb"], needed["predicted_pss_mb"], strict=True)
            ],
            "verdict": needed["verdict"],
        }
    )


def fmt_mb(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.0f} MB"
