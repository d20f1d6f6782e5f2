"""The burst scenario: every probe's latency against when it was sent, beside the formula.

N visitors press send at the same instant. In a blocking web tier their N POSTs queue ahead of
every probe sent after them, so a probe sent t seconds later waits for the slots to come free:
`model.burst_wait_s(t, N, delay, slots)`, a falling line from N x delay (one slot) down to the
idle time once the last POST is answered. The asyncio and Celery apps are predicted to answer
every probe in their idle time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from loadtests.analysis.model import burst_wait_s
from loadtests.analysis.results import Point, percentile


def predicted_ms(point: Point, sent_after_s: pd.Series, idle_s: float) -> np.ndarray:
    """The formula's latency (ms) for probes sent `sent_after_s` after the burst."""
    if point.app != "sync":
        return np.full(len(sent_after_s), idle_s * 1000)
    slots = point.web_workers * point.web_threads
    waits = [
        burst_wait_s(t, point.visitors, point.smtp_delay_s, slots) if t >= 0 else 0.0
        for t in sent_after_s
    ]
    return (np.array(waits) + idle_s) * 1000


def probes(point: Point, requests: pd.DataFrame, meta: dict[str, object], idle_s: float):
    """The window's homepage probes with `sent_after_s` (from the burst) and `predicted_ms`."""
    home = requests[requests["in_window"] & (requests["endpoint"] == "home")].copy()
    home["sent_after_s"] = home["start"] - float(meta["burst_at"])
    home["predicted_ms"] = predicted_ms(point, home["sent_after_s"], idle_s)
    return home


def summarise(
    point: Point,
    requests: pd.DataFrame,
    meta: dict[str, object],
    idle_s: float,
    predicted_drained_s: float,
) -> dict[str, object]:
    """One row: when the burst drained against its prediction, the first probe after it, the
    worst probe, and how far the probes sat from the formula while it drained."""
    home = probes(point, requests, meta, idle_s)
    after = home[home["sent_after_s"] >= 0]
    drained_at = meta.get("burst_drained_at")
    drained_s = float(drained_at) - float(meta["burst_at"]) if drained_at else float("nan")
    during = after[after["sent_after_s"] < drained_s] if drained_at else after
    first = after.iloc[0] if len(after) else None
    posts = requests[requests["endpoint"] == "contact_post"]
    error = (during["latency_ms"] - during["predicted_ms"]).abs()
    return {
        **{k: v for k, v in point.labels().items() if k not in ("generator", "repeat")},
        "posts": len(posts),
        "posts_ok": int(posts["ok"].sum()),
        "drained_s": drained_s,
        "predicted_drained_s": predicted_drained_s,
        "probes": len(home),
        "probes_during": len(during),
        "first_probe_ms": float(first["latency_ms"]) if first is not None else float("nan"),
        "predicted_first_ms": float(first["predicted_ms"]) if first is not None else float("nan"),
        "worst_probe_ms": float(after["latency_ms"].max()) if len(after) else float("nan"),
        "median_error_ms": percentile(error, 50),
        "unanswered": int((requests["endpoint"] == "pending").sum()),
        "idle_ms": idle_s * 1000,
        "valid": not meta["cpu_warnings"],
    }


def first_probe(results_dir: Path, burst: pd.DataFrame, visitors: int) -> dict[str, float]:
    """The sync app's first probe sent after the burst: its wait, the formula's, and how many of
    the POSTs the generator recorded as sent before it were answered after it (it overtook
    them: the server met the requests in another order than the one the client recorded)."""
    row = burst[(burst["visitors"] == visitors) & (burst["app"] == "sync")].iloc[0]
    raw = pd.read_csv(
        results_dir / "raw" / f"burst-{_point(row).name}.requests.csv.gz", keep_default_na=False
    )
    raw["end_s"] = raw["t_s"] + raw["latency_ms"] / 1000
    after = raw[(raw["endpoint"] == "home") & (raw["sent_after_s"] >= 0)].sort_values("t_s")
    probe = after.iloc[0]
    posts = raw[(raw["endpoint"] == "contact_post") & (raw["t_s"] < probe["t_s"])]
    return {
        "waited_ms": float(probe["latency_ms"]),
        "predicted_ms": float(row["predicted_first_ms"]),
        "posts_before": len(posts),
        "overtaken": int((posts["end_s"] > probe["end_s"]).sum()),
        "delay_s": float(row["smtp_delay_s"]),
    }


def _point(row: pd.Series) -> Point:
    return Point(
        app=str(row["app"]),
        visitors=int(row["visitors"]),
        smtp_delay_s=float(row["smtp_delay_s"]),
        web_workers=int(row["web_workers"]),
        web_threads=int(row["web_threads"]),
        celery_concurrency=int(row["celery_concurrency"]),
        celery_pool=str(row.get("celery_pool", "prefork")),
    )


def timeline_probes(
    results_dir: Path, burst: pd.DataFrame, visitors: int
) -> dict[str, pd.DataFrame]:
    """Per app, the probes of the burst of `visitors`, read from the raw files, with the
    formula's latency beside each (what `plots.burst_timeline` draws)."""
    probes = {}
    for _, row in burst[burst["visitors"] == visitors].iterrows():
        point = _point(row)
        raw = pd.read_csv(
            results_dir / "raw" / f"burst-{point.name}.requests.csv.gz", keep_default_na=False
        )
        home = raw[(raw["endpoint"] == "home") & raw["in_window"].astype(str).eq("True")].copy()
        home["predicted_ms"] = predicted_ms(point, home["sent_after_s"], row["idle_ms"] / 1000)
        probes[point.app] = home
    return probes
