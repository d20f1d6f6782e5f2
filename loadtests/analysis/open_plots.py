"""Figures of the equal-load comparisons: every hand-off under the same open arrivals, and the
closed loop's two stable regimes (staggered and synchronized start) over time."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from lab_hand_offs import colour_of
from loadtests.analysis import queue_view
from loadtests.analysis.plots import (
    MODEL_COLOUR,
    apply_style,
    fmt_ms,
    log_ms_axis,
)

REGIME_STYLES = {"measured": "-", "model": "--"}
# One colour per start, all the sync app's: its own colour and black (no other app's colour).
REGIME_COLOURS = {"staggered": "#000000", "synchronized": colour_of("sync")}
SLOW_MS = 100.0  # a homepage slower than this has waited behind a POST
CLASS_WIDTH_IN = 11.0  # the class's figures: at most ~1280 px wide as the notebook stores them


def first_runs(table: pd.DataFrame) -> pd.DataFrame:
    """Each point's Locust run with the common schedule (seed 1): what the lines join."""
    return table[(table["generator"] == "locust") & (table["seed"] == 1)].sort_values("rho")


def open_arrivals(table: pd.DataFrame) -> Figure:
    """Left: homepage p95 (solid) and mean (dotted) against the arrival rate, every hand-off,
    the model's replay beside the sync line; right: the email delay's p50."""
    apply_style()
    runs = first_runs(table[table["rho"] < 1])
    fig, (home, mail) = plt.subplots(1, 2, figsize=(16, 7.5), sharex=True)
    for hand_off, rows in runs.groupby("hand_off", sort=False):
        colour = colour_of(hand_off)
        home.plot(rows["rho"], rows["home_p95_ms"], "o-", color=colour, label=f"{hand_off} p95")
        home.plot(
            rows["rho"],
            rows["home_mean_ms"],
            "o:",
            color=colour,
            alpha=0.6,
            label=f"{hand_off} mean",
        )
        mail.plot(rows["rho"], rows["email_p50_ms"], "o-", color=colour, label=hand_off)
        if "model_p95_ms" in rows and rows["model_p95_ms"].notna().any():
            home.plot(
                rows["rho"],
                rows["model_p95_ms"],
                "x--",
                color=MODEL_COLOUR,
                label=f"model (same arrivals): {hand_off} p95",
            )
    repeats = table[(table["rho"] < 1) & ((table["seed"] > 1) | (table["generator"] != "locust"))]
    for _, row in repeats.iterrows():
        home.plot(
            [row["rho"]],
            [row["home_p95_ms"]],
            "_",
            color=colour_of(row["hand_off"]),
            markersize=18,
            markeredgewidth=2,
        )
    delay_s = float(table["delay_s"].iloc[0])
    sync = runs[runs["hand_off"] == "sync"]
    worst = sync.iloc[-1] if len(sync) else runs.iloc[-1]
    top = runs[runs["rho"] == runs["rho"].max()]
    slow = top[top["home_p95_ms"] > SLOW_MS]["hand_off"].tolist()
    fig.suptitle(
        f"The same arrivals for every hand-off: a homepage p95 over {SLOW_MS:g} ms at rho "
        f"{top['rho'].iloc[0]:g} for {', '.join(slow) or 'none'} (sync: "
        f"{fmt_ms(worst['home_p95_ms'])})",
        fontsize=16,
        fontweight="bold",
    )
    home.set_title("homepage p95 (solid) and mean (dotted)", fontsize=13)
    mail.set_title(f"email delay p50: the provider's {fmt_ms(delay_s * 1000)} for all", fontsize=13)
    log_ms_axis(home)
    mail.set_ylim(0, 1.5 * float(runs["email_p50_ms"].max()))
    mail.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_ms(v)))
    for ax in (home, mail):
        ax.set_xlabel(f"arrivals as a share of the sync worker's capacity (1 / {delay_s:g} s)")
    home.set_ylabel("latency (bars: repeats, other generator)")
    mail.set_ylabel("submitted -> accepted by the provider")
    for ax in (home, mail):
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, frameon=False, fontsize=10
        )
    fig.tight_layout()
    return fig


