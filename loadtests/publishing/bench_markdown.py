"""The bench's report in Markdown (`report.md`, the README's results section): the machine, the
scenarios in words, the tables and the claims, all from the stored files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from loadtests.analysis.claims import Claim
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import PROJECT_ROOT
from loadtests.analysis.summary import (
    STEADY_NOISE_MS,
    STEADY_TOLERANCE,
    collapse_repeats,
    generator_comparison,
)
from loadtests.publishing.records import commit_of
from loadtests.publishing.tables import (
    claims_frame,
    headline_table,
    markdown_table,
    setup_part,
    setups,
)

FED_MEASURED = "fed the service times the one worker spent in the run (from the raw requests)"
FED_NOMINAL = "fed only the provider's delay and the idle homepage time measured while warming up"


def _scenario_text(plan: dict[str, object], model: pd.DataFrame) -> list[str]:
    fed = FED_MEASURED if "post_service_ms" in model else FED_NOMINAL  # the model's columns say
    return [
        f"**Sustained** (the headline): visitors run the journey (GET the form, POST it, read the "
        f"thank-you page, think {plan['think_s']:g} s on average) in a loop, started one after "
        f"another over one predicted journey cycle; the homepage probe runs "
        f"{plan['probe_rate']:g}/s on a fixed schedule. Measuring starts after "
        f"{plan['warmup_cycles']:g} cycles and lasts at least {plan['window_cycles']:g} (and "
        f"{plan['min_window_s']:g} s); a saturated sync app's cycle is visitors x delay, and its "
        f"window is a whole, even number of cycles holding at least {plan['min_posts_served']} "
        "POSTs, so that both halves see the pattern that repeats every cycle. "
        f"A point is *steady* when the p50s of the window's two halves differ by at most "
        f"{STEADY_TOLERANCE:.0%} (or by under {STEADY_NOISE_MS:g} ms).",
        "",
        "**Burst** (the article's picture): that many visitors open the form, then press send at "
        "the same instant, once; the probe runs until the last POST is answered.",
        "",
        "**The model** (`loadtests/analysis/model.py`): a discrete-event simulation of the same "
        f"schedule through a FIFO queue with the web tier's slots, {fed}; the burst's "
        "prediction is a formula (N x delay for the first probe, less for each later one). It "
        "cannot see what else holds the worker: the machine's other processes on shared cores, "
        "a slow first request, connections accepted out of order.",
    ]


def render_report(
    out: Path,
    *,
    summary: pd.DataFrame,
    model: pd.DataFrame,
    burst: pd.DataFrame,
    found: list[Claim],
    env: dict[str, Any],
) -> str:
    """The run in Markdown: machine, scenarios, tables, claims. Links are relative to the repo."""
    machine, plan = env["machine"], env["plan"]
    rel = os.path.relpath(out, PROJECT_ROOT)
    repeats = int(plan.get("repeats", 1))
    lines = [
        f"Measured {env['date']} on {machine['cpu_model']} ({machine['cores']} cores), "
        f"{machine['os']}, Python {machine['python']}, Locust {env['packages']['locust']}; "
        f"commit {commit_of(env)}; the bench took {env['wall_time_s'] / 60:.1f} minutes. "
        f"Web tier for every app: {'/'.join(map(str, plan['web_workers']))} gunicorn worker(s) "
        f"x {'/'.join(map(str, plan['web_threads']))} thread(s); provider delay "
        f"{plan['delay_s']:g} s.",
        "",
        *_scenario_text(plan, model),
    ]
    table = collapse_repeats(summary[summary["generator"] == "locust"])
    several = len(setups(summary)) > 1
    for setup in setups(summary):
        part = setup_part(table, setup)
        label = " ({} worker(s) x {} thread(s), Celery pool {})".format(*setup) if several else ""
        runs = (
            f"the median of {repeats} runs at {plan['repeat_visitors']} visitors [min-max]"
            if repeats > 1
            else "one run per point"
        )
        lines += [
            "",
            f"Sustained{label}: homepage p50 / p95 (n probes), {runs}:",
            "",
            markdown_table(headline_table(part, setup_part(model, setup))),
            "",
            f"Sustained{label}: POST /contact p50 / p95 (n), and the email's delay over every "
            "accepted email (>=: a lower bound, the percentile reaches emails still queued when "
            "the wait ended):",
            "",
            markdown_table(headline_table(part[part["visitors"] > 0], None, "contact_post")),
            "",
            markdown_table(headline_table(part[part["visitors"] > 0], None, "email_delivery")),
        ]
    if len(burst):
        headers = {
            "drained_s": "last POST answered",
            "predicted_drained_s": "predicted",
            "first_probe_ms": "first probe after",
            "predicted_first_ms": "predicted",
            "worst_probe_ms": "worst probe",
            "median_error_ms": "probes vs formula (median gap)",
        }
        view = burst[["app", "visitors", *headers]].copy()
        for col in headers:
            view[col] = view[col].map(fmt_ms if col.endswith("_ms") else lambda s: f"{s:.1f} s")
        view.columns = ["app", "visitors", *headers.values()]
        lines += [
            "",
            "Burst: when the last POST was answered, and the probes against the formula:",
            "",
            markdown_table(view),
        ]
    both = generator_comparison(summary)
    if len(both):
        view = both.assign(
            locust_ms=both["locust_ms"].map(fmt_ms),
            threads_ms=both["threads_ms"].map(fmt_ms),
            difference=both["difference"].map(lambda d: f"{d:+.0%}"),
        )
        lines += [
            "",
            "Two generators, same journey (p50; Locust's is the median of its runs). "
            "Where the answer takes milliseconds, the gap is the clients' own overhead "
            "(gevent and Locust's client against threads and `http.client`), not the "
            "app's:",
            "",
            markdown_table(view),
        ]
    if found:
        lines += ["", markdown_table(claims_frame(found))]
    figures = sorted(p.name for p in (out / "plots").glob("*.png"))
    lines += [
        "",
        *(
            f"![{name}]({rel}/plots/{name})"
            for name in figures
            if "homepage" in name or "burst" in name
        ),
    ]
    lines += [
        "",
        f"Everything above is computed from `{rel}/summary.csv`, `burst.csv`, `model.csv` and "
        f"`{rel}/raw/`; the machine and every setting are in `{rel}/environment.json`.",
    ]
    return "\n".join(lines) + "\n"
