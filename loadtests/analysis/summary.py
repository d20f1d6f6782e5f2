"""Summarising one point's raw data into `summary.csv` rows, and repeats into one row.

Every figure of the bench is computed here, the same way for the terminal, the report and the
notebooks: latencies over the requests that started in the window, the window's two halves
(steady or not), and the email's delay over every accepted email, censored where it had not
arrived when the wait ended.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loadtests.analysis.results import SUMMARY_COLUMNS, Point, percentile, posts_with_messages

# Two halves of a window "agree" when their p50s differ by at most this share of the larger one,
# or by less than STEADY_NOISE_MS: a few milliseconds between halves is the scheduler of a shared
# machine, not a transient.
STEADY_TOLERANCE = 0.15
STEADY_NOISE_MS = 5.0


def halves(done: pd.DataFrame, window_s: float) -> tuple[float, float, bool]:
    """p50 of the answered requests that started in the first and in the second half of the
    window, and whether the two agree (the point is in steady state)."""
    ok = done[done["ok"]]
    first = percentile(ok[ok["t_s"] < window_s / 2]["latency_ms"], 50)
    second = percentile(ok[ok["t_s"] >= window_s / 2]["latency_ms"], 50)
    gap = abs(first - second)
    steady = bool(gap <= STEADY_TOLERANCE * max(first, second) or gap < STEADY_NOISE_MS)
    return first, second, steady


def _latency_row(
    point: Point, endpoint: str, done: pd.DataFrame, pending: int, window_s: float, valid: bool
) -> dict[str, object]:
    ok = done[done["ok"]]["latency_ms"]
    first, second, steady = halves(done, window_s)
    return {
        **point.labels(),
        "endpoint": endpoint,
        "n": len(done),
        "errors": int((~done["ok"]).sum()),
        "pending": pending,
        "p50_ms": percentile(ok, 50),
        "p95_ms": percentile(ok, 95),
        "p99_ms": percentile(ok, 99),
        "max_ms": float(ok.max()) if len(ok) else float("nan"),
        "rps": len(ok) / window_s,
        "window_s": window_s,
        "p50_first_half_ms": first,
        "p50_second_half_ms": second,
        "steady": steady,
        "valid": valid,
    }


def email_delays(requests: pd.DataFrame, deliveries: pd.DataFrame, bound_at: float) -> pd.DataFrame:
    """Every email accepted in the window (its POST answered 302), with its delay: from its
    submission to the provider if it arrived, else a lower bound (`censored`): it was still
    queued at `bound_at`, so it waited at least from its POST's answer until then."""
    posted = posts_with_messages(requests)
    accepted = posted[posted["in_window"] & posted["ok"]]
    arrived = {
        (user, seq): delay
        for user, seq, delay in zip(
            deliveries["user"], deliveries["sequence"], deliveries["delay_ms"], strict=True
        )
    }
    rows = []
    for user, seq, start, latency in zip(
        accepted["user"],
        accepted["sequence"],
        accepted["start"],
        accepted["latency_ms"],
        strict=True,
    ):
        if (user, seq) in arrived:
            rows.append((user, seq, arrived[(user, seq)], False))
        else:
            rows.append((user, seq, (bound_at - start) * 1000 - latency, True))
    return pd.DataFrame(rows, columns=["user", "sequence", "delay_ms", "censored"])


def _email_row(
    point: Point, delays: pd.DataFrame, window_s: float, valid: bool
) -> dict[str, object]:
    """Percentiles over every accepted email, the censored ones at their lower bound: a
    percentile below `censored_from_ms` (the smallest lower bound) is exact, one at or above it
    is itself only a lower bound."""
    every = delays["delay_ms"]
    censored = delays[delays["censored"]]
    return {
        **point.labels(),
        "endpoint": "email_delivery",
        "n": len(delays),
        "errors": 0,
        "pending": len(censored),
        "p50_ms": percentile(every, 50),
        "p95_ms": percentile(every, 95),
        "p99_ms": percentile(every, 99),
        "max_ms": float(every.max()) if len(every) else float("nan"),
        "rps": (len(delays) - len(censored)) / window_s,
        "window_s": window_s,
        "accepted": len(delays),
        "delivered": len(delays) - len(censored),
        "queued_at_bound": len(censored),
        "censored_from_ms": float(censored["delay_ms"].min()) if len(censored) else float("nan"),
        "valid": valid,
    }


