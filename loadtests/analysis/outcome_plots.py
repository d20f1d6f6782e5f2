"""Figures of outcomes rather than latencies over load: what a crash or an outage cost each app
(`make chaos`), and use cases 2-4 (`make bench-api`, `make bench-progress`, `make run-once`).
Same style as `plots`; every title is computed from the frame it draws.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab_hand_offs import colour_of
from loadtests.analysis.plots import apply_style, fmt_ms, log_ms_axis

OUTCOMES = {  # chaos column -> what the visitor and the owner got, and its colour
    "delivered": ("accepted, and delivered", "#009E73"),
    "lost": ('accepted ("thank you"), never delivered', "#000000"),
    "error_page": ("refused with an error page", "#E69F00"),
    "no_answer": ("no answer at all", "#999999"),
}


def crash_outcomes(
    chaos: pd.DataFrame, scenarios: tuple[str, ...], apps: tuple[str, ...]
) -> Figure:
    """For each fault and app: every form submitted during the burst, by what became of it."""
    apply_style()
    rows = chaos[chaos["scenario"].isin(scenarios) & chaos["app"].isin(apps)].copy()
    rows["order"] = rows["scenario"].map(scenarios.index) * 10 + rows["app"].map(apps.index)
    rows = rows.sort_values("order")
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.55 * len(rows)))
    labels = [f"{s}: {a}" for s, a in zip(rows["scenario"], rows["app"], strict=True)]
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    for column, (label, colour) in OUTCOMES.items():
        share = (rows[column] / rows["submitted"]).to_numpy()
        ax.barh(y, share, left=left, color=colour, label=label, edgecolor="white")
        left += share
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the forms submitted during the fault")
    ax.xaxis.set_major_formatter(lambda v, _p: f"{v:.0%}")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.22 - 0.4 / len(rows)), ncols=2, frameon=False
    )
    outage = rows[rows["scenario"] == "provider-outage"].set_index("app")
    refused = ", ".join(
        f"{app} {int(outage.loc[app, 'error_page'])}" for app in apps if app in outage.index
    )
    ax.set_title(
        f"Error pages while the provider was down: {refused};\n"
        f'lost after a "thank you": {int(rows["lost"].sum())} in these {len(rows)} runs'
    )
    fig.tight_layout()
    return fig


def grouped_bars(ax, table, measures, colours, labels, text) -> None:
    """One group of bars per measure (column -> its name), one bar per row of `table`, each
    bar labelled with `text(value)`."""
    width = 0.8 / len(table)
    for i, (_, row) in enumerate(table.iterrows()):
        x = np.arange(len(measures)) + (i - (len(table) - 1) / 2) * width
        values = [row[m] for m in measures]
        ax.bar(x, values, width, color=colours[i], label=labels[i])
        for xi, value in zip(x, values, strict=True):
            ax.annotate(text(value), (xi, value), ha="center", va="bottom", fontsize=11)
    ax.set_xticks(np.arange(len(measures)), list(measures.values()))


def api_lookup(table: pd.DataFrame) -> Figure:
    """Use case 2: the button's answer, the prices on the page, the homepage meanwhile."""
    apply_style()
    fig, ax = plt.subplots(figsize=(12, 6.5))
    measures = {
        "answer_p50_ms": "the button's answer",
        "prices_p50_ms": "prices on the page",
        "homepage_p50_ms": "the homepage meanwhile",
    }
    table = table.assign(prices_p50_ms=table["prices_p50_s"] * 1000)
    colours = [colour_of(app) for app in table["app"]]
    labels = [app for app in table["app"]]
    grouped_bars(ax, table, measures, colours, labels, fmt_ms)
    log_ms_axis(ax)
    ax.set_ylabel("p50 (log scale)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3, frameon=False)
    by_app = table.set_index("app")
    ax.set_title(
        f"{int(by_app['visitors'].iloc[0])} visitors look up prices from a rates API that takes "
        f"{by_app['rates_api_delay_s'].iloc[0]:g} s: the sync homepage takes "
        f"{fmt_ms(by_app.loc['sync', 'homepage_p50_ms'])},\nCelery answers the button in "
        f"{fmt_ms(by_app.loc['celery', 'answer_p50_ms'])} and pushes the prices when they come"
    )
    fig.tight_layout()
    return fig


def run_once(table: pd.DataFrame) -> Figure:
    """Use case 4: the nightly job's runs per tick, by who schedules it."""
    apply_style()
    fig, ax = plt.subplots(figsize=(11, 6))
    measures = {
        "runs": "runs",
        "ticks_without_a_run": "ticks without a run",
        "ticks_with_several_runs": "ticks with several runs",
        "accounts_reminded_more_than_once": "accounts emailed twice",
    }
    # Beat is Celery's: its colour; cron is no app's: greys.
    greys = [colour_of("celery"), "#555555", "#AAAAAA", "#DDDDDD"]
    colours = [greys[i % len(greys)] for i in range(len(table))]
    grouped_bars(ax, table, measures, colours, list(table["mode"]), lambda v: f"{int(v)}")
    ax.set_ylabel("count")
    ax.legend(frameon=False, loc="upper right")
    ticks = int(table["ticks"].iloc[0])
    exact = table[(table["runs"] == ticks) & (table["ticks_without_a_run"] == 0)]["mode"].tolist()
    ax.set_title(
        f"{int(table['web_servers'].iloc[0])} web servers, {ticks} ticks, a rolling deploy: "
        f"once per tick only with {', '.join(exact) or 'none'}"
    )
    fig.tight_layout()
    return fig


def report_progress(events: pd.DataFrame, homepage: dict[str, dict[str, float]]) -> Figure:
    """Use case 3: how much of the report each app's visitor sees over time, from the press of
    the button (`make bench-progress`), and the homepage meanwhile in the legend."""
    apply_style()
    fig, ax = plt.subplots(figsize=(12, 6.5))
    for app, rows in events.groupby("app", sort=False):
        colour = colour_of(app)
        answer = float(rows.loc[rows["event"] == "answer", "t_s"].iloc[0])
        ready = float(rows.loc[rows["event"] == "ready", "t_s"].iloc[0])
        seen = rows[rows["event"].isin(["progress", "ready"])]
        times = [0.0, *seen["t_s"]]
        shown = [0.0, *seen["percent"].fillna(0)]
        label = (
            f"{app}: page after {fmt_ms(answer * 1000)}, "
            f"homepage meanwhile p50 {fmt_ms(homepage[app]['p50_ms'])}"
        )
        ax.step(times, shown, where="post", color=colour, label=label)
        ax.plot([answer], [0 if answer < ready else 100], "o", color=colour, markersize=10)
    ax.set_xlabel("seconds since the visitor pressed 'Generate report' (dot: the POST answered)")
    ax.set_ylabel("progress the visitor sees (%)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=1, frameon=False)
    celery = events[events["app"] == "celery"]
    updates = int((celery["event"] == "progress").sum())
    blind = events[(events["app"] != "celery") & (events["event"] == "ready")]
    ax.set_title(
        f"Celery's page shows {updates} progress updates pushed as the report is built;\n"
        + ", ".join(
            f"{a} shows nothing for {t:.1f} s"
            for a, t in zip(blind["app"], blind["t_s"], strict=True)
        )
        + ", then the file"
    )
    fig.tight_layout()
    return fig
