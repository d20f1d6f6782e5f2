"""Where each part breaks, from its measured runs (`make bench-capacity`).

- The web process: homepage requests arriving on schedule at a set rate (an open load); how
  many it answers per second, and the homepage's p95. Its capacity is the highest rate it
  keeps up with (answers >= 95% of it) at a p95 <= 100 ms: C5's "requests per second per
  process", from throughput rather than from CPU time alone.
- The Celery email worker: visitors arriving faster or slower than it sends (concurrency /
  provider delay); its backlog's growth per second against the formula, arrival rate minus
  that capacity.
"""

from __future__ import annotations

import pandas as pd

from loadtests.analysis.results import percentile, unanswered

HOME_P95_LIMIT_MS = 100.0
KEEPS_UP = 0.95  # answers at least this share of the offered rate


def web_row(
    app: str, rate: float, requests: pd.DataFrame, meta: dict[str, object]
) -> dict[str, object]:
    """One rate on one app: what was offered, what was answered, how long the answers took. A
    probe never answered counts at what it had waited (the p95 is then a lower bound)."""
    window_s = float(meta["window_end"]) - float(meta["window_start"])
    inside = requests[requests["in_window"].astype(bool)]
    home = inside[inside["endpoint"] == "home"]
    waiting = unanswered(inside, "home")
    latencies = pd.concat([home, waiting])["latency_ms"]
    ok = home["ok"].astype(bool)
    return {
        "app": app,
        "offered_per_s": rate,
        "sent_per_s": (len(home) + len(waiting)) / window_s,
        "answered_per_s": int(ok.sum()) / window_s,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "over_100ms": float((latencies > HOME_P95_LIMIT_MS).mean()),
        "errors": int((~ok).sum()),
        "unanswered": len(waiting),
        "generator_cpu_warnings": len(meta.get("cpu_warnings", [])),
        "window_s": window_s,
    }


def keeps_up(row: pd.Series) -> bool:
    return (
        row["answered_per_s"] >= KEEPS_UP * row["offered_per_s"]
        and row["p95_ms"] <= HOME_P95_LIMIT_MS
        and row["unanswered"] == 0
    )


def web_capacity(table: pd.DataFrame) -> pd.DataFrame:
    """Per app: the highest rate kept up with, and the first one that was not."""
    rows = []
    for app, runs in table.groupby("app", sort=False):
        runs = runs.sort_values("offered_per_s")
        good = runs[runs.apply(keeps_up, axis=1)]
        bad = runs[~runs.apply(keeps_up, axis=1)]
        rows.append(
            {
                "app": app,
                "capacity_per_s": float(good["offered_per_s"].max()) if len(good) else 0.0,
                "broke_at_per_s": float(bad["offered_per_s"].min()) if len(bad) else float("nan"),
                "generator_saturated": bool(runs["generator_cpu_warnings"].gt(0).any()),
            }
        )
    return pd.DataFrame(rows)


def backlog_growth(samples: pd.DataFrame, window: tuple[float, float]) -> float:
    """Emails per second the worker's backlog (queued + taken, not yet acknowledged) grew by
    over the window: from its first sample in the window to its last. (A least-squares slope
    through the samples would weigh the middle of the window: with Poisson arrivals that bunch
    early or late it reads another rate than the backlog's change.)"""
    start, end = window
    inside = samples[(samples["time"] >= start) & (samples["time"] <= end)]
    backlog = (inside["queued"] + inside["unacked"]).to_numpy()
    span = float(inside["time"].iloc[-1] - inside["time"].iloc[0])
    return float(backlog[-1] - backlog[0]) / span


def email_row(
    rate: float,
    concurrency: int,
    delay_s: float,
    requests: pd.DataFrame,
    deliveries: pd.DataFrame,
    samples: pd.DataFrame,
    meta: dict[str, object],
) -> dict[str, object]:
    """One arrival rate against the email worker: its backlog's growth, measured and by the
    formula (arrivals minus concurrency / delay, never below 0)."""
    window = float(meta["window_start"]), float(meta["window_end"])
    window_s = window[1] - window[0]
    inside = requests[requests["in_window"].astype(bool)]
    arrived = int((inside["endpoint"] == "contact_form").sum()) / window_s
    capacity = concurrency / delay_s
    arrived_at = deliveries["arrived"]
    sent = deliveries[(arrived_at >= window[0]) & (arrived_at < window[1])]
    return {
        "offered_per_s": rate,
        "arrived_per_s": arrived,
        "worker_capacity_per_s": capacity,
        "sent_per_s": len(sent) / window_s,
        "backlog_growth_per_s": backlog_growth(samples, window),
        "formula_growth_per_s": max(0.0, arrived - capacity),
        "backlog_at_end": int(
            samples.loc[samples["time"] <= window[1], ["queued", "unacked"]].iloc[-1].sum()
        ),
        "window_s": window_s,
    }
