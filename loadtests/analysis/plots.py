"""The lab's figures, one style for all: the same colour per app everywhere, big type for a
projector, labelled axes with units, and titles that state the finding.

The sweep writes them to `results/plots/`; the notebooks call the same functions.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from lab_hand_offs import colour_of

MODEL_COLOUR = "#555555"
ARTICLE_COLOUR = "#999999"
ARTICLE_HOME_MS = (80, 8000)  # the article's homepage before and after the form is busy

STYLE = {
    "figure.figsize": (11, 7),
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "font.size": 14,
    "axes.titlesize": 16,
    "axes.titleweight": "bold",
    "axes.labelsize": 14,
    "legend.fontsize": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 2.6,
    "lines.markersize": 8,
}


def apply_style() -> None:
    plt.rcParams.update(STYLE)


def _ms_label(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value:g} ms"


def log_ms_axis(ax: plt.Axes) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_ms_label))

    def minor(value: float, _pos: object = None) -> str:
        low, high = ax.get_ylim()
        return _ms_label(value) if high / max(low, 1e-9) < 30 else ""  # only on a narrow axis

    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def fmt_ms(value: float) -> str:
    """A latency for a title or a table: 2.3 ms, 140 ms, 4.1 s."""
    if math.isnan(value):
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def finish(fig: Figure, ax: plt.Axes, visitors: pd.Series | None = None) -> Figure:
    """Integer visitor ticks, and the legend under the plot where it hides no data."""
    if visitors is not None and len(visitors):
        ax.set_xticks(sorted(set(int(v) for v in visitors)))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3, frameon=False)
    fig.tight_layout()
    return fig


def reference_line(ax: plt.Axes, value: float, text: str, colour: str, style: object) -> None:
    """A labelled horizontal line: the article's figure, or the provider's delay."""
    ax.axhline(value, color=colour, linestyle=style, linewidth=1.4)
    at_right = {"xycoords": ("axes fraction", "data"), "ha": "right", "va": "bottom"}
    ax.annotate(text, (0.995, value), **at_right, color=colour, fontsize=12)


def per_app(ax: plt.Axes, frame: pd.DataFrame, series: tuple[tuple[str, str, float], ...]) -> None:
    """One line per app and series (column, marker, alpha); the app's colour for all of them."""
    for app, rows in frame.groupby("app", sort=False):
        for column, marker, alpha in series:
            what = column.removesuffix("_ms").replace("max", "slowest")
            style = {"color": colour_of(app), "alpha": alpha, "label": f"{app} {what}"}
            ax.plot(rows["visitors"], rows[column], marker, **style)


