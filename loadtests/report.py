"""The article's claims next to the measured numbers, each with a verdict.

Everything here is computed from `results/` (summary, throughput, model, environment), so the
terminal report, `results/report.md` and the README's results section always agree.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pandas as pd

from loadtests.plots import fmt_ms

# The targets for the reference run (printed as verdicts, never asserted by timing tests).
CELERY_HOME_P50_MAX_MS = 20.0
SYNC_CELERY_RATIO_MIN = 100.0
CELERY_POST_P50_MAX_MS = 20.0
CELERY_POST_RPS_MIN = 50.0
ASYNC_HOME_P50_MAX_MS = 20.0
MODEL_TOLERANCE = 0.25
REFERENCE_VISITORS = 4


@dataclass(frozen=True)
class Claim:
    key: str
    article: str
    measured: str
    verdict: str  # "reproduced", "not reproduced", "invalid run" or "not measured"


def _value(summary: pd.DataFrame, app: str, endpoint: str, visitors: int, column: str) -> float:
    rows = summary[
        (summary["app"] == app)
        & (summary["endpoint"] == endpoint)
        & (summary["visitors"] == visitors)
    ]
    return float(rows[column].iloc[0]) if len(rows) else float("nan")


def _verdict(ok: bool, valid: bool = True) -> str:
    if not valid:
        return "invalid run"
    return "reproduced" if ok else "not reproduced"


def _valid(frame: pd.DataFrame) -> bool:
    return bool(frame["valid"].all()) if len(frame) else False


def claims(
    summary: pd.DataFrame, throughput: pd.DataFrame | None, model: pd.DataFrame | None
) -> list[Claim]:
    """One line per claim the sweep can answer (C2-C6, C10)."""
    out: list[Claim] = []
    apps = set(summary["app"])
    visitors = sorted(set(summary["visitors"]))
    top = max(visitors)
    ref = REFERENCE_VISITORS if REFERENCE_VISITORS in visitors else top
    delay = summary["smtp_delay_s"].iloc[0]
    home = summary[summary["endpoint"] == "home"]

    if "sync" in apps:
        idle = _value(summary, "sync", "home", min(visitors), "p50_ms")
        busy = _value(summary, "sync", "home", top, "p50_ms")
        busy95 = _value(summary, "sync", "home", top, "p95_ms")
        out.append(
            Claim(
                "C2/C3",
                "homepage ~80 ms becomes ~8 s when ~10 visitors submit the form",
                f"sync homepage p50 {fmt_ms(idle)} idle -> {fmt_ms(busy)} (p95 {fmt_ms(busy95)}) "
                f"with {top} visitors, provider delay {delay:g} s",
                _verdict(busy >= 1000 and busy >= 50 * idle, _valid(home[home["app"] == "sync"])),
            )
        )
        if model is not None and len(model):
            predicted = model[model["visitors"] == ref]["p50_ms"]
            measured = _value(summary, "sync", "home", ref, "p50_ms")
            if len(predicted):
                p = float(predicted.iloc[0])
                naive = float(model[model["visitors"] == ref]["article_ms"].iloc[0])
                error = abs(measured - p) / p if p else float("inf")
                out.append(
                    Claim(
                        "queue",
                        f"a request waits behind the POSTs queued ahead ({ref} visitors; the "
                        f"model within {MODEL_TOLERANCE:.0%})",
                        f"sync homepage p50 {fmt_ms(measured)}; journey model {fmt_ms(p)} "
                        f"({error:.0%} off; the article's visitors x delay says {fmt_ms(naive)})",
                        _verdict(error <= MODEL_TOLERANCE),
                    )
                )

    if "celery" in apps:
        celery_home = home[home["app"] == "celery"]
        worst = float(celery_home["p50_ms"].max())
        out.append(
            Claim(
                "C4 (home)",
                "with Celery the rest of the site stays fast",
                f"Celery homepage p50 at most {fmt_ms(worst)} over 0-{top} visitors "
                f"(target <= {CELERY_HOME_P50_MAX_MS:g} ms)",
                _verdict(worst <= CELERY_HOME_P50_MAX_MS, _valid(celery_home)),
            )
        )
        post = summary[(summary["app"] == "celery") & (summary["endpoint"] == "contact_post")]
        post = post[post["visitors"] > 0]
        if len(post):
            worst_post = float(post["p50_ms"].max())
            out.append(
                Claim(
                    "C4",
                    "the whole POST finishes in about 20 ms",
                    f"Celery POST /contact p50 at most {fmt_ms(worst_post)} "
                    f"(target <= {CELERY_POST_P50_MAX_MS:g} ms, aim <= 5 ms)",
                    _verdict(worst_post <= CELERY_POST_P50_MAX_MS, _valid(post)),
                )
            )
        if "sync" in apps:
            ratios = [
                _value(summary, "sync", "home", v, "p50_ms")
                / _value(summary, "celery", "home", v, "p50_ms")
                for v in visitors
                if v >= REFERENCE_VISITORS
            ]
            if ratios:
                out.append(
                    Claim(
                        "C2 (ratio)",
                        "the difference is orders of magnitude",
                        f"sync/Celery homepage p50 ratio at >= {REFERENCE_VISITORS} visitors: "
                        f"{min(ratios):.0f}x to {max(ratios):.0f}x "
                        f"(target >= {SYNC_CELERY_RATIO_MIN:.0f}x)",
                        _verdict(min(ratios) >= SYNC_CELERY_RATIO_MIN, _valid(home)),
                    )
                )
        delivery = summary[(summary["app"] == "celery") & (summary["endpoint"] == "email_delivery")]
        delivery = delivery[delivery["visitors"] > 0]
        if len(delivery):
            low = delivery.iloc[0]
            high = delivery.iloc[-1]
            out.append(
                Claim(
                    "C10",
                    "the visitor does not care whether the email left after 500 ms or 5 s",
                    f"Celery email delay p50 {fmt_ms(low['p50_ms'])} at {low['visitors']} "
                    f"visitor(s), {fmt_ms(high['p50_ms'])} (max {fmt_ms(high['max_ms'])}, "
                    f"{int(high['pending'])} still queued) at {high['visitors']}: the visitor "
                    "saw none of it",
                    "measured",
                )
            )

    if throughput is not None and len(throughput):
        row = throughput[
            (throughput["app"] == "celery") & (throughput["endpoint"] == "contact_post")
        ]
        bare = throughput[(throughput["app"] == "celery") & (throughput["endpoint"] == "home")]
        if len(row):
            rps = float(row["rps"].iloc[0])
            bare_rps = float(bare["rps"].iloc[0]) if len(bare) else float("nan")
            out.append(
                Claim(
                    "C5",
                    "one process handles ~50 such requests per second",
                    f"one Celery web process: {rps:.0f} contact POSTs/s "
                    f"(bare homepage {bare_rps:.0f}/s, same process, same run)",
                    _verdict(rps >= CELERY_POST_RPS_MIN, _valid(row)),
                )
            )

    if "asyncio" in apps:
        async_home = home[home["app"] == "asyncio"]
        worst = float(async_home["p50_ms"].max())
        post = _value(summary, "asyncio", "contact_post", top, "p50_ms")
        out.append(
            Claim(
                "C6",
                "async/await also avoids the wait (but the POST still waits)",
                f"async homepage p50 at most {fmt_ms(worst)}; its POST p50 {fmt_ms(post)} "
                f"at {top} visitors (provider delay {delay:g} s)",
                _verdict(
                    worst <= ASYNC_HOME_P50_MAX_MS and post >= 1000 * delay * 0.9,
                    _valid(async_home),
                ),
            )
        )
    return out


def headline_table(summary: pd.DataFrame, model: pd.DataFrame | None) -> pd.DataFrame:
    """Homepage p50 / p95 (n) per app and visitor count, plus the model's sync prediction."""
    home = summary[summary["endpoint"] == "home"]
    table = pd.DataFrame({"visitors": sorted(set(home["visitors"]))})
    for app in ("sync", "celery", "asyncio"):
        rows = home[home["app"] == app].set_index("visitors")
        if rows.empty:
            continue
        table[app] = [
            f"{fmt_ms(rows.loc[v, 'p50_ms'])} / {fmt_ms(rows.loc[v, 'p95_ms'])} "
            f"(n={rows.loc[v, 'n']})" + ("" if rows.loc[v, "valid"] else " invalid")
            if v in rows.index
            else ""
            for v in table["visitors"]
        ]
    if model is not None and len(model):
        by_visitors = model.set_index("visitors")
        table["sync, model"] = [
            f"{fmt_ms(by_visitors.loc[v, 'p50_ms'])} / {fmt_ms(by_visitors.loc[v, 'p95_ms'])}"
            if v in by_visitors.index
            else ""
            for v in table["visitors"]
        ]
    return table


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
