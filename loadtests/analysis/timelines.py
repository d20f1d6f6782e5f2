"""Figures for the notebooks that read the raw data of single runs: timelines, backlogs, sweeps
of the web tier and the worker pool, the soak. Same style as `plots`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from lab_hand_offs import colour_of
from loadtests.analysis.plots import (
    ARTICLE_COLOUR,
    MODEL_COLOUR,
    annotate_article,
    apply_style,
    endpoint_rows,
    finish,
    log_ms_axis,
)

# Figures for the notebooks: they read the raw data of single runs.


def model_vs_measured(summary: pd.DataFrame, model: pd.DataFrame) -> Figure:
    """The sync app's homepage against the journey model and the article's visitors x delay."""
    apply_style()
    home = endpoint_rows(summary, "home")
    sync = home[home["app"] == "sync"]
    fig, ax = plt.subplots()
    ax.plot(
        sync["visitors"],
        sync["p50_ms"] / 1000,
        "o",
        color=colour_of("sync"),
        markersize=11,
        label="measured p50",
    )
    ax.plot(
        sync["visitors"],
        sync["p95_ms"] / 1000,
        "s",
        color=colour_of("sync"),
        alpha=0.5,
        markersize=9,
        label="measured p95",
    )
    ax.plot(
        model["visitors"],
        model["p50_ms"] / 1000,
        "-",
        color=MODEL_COLOUR,
        label="journey model p50",
    )
    ax.plot(
        model["visitors"],
        model["p95_ms"] / 1000,
        "--",
        color=MODEL_COLOUR,
        alpha=0.6,
        label="journey model p95",
    )
    ax.plot(
        model["visitors"],
        model["article_ms"] / 1000,
        ":",
        color=ARTICLE_COLOUR,
        label="article: visitors x delay",
    )
    ax.set_xlabel("visitors using the contact form (sustained load)")
    ax.set_ylabel("homepage latency (s)")
    gaps = abs(
        sync.set_index("visitors")["p50_ms"] - model.set_index("visitors")["p50_ms"]
    ) / model.set_index("visitors")["p50_ms"].clip(lower=1)
    ax.set_title(
        f"A first-come, first-served queue in front of one worker predicts the measurement\n"
        f"(largest p50 gap {gaps.max():.0%}, at {gaps.idxmax()} visitors); visitors x delay "
        "is the worst moment"
    )
    return finish(fig, ax, sync["visitors"])


def web_tier_sweep(summary: pd.DataFrame, model: pd.DataFrame) -> Figure:
    """Sync homepage p50 vs visitors for each web tier (workers x threads), with the model."""
    apply_style()
    home = endpoint_rows(summary, "home")
    home = home[home["app"] == "sync"]
    fig, ax = plt.subplots()
    tiers = sorted(
        set(zip(home["web_workers"], home["web_threads"], strict=True)),
        key=lambda wt: (wt[0] * wt[1], wt[0]),
    )
    shades = plt.get_cmap("Oranges")
    markers = "osD^v<>"
    for i, (w, t) in enumerate(tiers):
        colour = shades(0.45 + 0.55 * i / max(len(tiers) - 1, 1))
        rows = home[(home["web_workers"] == w) & (home["web_threads"] == t)]
        ax.plot(
            rows["visitors"],
            rows["p50_ms"],
            f"{markers[i % len(markers)]}-",
            color=colour,
            label=f"{w} worker(s) x {t} thread(s) = {w * t} slot(s)",
        )
        m = model[(model["web_workers"] == w) & (model["web_threads"] == t)]
        ax.plot(m["visitors"], m["p50_ms"], ":", color=colour, linewidth=1.8)
    annotate_article(ax)
    log_ms_axis(ax)
    ax.set_xlabel("visitors using the contact form, sustained (dotted: the queueing model)")
    ax.set_ylabel("sync homepage p50 (log scale)")
    ax.set_title(
        "More workers or threads only move the cliff, and not as far as the slots suggest:\n"
        "each worker queues its own connections, so its threads share one line"
    )
    finish(fig, ax, home["visitors"])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, frameon=False)
    fig.tight_layout()
    return fig


def backlog_over_time(backlog: pd.DataFrame, visitors: list[int]) -> Figure:
    """The Celery queue (waiting + being sent) during runs with more and more visitors."""
    apply_style()
    fig, ax = plt.subplots()
    shades = plt.get_cmap("Greens")
    for i, v in enumerate(visitors):
        run = backlog[backlog["visitors"] == v]
        colour = shades(0.4 + 0.6 * i / max(len(visitors) - 1, 1))
        ax.plot(
            run["t_s"], run["queued"] + run["unacked"], "-", color=colour, label=f"{v} visitors"
        )
    ax.axvline(0, color=MODEL_COLOUR, linestyle=":", linewidth=1.2, label="the measured window")
    ax.set_xlabel("seconds from the start of the measured window (the visitors began before it)")
    ax.set_ylabel("emails waiting in Redis or being sent")
    ax.set_title(
        "When visitors submit faster than the workers send, the queue grows\n"
        "steadily: the web app stays fast, the emails arrive later and later"
    )
    ax.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def pool_label(pool: str, concurrency: int) -> str:
    return f"{pool} x{concurrency}"


def pool_sizing(summary: pd.DataFrame) -> Figure:
    """Celery's email worker, one pool per column: the email delay at each load (open marker:
    a lower bound, emails were still queued), and the worker's memory under the load."""
    apply_style()
    mail = summary[(summary["endpoint"] == "email_delivery") & (summary["visitors"] > 0)].copy()
    mail["pool"] = [
        pool_label(p, int(c))
        for p, c in zip(mail["celery_pool"], mail["celery_concurrency"], strict=True)
    ]
    pools = list(dict.fromkeys(mail["pool"]))  # in the order the bench ran them
    x = {p: i for i, p in enumerate(pools)}
    mail["x"] = mail["pool"].map(x)
    mail = mail.sort_values(["visitors", "x"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6.5), gridspec_kw={"width_ratios": [3, 2]})
    shades = plt.get_cmap("Greens")
    levels = sorted(set(mail["visitors"]))
    for i, v in enumerate(levels):
        rows = mail[mail["visitors"] == v]
        colour = shades(0.35 + 0.65 * i / max(len(levels) - 1, 1))
        xs = rows["x"]
        left.plot(xs, rows["p50_ms"] / 1000, "-", color=colour, label=f"{v} visitors")
        bound = rows["queued_at_bound"] > 0
        left.plot(xs[~bound], rows["p50_ms"][~bound] / 1000, "o", color=colour)
        left.plot(
            xs[bound],
            rows["p50_ms"][bound] / 1000,
            "o",
            color=colour,
            fillstyle="none",
            markersize=11,
        )
    left.set_xticks(range(len(pools)), pools)
    left.set_ylabel("email delay p50 (s; open: at least)")
    left.legend(frameon=False, loc="upper right")
    memory = mail.groupby("pool", sort=False)["worker_memory_mb"].max().reindex(pools)
    measure = "/".join(sorted(set(mail["memory_measure"].dropna())))
    right.bar(range(len(pools)), memory, color=colour_of("celery"))
    for i, mb in enumerate(memory):
        right.annotate(f"{mb:.0f}", (i, mb), ha="center", va="bottom", fontsize=12)
    right.set_xticks(range(len(pools)), pools, rotation=20)
    right.set_ylabel(f"worker memory under load\n(MB, {measure}, pool included)")
    top = mail[mail["visitors"] == max(levels)].set_index("pool")
    keeping_up = [p for p in pools if p in top.index and top.loc[p, "queued_at_bound"] == 0]
    delay = float(mail["smtp_delay_s"].iloc[0])
    fig.suptitle(
        f"Celery's email worker, provider delay {delay:g} s: at {max(levels)} visitors "
        + (
            ", ".join(f"{p} ({memory[p]:.0f} MB)" for p in keeping_up) + " kept up"
            if keeping_up
            else "no pool kept up"
        )
        + ";\nthe others left emails queued, and their delay grows with the queue",
        fontweight="bold",
        fontsize=15,
    )
    fig.tight_layout()
    return fig