def endpoint_rows(summary: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    return summary[summary["endpoint"] == endpoint].sort_values("visitors")


ARTICLE_POINTS = ((0, 80, "article: ~80 ms idle"), (10, 8000, "article: ~8 s at ~10 visitors"))


def annotate_article(ax: plt.Axes) -> None:
    """The article's two figures as points where it states them, not lines across every x."""
    for visitors, value, text in ARTICLE_POINTS:
        ax.plot([visitors], [value], "*", color=ARTICLE_COLOUR, markersize=16, zorder=5)
        beside = {"textcoords": "offset points", "xytext": (10, -4)}
        ax.annotate(text, (visitors, value), **beside, color=ARTICLE_COLOUR, fontsize=12)


def spread(ax: plt.Axes, frame: pd.DataFrame) -> None:
    """The min-max of the repeats, where a point ran more than once; hollow: not steady."""
    if "p50_min_ms" not in frame:
        return
    for app, rows in frame.groupby("app", sort=False):
        repeated = rows[rows["repeats"] > 1]
        if len(repeated):
            ax.errorbar(
                repeated["visitors"],
                repeated["p50_ms"],
                yerr=[
                    repeated["p50_ms"] - repeated["p50_min_ms"],
                    repeated["p50_max_ms"] - repeated["p50_ms"],
                ],
                fmt="none",
                ecolor=colour_of(app),
                capsize=6,
                linewidth=1.6,
            )
        shaky = rows[~rows["steady"].astype(bool)]
        if len(shaky):
            ax.plot(
                shaky["visitors"],
                shaky["p50_ms"],
                "o",
                markersize=15,
                fillstyle="none",
                color="black",
                label=f"{app}: halves differ (not steady)",
            )


def homepage_latency(summary: pd.DataFrame, model: pd.DataFrame | None = None) -> Figure:
    """Homepage p50 (solid, min-max of repeats) and p95 (dashed) vs visitors, log scale."""
    apply_style()
    home = endpoint_rows(summary, "home")
    fig, ax = plt.subplots()
    per_app(ax, home, (("p50_ms", "o-", 1.0), ("p95_ms", "s--", 0.6)))
    spread(ax, home)
    if model is not None and len(model):
        # A dotted line through one point draws nothing: a lone model point gets a marker.
        marker = "x" if len(model) == 1 else None
        style = {"color": MODEL_COLOUR, "linewidth": 2.4, "markersize": 12, "marker": marker}
        ax.plot(model["visitors"], model["p50_ms"], ":", **style, label="queueing model p50 (sync)")
    annotate_article(ax)
    log_ms_axis(ax)
    ax.set_xlabel("visitors using the contact form (sustained load, steady state)")
    ax.set_ylabel("homepage latency (log scale)")
    ax.set_title(_homepage_finding(home))
    ticks = pd.concat([home["visitors"], pd.Series([v for v, _, _ in ARTICLE_POINTS])])
    return finish(fig, ax, ticks)  # the article's stars on a tick of their own


def _homepage_finding(home: pd.DataFrame) -> str:
    try:
        sync = home[home["app"] == "sync"].set_index("visitors")["p50_ms"]
        others = home[home["app"].isin(["celery", "asyncio"])]["p50_ms"]
        top = sync.index.max()
        loaded = f"{fmt_ms(sync[top])} with {top} visitors"
        # Idle is the run with no visitors; a run without one (the quick bench) says no idle.
        sync_said = f"{fmt_ms(sync[0])} idle, {loaded}" if 0 in sync.index else loaded
        return (
            f"Sync homepage: {sync_said};\nCelery and async stay under {fmt_ms(others.max())} (p50)"
        )
    except (KeyError, IndexError, ValueError):
        return "Homepage latency while visitors use the contact form"


def contact_post_latency(summary: pd.DataFrame) -> Figure:
    apply_style()
    post = endpoint_rows(summary, "contact_post")
    post = post[post["visitors"] > 0]  # nobody posts when there are no visitors
    fig, ax = plt.subplots()
    per_app(ax, post, (("p50_ms", "o-", 1.0), ("p95_ms", "s--", 0.6)))
    spread(ax, post)
    delay_ms = 1000 * post["smtp_delay_s"].iloc[0]
    reference_line(ax, delay_ms, f"provider delay {fmt_ms(delay_ms)}", MODEL_COLOUR, ":")
    reference_line(ax, 20, "article: ~20 ms with Celery", ARTICLE_COLOUR, (0, (6, 4)))
    log_ms_axis(ax)
    ax.set_xlabel("visitors using the contact form (sustained load, steady state)")
    ax.set_ylabel("POST /contact latency (log scale)")
    celery = post[post["app"] == "celery"]["p50_ms"]
    blocking = post[post["app"].isin(["sync", "asyncio"])]["p50_ms"]
    ax.set_title(
        f"Pressing 'send': Celery answers in {fmt_ms(celery.max())} or less (p50),\n"
        f"sync and async make the visitor wait {fmt_ms(blocking.min())} or more"
        if len(celery) and len(blocking)
        else "POST /contact latency"
    )
    return finish(fig, ax, post["visitors"])


def email_delivery(summary: pd.DataFrame) -> Figure:
    """Submission to arrival at the provider for every accepted email (C10); a percentile that
    includes emails still queued at the bound is a lower bound, drawn as an upward triangle."""
    apply_style()
    delivery = endpoint_rows(summary, "email_delivery")
    delivery = delivery[delivery["visitors"] > 0]
    fig, ax = plt.subplots()
    # A lower bound is not a measurement: the lines join measured points only.
    measured = delivery.copy()
    for column in ("p50_ms", "max_ms"):
        measured.loc[measured[column] >= measured["censored_from_ms"], column] = math.nan
    per_app(ax, measured, (("p50_ms", "o-", 1.0), ("max_ms", "s--", 0.6)))
    label = "at least this (emails still queued)"
    for column in ("p50_ms", "max_ms"):
        bound = delivery[delivery[column] >= delivery["censored_from_ms"]]
        if len(bound):
            ax.plot(
                bound["visitors"],
                bound[column],
                "^",
                markersize=16,
                fillstyle="none",
                color="black",
                label=label,
            )
            label = None  # one legend entry for both
    log_ms_axis(ax)
    ax.set_xlabel("visitors using the contact form (sustained load)")
    ax.set_ylabel("form submitted -> email at provider (log scale)")
    celery = delivery[delivery["app"] == "celery"]
    if len(celery):
        worst = celery.loc[celery["visitors"].idxmax()]
        queued = int(worst["queued_at_bound"])
        rate = worst["accepted"] / worst["window_s"]
        ax.set_title(
            f"Every accepted email counted: at {worst['visitors']} visitors Celery accepted "
            f"{int(worst['accepted'])} ({rate:.1f}/s;\nin a closed loop each app sets its own "
            f"load), {queued} still queued at the bound;\nmedian delay "
            f"{'>= ' if queued and worst['p50_ms'] >= worst['censored_from_ms'] else ''}"
            f"{fmt_ms(worst['p50_ms'])}"
        )
    else:
        ax.set_title("Email delivery delay, every accepted email")
    return finish(fig, ax, delivery["visitors"])


def burst_timeline(probes: dict[str, pd.DataFrame], visitors: int, delay_s: float) -> Figure:
    """Each homepage probe's latency against when it was sent, after `visitors` POSTs arrived at
    the same instant, per app; the formula's prediction drawn over each."""
    apply_style()
    fig, ax = plt.subplots()
    for app, home in probes.items():
        ok = home[home["ok"].astype(str).eq("True")]
        ax.plot(
            ok["sent_after_s"], ok["latency_ms"], "o", color=colour_of(app), alpha=0.7, label=app
        )
        ordered = home.sort_values("sent_after_s")
        ax.plot(
            ordered["sent_after_s"],
            ordered["predicted_ms"],
            "-",
            color=colour_of(app),
            linewidth=1.4,
            alpha=0.9,
        )
    ax.plot([], [], "-", color=MODEL_COLOUR, linewidth=1.4, label="prediction (formula)")
    ax.axvline(0, color=MODEL_COLOUR, linestyle=":", linewidth=1.2)
    # Linear: the sync probes fall on the straight line of a queue draining a POST per delay.
    ax.yaxis.set_major_formatter(FuncFormatter(_ms_label))
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"probe sent, seconds after {visitors} visitors pressed send at once")
    ax.set_ylabel("homepage latency")
    sync = probes.get("sync")
    first = sync[sync["sent_after_s"] >= 0]["latency_ms"].iloc[0] if sync is not None else None
    ax.set_title(
        f"{visitors} visitors press send at once: the next sync homepage waits "
        f"{fmt_ms(first)}\n(predicted {visitors} x {delay_s:g} s), then less as the queue drains"
        if first is not None
        else f"{visitors} visitors press send at once"
    )
    return finish(fig, ax)


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