def is_lower_bound(value: float, censored_from_ms: float) -> bool:
    """Whether an email-delay percentile is only a lower bound (see `_email_row`)."""
    return not np.isnan(censored_from_ms) and value >= censored_from_ms


def summarise_point(
    point: Point,
    requests: pd.DataFrame,
    deliveries: pd.DataFrame,
    window_s: float,
    valid: bool,
    emails_bound_at: float,
) -> list[dict[str, object]]:
    """The summary rows of one point: homepage, contact POST, and email delivery.

    Only requests that started inside the measured window count. `pending` for `home` is the
    number of probes that never got an answer before the run gave up on them; for
    `email_delivery` it is the number of emails accepted in the window that had not reached the
    provider at `emails_bound_at` (their delays count as lower bounds).
    """
    window = requests[requests["in_window"]]
    rows = []
    for endpoint in ("home", "contact_post"):
        answered = window[window["endpoint"] == endpoint]
        pending = int((window["endpoint"] == "pending").sum()) if endpoint == "home" else 0
        rows.append(_latency_row(point, endpoint, answered, pending, window_s, valid))
    delays = email_delays(requests, deliveries, emails_bound_at)
    rows.append(_email_row(point, delays, window_s, valid))
    return rows


def accepted_refs(requests: pd.DataFrame) -> set[tuple[int, int]]:
    """(visitor, sequence) of every email accepted in the window: those the bench waits for."""
    posted = posts_with_messages(requests)
    accepted = posted[posted["in_window"] & posted["ok"]]
    return set(zip(accepted["user"], accepted["sequence"], strict=True))


# The email counts of a point add up (accepted = delivered + still queued) only within one run,
# so a row of repeats takes them from one run, its median run, not a median of each.
EMAIL_COUNTS = ("accepted", "delivered", "queued_at_bound")


def _median_run(rows: pd.DataFrame) -> pd.Series:
    """The repeat whose p50 is nearest the median p50 of the repeats (the first on a tie, or
    where no repeat has a p50)."""
    gaps = (rows["p50_ms"] - rows["p50_ms"].median()).abs()
    return rows.iloc[0] if gaps.isna().all() else rows.loc[gaps.idxmin()]


def collapse_repeats(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per app, visitors, setup, generator and endpoint: the median over the repeats of
    each figure, with `p50_min_ms` / `p50_max_ms` and `repeats`; the email counts of the median
    run; `steady` only if every repeat was, `valid` only if every repeat was."""
    labels = SUMMARY_COLUMNS[: SUMMARY_COLUMNS.index("endpoint") + 1]
    keys = [c for c in labels if c != "repeat"]
    rest = [c for c in summary.columns if c not in keys and c not in ("repeat", "steady", "valid")]
    figures = [c for c in rest if pd.api.types.is_numeric_dtype(summary[c])]
    grouped = summary.groupby(keys, sort=False, dropna=False)
    table = grouped[figures].median().reset_index()
    counts = [c for c in EMAIL_COUNTS if c in figures]
    if counts and "p50_ms" in summary.columns:
        median_runs = grouped[[*counts, "p50_ms"]].apply(_median_run)
        table[counts] = median_runs[counts].to_numpy()
    for column in (c for c in rest if c not in figures):  # words, e.g. the memory measure
        table[column] = grouped[column].first().to_numpy()
    table["p50_min_ms"] = grouped["p50_ms"].min().to_numpy()
    table["p50_max_ms"] = grouped["p50_ms"].max().to_numpy()
    table["repeats"] = grouped["repeat"].nunique().to_numpy()
    table["steady"] = grouped["steady"].all().to_numpy()
    table["valid"] = grouped["valid"].all().to_numpy()
    return table


def generator_comparison(summary: pd.DataFrame) -> pd.DataFrame:
    """Locust beside the threads generator where both ran: homepage and POST p50, difference."""
    table = collapse_repeats(summary)
    table = table[table["endpoint"].isin(["home", "contact_post"])]
    keys = ["app", "visitors", "endpoint"]
    locust = table[table["generator"] == "locust"].set_index(keys)["p50_ms"]
    threads = table[table["generator"] == "threads"].set_index(keys)["p50_ms"]
    both = pd.DataFrame({"locust_ms": locust, "threads_ms": threads}).dropna().reset_index()
    both["difference"] = (both["threads_ms"] - both["locust_ms"]) / both["locust_ms"]
    return both
