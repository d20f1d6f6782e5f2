"""Figures of the equal-load comparisons: every hand-off under the same open arrivals, and the
closed loop's two stable regimes (staggered and synchronized start) over time."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from lab_hand_offs import colour_of
from loadtests.analysis import queue_view
from loadtests.analysis.open_estimates import LEVEL, fmt_pm
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


def open_arrivals(points: pd.DataFrame) -> Figure:
    """Left: homepage p95 (solid) and mean (dotted) against the rho the runs carried, every
    hand-off, each point with its 95% interval; beside the sync line the model's long run and
    the band where one window of the sweep's length lands 8 times in 10. Right: the email
    delay's p50. `points`: `open_estimates.estimates`."""
    apply_style()
    points = points.sort_values("rho")
    fig, (home, mail) = plt.subplots(1, 2, figsize=(16, 7.5), sharex=True)
    for hand_off, rows in points.groupby("hand_off", sort=False):
        colour = colour_of(hand_off)
        x = _carried(rows)
        for stat, style, alpha in (("p95", "o-", 1.0), ("mean", "o:", 0.6)):
            value = rows[f"home_{stat}_ms"]
            bars = [value - rows[f"home_{stat}_low_ms"], rows[f"home_{stat}_high_ms"] - value]
            home.errorbar(
                x,
                value,
                yerr=[b.fillna(0).clip(lower=0) for b in bars],
                fmt=style,
                color=colour,
                alpha=alpha,
                capsize=4,
                label=f"{hand_off} {stat}"
                + (" (steady state)" if rows["method"].iloc[0].startswith("model") else ""),
            )
        mail.plot(x, rows["email_p50_ms"], "o-", color=colour, label=hand_off)
        if "longrun_p95_ms" in rows and rows["longrun_p95_ms"].notna().any():
            measured = rows["windows_p95_ms"]
            home.errorbar(
                x,
                measured,
                yerr=[
                    (measured - rows["windows_p95_low_ms"]).fillna(0).clip(lower=0),
                    (rows["windows_p95_high_ms"] - measured).fillna(0),
                ],
                fmt="o",
                mfc="white",
                color=colour,
                capsize=4,
                label=f"{hand_off} p95, the windows measured",
            )
            home.fill_between(
                x,
                rows["window_p95_p10_ms"],
                rows["window_p95_p90_ms"],
                color=MODEL_COLOUR,
                alpha=0.15,
                label=f"one window's {hand_off} p95, 8 in 10 (model)",
            )
            home.plot(
                x,
                rows["longrun_p95_ms"],
                "x--",
                color=MODEL_COLOUR,
                label=f"model's long run: {hand_off} p95",
            )
    delay_s = float(points["delay_s"].iloc[0])
    top = points[points["rho"] == points["rho"].max()]
    sync = top[top["hand_off"] == "sync"]
    worst = sync.iloc[0] if len(sync) else top.iloc[0]
    slow = top[top["home_p95_ms"] > SLOW_MS]["hand_off"].tolist()
    fig.suptitle(
        f"The same arrivals for every hand-off: a homepage p95 over {SLOW_MS:g} ms at rho "
        f"{top['rho'].iloc[0]:g} for {', '.join(slow) or 'none'} ({worst['hand_off']}"
        + (", steady state" if worst["method"].startswith("model") else "")
        + f": {fmt_pm(worst['home_p95_ms'], worst['home_p95_low_ms'], worst['home_p95_high_ms'])})",
        fontsize=16,
        fontweight="bold",
    )
    schedules = int(points["schedules"].min())
    home.set_title(
        "homepage p95 (solid) and mean (dotted), "
        + (
            f"bars: {LEVEL:.0%} intervals, {schedules} schedules"
            if schedules > 1
            else "one schedule"
        ),
        fontsize=13,
    )
    mail.set_title(f"email delay p50: the provider's {fmt_ms(delay_s * 1000)} for all", fontsize=13)
    log_ms_axis(home)
    mail.set_ylim(0, 1.5 * float(points["email_p50_ms"].max()))
    mail.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_ms(v)))
    for ax in (home, mail):
        ax.set_xlabel("rho carried: the rate offered x the POST's measured time")
    home.set_ylabel("homepage latency")
    mail.set_ylabel("submitted -> accepted by the provider")
    for ax in (home, mail):
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, frameon=False, fontsize=10
        )
    fig.tight_layout()
    return fig


def _carried(rows: pd.DataFrame) -> pd.Series:
    """Where a point sits on the x axis: the rho carried where known, else the one offered."""
    return rows["true_rho"].fillna(rows["rho"]) if "true_rho" in rows else rows["rho"]


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


def class_open_arrivals(points: pd.DataFrame) -> Figure:
    """The class's figure of the open sweep below capacity: left, the homepage p95 each app's
    windows measured, with its 95% interval, and the model's long run for sync; right, what a
    visitor who sends the form waits for its thank-you page (the POST), where the sync queue
    shows. `points`: `open_estimates.estimates`, the class's apps."""
    apply_style()
    points = points.sort_values("rho")
    fig, (home, post) = plt.subplots(1, 2, figsize=(CLASS_WIDTH_IN, 6), sharex=True, sharey=True)
    for hand_off, rows in points.groupby("hand_off", sort=False):
        colour = colour_of(hand_off)
        x = _carried(rows)
        for ax, name in ((home, "windows_p95"), (post, "post_p95")):
            value = rows[f"{name}_ms"]
            bars = [value - rows[f"{name}_low_ms"], rows[f"{name}_high_ms"] - value]
            ax.errorbar(
                x,
                value,
                yerr=[b.fillna(0).clip(lower=0) for b in bars],
                fmt="o-",
                color=colour,
                capsize=4,
                label=hand_off if ax is home else None,
            )
    sync = points[points["hand_off"] == "sync"]
    if "longrun_p95_ms" in sync and sync["longrun_p95_ms"].notna().any():
        home.plot(
            _carried(sync),
            sync["longrun_p95_ms"],
            "x--",
            color=MODEL_COLOUR,
            label="model of sync, a long day",
        )
    top = sync.iloc[-1]
    fig.suptitle(
        f"At rho {top['rho']:g} offered the sync homepage p95 measured "
        f"{fmt_pm(top['windows_p95_ms'], top['windows_p95_low_ms'], top['windows_p95_high_ms'])}"
        ",\nits "
        f"POST p95 {fmt_ms(top['post_p95_ms'])}: both wait in the one worker's queue",
        fontsize=16,
        fontweight="bold",
    )
    schedules = int(points["schedules"].min())
    bars = f"bars: {LEVEL:.0%}, {schedules} schedules" if schedules > 1 else "one schedule"
    home.set_title(f"homepage p95 ({bars})", fontsize=14)
    post.set_title("POST /contact p95 (sending the form)", fontsize=14)
    for ax in (home, post):
        log_ms_axis(ax)
        ax.set_xlabel("rho carried: the rate offered x the POST's time")
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
