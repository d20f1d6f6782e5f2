"""Tables for people: the headline table, and any frame as Markdown or as terminal text."""

from __future__ import annotations

import textwrap

import pandas as pd

from lab_hand_offs import names
from loadtests.analysis.claims import Claim
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.summary import is_lower_bound

# What tells one web tier and Celery worker pool from another in a sweep.
SETUP = ["web_workers", "web_threads", "celery_concurrency", "celery_pool"]


def _cell(row: pd.Series, endpoint: str) -> str:
    p50 = fmt_ms(row["p50_ms"])
    if endpoint == "email_delivery":
        if is_lower_bound(row["p50_ms"], row["censored_from_ms"]):
            p50 = ">= " + p50
        return f"{p50} ({int(row['delivered'])}/{int(row['accepted'])} delivered)"
    text = p50
    if row.get("repeats", 1) > 1:
        text += f" [{fmt_ms(row['p50_min_ms'])}-{fmt_ms(row['p50_max_ms'])}]"
    text += f" / {fmt_ms(row['p95_ms'])} (n={int(row['n'])})"
    if not row["steady"]:
        text += " not steady"
    if not row["valid"]:
        text += " invalid"
    return text


def headline_table(
    table: pd.DataFrame, model: pd.DataFrame | None, endpoint: str = "home"
) -> pd.DataFrame:
    """Per visitor count and app: p50 [min-max of repeats] / p95 (n), from `collapse_repeats`;
    for the email, the median delay of every accepted email and how many arrived. With the
    homepage, the model's sync prediction beside."""
    rows = table[table["endpoint"] == endpoint]
    out = pd.DataFrame({"visitors": sorted(set(rows["visitors"]))})
    for app in names():
        by = rows[rows["app"] == app].set_index("visitors")
        if not by.empty:
            out[app] = [
                _cell(by.loc[v], endpoint) if v in by.index else "" for v in out["visitors"]
            ]
    if endpoint == "home" and model is not None and len(model):
        by_visitors = model.groupby("visitors")[["p50_ms", "p95_ms"]].median()
        out["sync, model"] = [
            f"{fmt_ms(by_visitors.loc[v, 'p50_ms'])} / {fmt_ms(by_visitors.loc[v, 'p95_ms'])}"
            if v in by_visitors.index
            else ""
            for v in out["visitors"]
        ]
    return out


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def claims_frame(items: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame(
        [(c.key, c.article, c.measured, c.verdict) for c in items],
        columns=["claim", "the article", "measured here", "verdict"],
    )


def text_table(frame: pd.DataFrame) -> str:
    """A plain-text table for the terminal; long cells wrap inside their column."""
    widths = {"claim": 10, "the article": 30, "measured here": 52, "verdict": 14}
    cols = list(frame.columns)
    w = [widths.get(c, max([len(c), *(len(str(v)) for v in frame[c])])) for c in cols]
    lines = ["  ".join(c.ljust(x) for c, x in zip(cols, w, strict=True)).rstrip()]
    lines.append("  ".join("-" * x for x in w))
    for row in frame.itertuples(index=False):
        cells = [textwrap.wrap(str(v), x) or [""] for v, x in zip(row, w, strict=True)]
        for i in range(max(len(c) for c in cells)):
            lines.append(
                "  ".join(
                    (c[i] if i < len(c) else "").ljust(x) for c, x in zip(cells, w, strict=True)
                ).rstrip()
            )
    return "\n".join(lines)


def setups(summary: pd.DataFrame) -> list[tuple[int, int, int, str]]:
    """The web tiers and worker pools a run covered, in the order it ran them."""
    pools = summary.get("celery_pool", "prefork")  # runs before the pool could be chosen
    return [
        tuple(row) for row in summary.assign(celery_pool=pools)[SETUP].drop_duplicates().to_numpy()
    ]


def setup_part(frame: pd.DataFrame, setup: tuple[int, int, int, str]) -> pd.DataFrame:
    if frame.empty:
        return frame
    w, t, c, pool = setup
    part = frame[(frame["web_workers"] == w) & (frame["web_threads"] == t)]
    pools = part.get("celery_pool", "prefork")
    return part[(part["app"] != "celery") | ((part["celery_concurrency"] == c) & (pools == pool))]