def regimes_over_time(series: pd.DataFrame) -> Figure:
    """The sync homepage's p50 in each bin of the closed loop, for a staggered and for a
    synchronized start, measured and modelled: two levels, neither drifting to the other."""
    apply_style()
    fig, ax = plt.subplots()
    for (start, source), rows in series.groupby(["start", "source"], sort=False):
        measured = source == "measured"
        ax.plot(
            rows["t_s"] / 60,
            rows["p50_ms"],
            ("o" if measured else "") + REGIME_STYLES[source],
            color=REGIME_COLOURS[start],
            linewidth=2.5 if measured else 1.5,
            label=f"{start} start, {source}",
        )
    levels = series[series["source"] == "measured"].groupby("start")["p50_ms"].median()
    ax.set_title(
        "Same server, same journey: the start decides the level ("
        + ", ".join(f"{start} {fmt_ms(value)}" for start, value in levels.items())
        + ")",
        fontsize=14,
    )
    log_ms_axis(ax)
    ax.set_xlabel("minutes since the visitors started (each point: the probes sent in its bin)")
    ax.set_ylabel("sync homepage p50 (log scale)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, frameon=False)
    fig.tight_layout()
    return fig


def class_open_arrivals(steady: pd.DataFrame) -> Figure:
    """The class's figure of the open sweep below capacity: left, the homepage p95 of each app
    and the model's replay for sync; right, what a visitor who sends the form waits for its
    thank-you page (the POST), where the sync queue shows."""
    apply_style()
    runs = first_runs(steady).sort_values("rho")
    fig, (home, post) = plt.subplots(1, 2, figsize=(CLASS_WIDTH_IN, 6), sharex=True, sharey=True)
    for hand_off, rows in runs.groupby("hand_off", sort=False):
        colour = colour_of(hand_off)
        home.plot(rows["rho"], rows["home_p95_ms"], "o-", color=colour, label=hand_off)
        post.plot(rows["rho"], rows["post_p95_ms"], "o-", color=colour)
    sync = runs[runs["hand_off"] == "sync"]
    if sync["model_p95_ms"].notna().any():
        home.plot(
            sync["rho"], sync["model_p95_ms"], "x--", color=MODEL_COLOUR, label="model of sync"
        )
    top = sync.iloc[-1]
    fig.suptitle(
        f"At rho {top['rho']:g} the sync homepage p95 is {fmt_ms(top['home_p95_ms'])},\nits "
        f"POST p95 {fmt_ms(top['post_p95_ms'])}: both wait in the one worker's queue",
        fontsize=16,
        fontweight="bold",
    )
    home.set_title("homepage p95 (a probe)", fontsize=14)
    post.set_title("POST /contact p95 (sending the form)", fontsize=14)
    for ax in (home, post):
        log_ms_axis(ax)
        ax.set_xlabel("rho: arrivals x provider delay")
    home.set_ylabel("latency (log scale)")
    fig.legend(loc="lower center", ncols=4, frameon=False, fontsize=15)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def class_worker_timeline(requests: pd.DataFrame, visitors: int) -> Figure:
    """The live minute's figure: `queue_view.worker_timeline` at a projector's width, its title
    one finding, its x axis saying which part of the measured window it shows."""
    fig = queue_view.worker_timeline(requests, visitors)
    lane, queue = fig.axes
    inside = requests.loc[requests["in_window"].astype(bool), "t_s"]
    window = float(inside.max() - inside.min())
    span = queue.get_xlim()[1]
    fig.set_size_inches(CLASS_WIDTH_IN, 6.5)
    fig.suptitle(
        f"The sync app's only worker, {visitors} visitors: every request queues behind its POSTs",
        fontsize=16,
        fontweight="bold",
    )
    handles, labels = lane.get_legend_handles_labels()
    lane.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=2,
        frameon=False,
        fontsize=14,
    )
    queue.set_xlabel(f"seconds into the measured window: its first {span:.0f} s of {window:.0f} s")
    fig.tight_layout()
    return fig
