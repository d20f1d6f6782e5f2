"""The article's claims next to the measured numbers, each with a verdict.

Everything here is computed from `results/` (summary, model, burst, and the CPU-per-request
table of `make bench-cpu`), so the terminal report, `results/report.md` and the README's results
section always agree. A verdict that uses a point whose window halves disagree says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.summary import collapse_repeats, generator_comparison, is_lower_bound

# The targets for the reference run (printed as verdicts, never asserted by timing tests).
CELERY_HOME_P50_MAX_MS = 20.0
CELERY_POST_P50_MAX_MS = 20.0
CELERY_POST_P50_AIM_MS = 5.0  # the lab's own aim for its Celery POST, not the article's claim
CELERY_POSTS_PER_S_MIN = 50.0
ASYNC_HOME_P50_MAX_MS = 20.0
MODEL_TOLERANCE = 0.20
GENERATOR_TOLERANCE = 0.15
ARTICLE_BUSY_MS = 8000.0
ARTICLE_TOLERANCE = 0.25


@dataclass(frozen=True)
class Claim:
    key: str
    article: str
    measured: str
    verdict: str  # "reproduced", "not reproduced", "invalid run", "measured"; maybe "(not steady)"
    criterion: str = ""  # what the verdict checks, in words a reader can check it by


def _verdict(ok: bool, rows: pd.DataFrame | None = None) -> str:
    if rows is not None and len(rows) and not rows["valid"].all():
        return "invalid run"
    text = "reproduced" if ok else "not reproduced"
    if rows is not None and len(rows) and not rows["steady"].astype(bool).all():
        text += " (not steady)"
    return text


def article_verdict(shape: bool, value_ms: float, rows: pd.DataFrame | None = None) -> str:
    """ "reproduced" only where the article's own ~8 s appears (within 25%), "shape reproduced"
    where only the climb does."""
    verdict = _verdict(shape, rows)
    near = abs(value_ms - ARTICLE_BUSY_MS) <= ARTICLE_TOLERANCE * ARTICLE_BUSY_MS
    return verdict if not shape or near else verdict.replace("reproduced", "shape reproduced")


def _rows(table: pd.DataFrame, app: str, endpoint: str) -> pd.DataFrame:
    rows = table[(table["app"] == app) & (table["endpoint"] == endpoint)]
    return rows.sort_values("visitors").set_index("visitors", drop=False)


def _spread(row: pd.Series) -> str:
    if row.get("repeats", 1) > 1:
        return (
            f" ({fmt_ms(row['p50_min_ms'])}-{fmt_ms(row['p50_max_ms'])} over {row['repeats']} runs)"
        )
    return ""


def crossing(curve: pd.Series, value: float) -> float:
    """Visitors at which a rising p50 curve first reaches `value`, by linear interpolation; NaN
    if it never does."""
    xs, ys = curve.index.to_numpy(dtype=float), curve.to_numpy(dtype=float)
    for i in range(1, len(xs)):
        if ys[i - 1] < value <= ys[i]:
            return float(
                xs[i - 1] + (value - ys[i - 1]) * (xs[i] - xs[i - 1]) / (ys[i] - ys[i - 1])
            )
    return float("nan")


def sync_claims(table: pd.DataFrame, model: pd.DataFrame, burst: pd.DataFrame) -> list[Claim]:
    home = _rows(table, "sync", "home")
    if home.empty:
        return []
    delay = float(home["smtp_delay_s"].iloc[0])
    idle, top = home.iloc[0], home.iloc[-1]
    at = crossing(home["p50_ms"], ARTICLE_BUSY_MS)
    where = (
        f"the sustained p50 reaches 8 s at about {at:.1f} visitors (visitors x delay "
        f"{at * delay:.0f} s)"
        if not math.isnan(at)
        else f"the sustained p50 stays under 8 s up to {int(top['visitors'])} visitors"
    )
    sync_burst = burst[burst["app"] == "sync"] if len(burst) else burst
    if len(sync_burst):
        b = sync_burst.iloc[-1]
        where += (
            f"; in a burst the first probe waits {fmt_ms(b['first_probe_ms'])} after "
            f"{int(b['visitors'])} POSTs at once (predicted {fmt_ms(b['predicted_first_ms'])}): "
            f"8 s at {ARTICLE_BUSY_MS / 1000 / delay:g} visitors x {delay:g} s"
        )
    climbs = bool(top["p50_ms"] >= 1000 and top["p50_ms"] >= 50 * idle["p50_ms"])
    from_idle = (
        ""
        if len(home) == 1
        else f"{fmt_ms(idle['p50_ms'])} "
        + ("idle" if idle["visitors"] == 0 else f"at {int(idle['visitors'])} visitors")
        + " -> "
    )
    out = [
        Claim(
            "C2/C3 (closed loop, staggered start)",
            "homepage ~80 ms becomes ~8 s when ~10 visitors submit the form",
            f"sync homepage p50 {from_idle}{fmt_ms(top['p50_ms'])}{_spread(top)} at "
            f"{int(top['visitors'])} visitors, delay {delay:g} s, visitors started one after "
            f"another; {where}",
            article_verdict(climbs, top["p50_ms"], home),
        )
    ]
    if len(model):
        joined = model.set_index("visitors")["p50_ms"].groupby(level=0).median()
        errors = {
            int(v): abs(home.loc[v, "p50_ms"] - p) / p for v, p in joined.items() if v in home.index
        }
        if errors:
            worst = max(errors, key=errors.get)
            listed = ", ".join(f"{v}: {e:.0%}" for v, e in errors.items())
            out.append(
                Claim(
                    "queue",
                    f"a request waits behind the POSTs queued ahead (the journey model within "
                    f"{MODEL_TOLERANCE:.0%} of the sync p50)",
                    f"model error by visitors {listed}; worst at {worst} visitors "
                    f"(measured {fmt_ms(home.loc[worst, 'p50_ms'])}, model "
                    f"{fmt_ms(joined[worst])}, visitors x delay {worst * delay:g} s)",
                    _verdict(max(errors.values()) <= MODEL_TOLERANCE, home.loc[list(errors)]),
                )
            )
    return out


def celery_claims(
    table: pd.DataFrame, cpu: pd.DataFrame | None, web_capacity: pd.DataFrame | None = None
) -> list[Claim]:
    home, post = _rows(table, "celery", "home"), _rows(table, "celery", "contact_post")
    if home.empty:
        return []
    top = int(home["visitors"].max())
    out = [
        Claim(
            "C4 (home)",
            "with Celery the rest of the site stays fast",
            f"Celery homepage p50 at most {fmt_ms(home['p50_ms'].max())} over 0-{top} visitors "
            f"(target <= {CELERY_HOME_P50_MAX_MS:g} ms)",
            _verdict(home["p50_ms"].max() <= CELERY_HOME_P50_MAX_MS, home),
        )
    ]
    post = post[post["visitors"] > 0]
    if len(post):
        worst = post["p50_ms"].max()
        aim = "met" if worst <= CELERY_POST_P50_AIM_MS else "not met"
        out.append(
            Claim(
                "C4",
                "the whole POST finishes in about 20 ms",
                f"Celery POST /contact p50 at most {fmt_ms(worst)} in make bench "
                f"(target <= {CELERY_POST_P50_MAX_MS:g} ms; the lab's own aim, "
                f"<= {CELERY_POST_P50_AIM_MS:g} ms, {aim})",
                _verdict(worst <= CELERY_POST_P50_MAX_MS, post),
                f"the Celery POST's p50 <= {CELERY_POST_P50_MAX_MS:g} ms at every make bench load",
            )
        )
    sync = _rows(table, "sync", "home")
    busy = [v for v in home.index if v in sync.index and v >= 4]
    if busy:
        ratios = [sync.loc[v, "p50_ms"] / home.loc[v, "p50_ms"] for v in busy]
        out.append(
            Claim(
                "C2 (ratio)",
                "the difference is orders of magnitude",
                f"sync/Celery homepage p50 at >= 4 visitors: {min(ratios):.0f}x to "
                f"{max(ratios):.0f}x. A fixed provider delay over a CPU-bound page time: the "
                "ratio grows on a faster machine and shrinks on a slower one",
                "measured",
            )
        )
    mail = _rows(table, "celery", "email_delivery")
    mail = mail[mail["visitors"] > 0]
    if len(mail):
        low, high = mail.iloc[0], mail.iloc[-1]

        def delay(row: pd.Series) -> str:
            bound = ">= " if is_lower_bound(row["p50_ms"], row["censored_from_ms"]) else ""
            return (
                f"p50 {bound}{fmt_ms(row['p50_ms'])} of {int(row['accepted'])} accepted "
                f"({int(row['queued_at_bound'])} still queued at the bound)"
            )

        at_high = f"{delay(high)} at {int(high['visitors'])} visitors"
        seen = (
            at_high
            if len(mail) == 1
            else f"{delay(low)} at {int(low['visitors'])} visitors; {at_high}"
        )
        out.append(
            Claim(
                "C10",
                "the visitor does not care whether the email left after 500 ms or 5 s",
                f"every accepted email counted: {seen}: the visitor saw none of it, but a queue "
                "fed faster than its workers send only grows",
                "measured",
            )
        )
    if cpu is not None and len(cpu):
        by = cpu.set_index("endpoint")["cpu_ms_per_request"]
        posts_per_s = 1000 / by["contact_post"]
        measured, served = "", True
        if web_capacity is not None and "celery" in set(web_capacity["app"]):
            row = web_capacity.set_index("app").loc["celery"]
            served = row["capacity_per_s"] >= CELERY_POSTS_PER_S_MIN
            broke = row["broke_at_per_s"]
            measured = (
                f"; measured, one process answered every homepage (not the POST) at p95 <= "
                f"100 ms up to {row['capacity_per_s']:.0f}/s "
                + ("(the highest rate tried)" if pd.isna(broke) else f"(not at {broke:.0f}/s)")
                + " (make bench-capacity)"
            )
        out.append(
            Claim(
                "C5",
                "one process handles ~50 such requests per second",
                f"the Celery POST costs the web process {by['contact_post']:.2f} ms of CPU "
                f"({by['contact_post'] / by['home']:.1f}x the homepage's {by['home']:.2f} ms): "
                f"at most {posts_per_s:.0f}/s per busy core "
                f"({cpu.attrs.get('source', 'make bench-cpu, server side')}){measured}",
                _verdict(posts_per_s >= CELERY_POSTS_PER_S_MIN and served),
                f"the POST's CPU time allows >= {CELERY_POSTS_PER_S_MIN:g}/s on one core, and one "
                f"process answered >= {CELERY_POSTS_PER_S_MIN:g} homepages/s at p95 <= 100 ms "
                "(no run offers POSTs at a rising rate)",
            )
        )
    return out


def async_claims(table: pd.DataFrame) -> list[Claim]:
    home, post = _rows(table, "asyncio", "home"), _rows(table, "asyncio", "contact_post")
    if home.empty or post.empty:
        return []
    delay = float(home["smtp_delay_s"].iloc[0])
    top = post.iloc[-1]
    ok = home["p50_ms"].max() <= ASYNC_HOME_P50_MAX_MS and top["p50_ms"] >= 1000 * delay * 0.9
    return [
        Claim(
            "C6",
            "async/await also avoids the wait (but the POST still waits)",
            f"async homepage p50 at most {fmt_ms(home.p50_ms.max())} in make bench; its POST p50 "
            f"{fmt_ms(top['p50_ms'])} at {int(top['visitors'])} visitors (delay {delay:g} s)",
            _verdict(bool(ok), home),
            f"the async homepage's p50 <= {ASYNC_HOME_P50_MAX_MS:g} ms at every make bench load "
            "while its POST still waits (p50 >= 0.9 x the delay)",
        )
    ]


def generator_claim(summary: pd.DataFrame) -> list[Claim]:
    both = generator_comparison(summary)
    sync = both[both["app"] == "sync"]
    if sync.empty:
        return []
    worst = sync.loc[sync["difference"].abs().idxmax()]
    return [
        Claim(
            "2 tools",
            f"a second load generator (threads, not Locust) agrees within "
            f"{GENERATOR_TOLERANCE:.0%} for sync",
            f"largest sync difference {worst['difference']:+.0%} ({worst['endpoint']} at "
            f"{int(worst['visitors'])} visitors: Locust {fmt_ms(worst['locust_ms'])}, threads "
            f"{fmt_ms(worst['threads_ms'])})",
            _verdict(bool(np.abs(sync["difference"]).max() <= GENERATOR_TOLERANCE)),
        )
    ]


def claims(
    summary: pd.DataFrame,
    model: pd.DataFrame,
    burst: pd.DataFrame,
    cpu: pd.DataFrame | None = None,
    web_capacity: pd.DataFrame | None = None,
) -> list[Claim]:
    """One line per claim the run can answer, judged on Locust's runs (median of repeats)."""
    table = collapse_repeats(summary[summary["generator"] == "locust"])
    return [
        *sync_claims(table, model, burst),
        *celery_claims(table, cpu, web_capacity),
        *async_claims(table),
        *generator_claim(summary),
    ]