def soak_timeline(
    samples: pd.DataFrame, app: str = "celery", record: dict[str, object] | None = None
) -> Figure:
    """A soak run of `app`: the backlog (accepted, not yet at the provider) and each process's
    memory, during the load, across the web server's restart (marked), and after; `record`: the
    run's JSON, whose figures (what was lost, the web process's memory) the title quotes."""
    apply_style()
    colour = colour_of(app)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    load_end = samples[samples["load"].astype(bool)]["t_s"].max()
    top.plot(samples["t_s"], samples["backlog"], color=colour)
    top.set_ylabel("emails accepted, not yet sent")
    top.axvspan(0, load_end, color=colour, alpha=0.08)
    top.annotate("visitors sending", (load_end / 2, samples["backlog"].max() * 0.9), ha="center")
    greys = iter(["#555555", "#888888", "#AAAAAA", "#333333", "#BBBBBB", "#777777"])
    for column in sorted(c for c in samples.columns if c.startswith("rss_")):
        name = column[4:-3]
        line = {"color": colour, "linewidth": 3} if name == "web" else {"color": next(greys)}
        bottom.plot(samples["t_s"], samples[column], label=name, **line)
    bottom.axvspan(0, load_end, color=colour, alpha=0.08)
    bottom.set_ylabel("resident memory (MB)")
    bottom.set_xlabel("seconds since the load started")
    bottom.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=4, frameon=False)
    loaded = samples[samples["load"].astype(bool)]
    web = loaded["rss_web_mb"].dropna()
    before, after = web.iloc[min(5, len(web) - 1)], web.iloc[-1]
    lost = None
    if record is not None:
        before = record["rss_mb_after_warmup"]["web"]
        after = record["rss_mb_when_load_stopped"]["web"]
        lost = record["lost"]
        restarted = load_end + float(record["restart_s"])
        for ax in (top, bottom):
            ax.axvline(restarted, color=MODEL_COLOUR, linestyle="--", linewidth=1.4)
        top.annotate(" web server restarted", (restarted, samples["backlog"].max() * 0.6))
    top.set_title(
        f"{app}: {int(loaded['backlog'].iloc[-1])} emails waiting when the visitors "
        f"stop{'' if lost is None else f', {lost} never sent'};\nthe web process: "
        f"{before:.0f} MB after warm-up, {after:.0f} MB when the load stopped"
    )
    fig.tight_layout()
    return fig
