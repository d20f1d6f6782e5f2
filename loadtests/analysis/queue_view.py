"""The queue itself, drawn from the raw requests: what the sync app's only worker is doing at each
moment and who waits for it; and, with more slots, how the homepage's wait splits in two.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab_hand_offs import colour_of
from loadtests.analysis.plots import apply_style, fmt_ms

KINDS = {  # endpoint -> what the worker is serving, and its colour
    "contact_post": ("a visitor's POST (waits for the provider)", colour_of("sync")),
    "contact_form": ("a visitor's form or thank-you page", "#BBBBBB"),
    "thanks": ("a visitor's form or thank-you page", "#BBBBBB"),
    "home": ("a homepage probe", "#000000"),
}
SLOW_MS = 100.0  # a homepage slower than this has waited behind a POST, not for its own work


def served(requests: pd.DataFrame) -> pd.DataFrame:
    """When one worker served each request, first come first served: it finishes them in the
    order they were answered, and starts each when it arrived or when the one before finished,
    whichever is later. Valid for one worker with one thread only."""
    done = requests[requests["endpoint"].isin(list(KINDS))].copy()
    done["end_s"] = done["t_s"] + done["latency_ms"] / 1000
    done = done.sort_values("end_s").reset_index(drop=True)
    previous_end = done["end_s"].shift(1, fill_value=-np.inf)
    done["serve_s"] = np.maximum(done["t_s"], previous_end)
    return done


def service_times(requests: pd.DataFrame) -> tuple[float, float]:
    """What one worker spent, in the median, on a POST and on any other page in the window
    (seconds), rebuilt first come first served from when each request was sent and answered."""
    done = served(requests)
    done = done[done["in_window"].astype(bool)]
    spent = done["end_s"] - done["serve_s"]
    is_post = done["endpoint"] == "contact_post"
    return float(spent[is_post].median()), float(spent[~is_post].median())


def waiting(done: pd.DataFrame, grid: np.ndarray) -> pd.DataFrame:
    """How many requests of each kind are queued (sent, not yet being served) at each instant."""
    counts = {}
    for label in dict.fromkeys(k for k, _c in KINDS.values()):
        rows = done[done["endpoint"].map(lambda e, label=label: KINDS[e][0] == label)]
        sent = np.searchsorted(np.sort(rows["t_s"].to_numpy()), grid, side="right")
        started = np.searchsorted(np.sort(rows["serve_s"].to_numpy()), grid, side="right")
        counts[label] = sent - started
    return pd.DataFrame(counts, index=grid)


def worker_timeline(requests: pd.DataFrame, visitors: int, cycles: float = 2.0) -> Figure:
    """The sync app at `visitors` (one worker, one thread): above, what its worker serves over
    `cycles` journey cycles of the measured window; below, the queue in front of it."""
    apply_style()
    run = requests[(requests["app"] == "sync") & (requests["visitors"] == visitors)]
    run = run[(run["web_workers"] == 1) & (run["web_threads"] == 1)]
    delay = float(run["smtp_delay_s"].iloc[0])
    done = served(run)
    span = min(
        cycles * visitors * delay, float(done.loc[done["in_window"].astype(bool), "end_s"].max())
    )
    shown = done[(done["end_s"] > 0) & (done["serve_s"] < span)]
    fig, (lane, queue) = plt.subplots(
        2, 1, figsize=(12, 7), sharex=True, gridspec_kw={"height_ratios": [1, 3]}
    )
    for endpoint, (label, colour) in KINDS.items():
        rows = shown[shown["endpoint"] == endpoint]
        spans = list(zip(rows["serve_s"], rows["end_s"] - rows["serve_s"], strict=True))
        lane.broken_barh(
            spans,
            (0, 1),
            facecolors=colour,
            edgecolor="white",
            linewidth=0.5,
            label=label if endpoint != "thanks" else None,
        )
    lane.set_yticks([])
    lane.set_ylabel("the worker\nserves")
    lane.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False, fontsize=11)
    grid = np.arange(0.0, span, 0.02)
    queued = waiting(done, grid)
    colours = {label: colour for label, colour in KINDS.values()}
    queue.stackplot(
        grid,
        queued.T.to_numpy(),
        colors=[colours[c] for c in queued.columns],
        step="post",
        alpha=0.85,
    )
    queue.set_xlim(0, span)
    queue.set_xlabel("seconds into the measured window")
    queue.set_ylabel("requests waiting for the worker")
    window = done[done["in_window"].astype(bool)]
    posts = window[window["endpoint"] == "contact_post"]
    # The share of the measured window the worker spends on POSTs (any POST's part inside it),
    # and what the utilisation law gives: POSTs arriving per second x what each one holds.
    length = max(float(window["t_s"].max()), 1e-9)
    every_post = done[done["endpoint"] == "contact_post"]
    inside = every_post["end_s"].clip(upper=length) - every_post["serve_s"].clip(lower=0)
    busy = float(inside.clip(lower=0).sum()) / length
    law = len(posts) / length * float((posts["end_s"] - posts["serve_s"]).median())
    probes_waiting = queued["a homepage probe"].max()
    fig.suptitle(
        f"The sync app's only worker, {visitors} visitors: POSTs hold it {busy:.0%} of the "
        f"window (arrivals x service: {law:.0%}), "
        f"each for about {fmt_ms(1000 * (posts['end_s'] - posts['serve_s']).median())};\n"
        f"everyone else queues behind them (up to {int(queued.sum(axis=1).max())} requests, "
        f"{int(probes_waiting)} of them homepage probes)",
        fontweight="bold",
        fontsize=15,
    )
    fig.tight_layout()
    return fig


def probe_distribution(requests: pd.DataFrame, visitors: int) -> Figure:
    """Every homepage probe of the web-tier sweep at `visitors`, one cumulative curve per web
    tier: the share answered within each latency."""
    apply_style()
    fig, ax = plt.subplots(figsize=(12, 7))
    run = requests[(requests["visitors"] == visitors) & (requests["endpoint"] == "home")]
    run = run[run["in_window"].astype(bool)]
    styles = ["-", "--", ":", "-."]
    tiers = run.groupby(["web_workers", "web_threads"])
    # One web tier, one colour far from the others (shades of one colour look alike on a projector).
    tier_colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, max(tiers.ngroups, 2)))
    shares = {}
    for i, ((w, t), probes) in enumerate(tiers):
        ms = np.sort(probes["latency_ms"].to_numpy())
        share = float((ms > SLOW_MS).mean())
        shares[(w, t)] = share
        label = (
            f"{w} worker(s) x {t} thread(s) = {w * t} slot(s): {share:.0%} of probes over "
            f"{SLOW_MS:g} ms, "
            f"median {fmt_ms(float(np.median(ms)))}"
        )
        ax.step(
            ms,
            np.arange(1, len(ms) + 1) / len(ms),
            where="post",
            color=tier_colours[i],
            linestyle=styles[i % len(styles)],
            label=label,
        )
    ax.axvline(SLOW_MS, color="#555555", linewidth=1)
    ax.axhline(0.5, color="#555555", linewidth=1, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("homepage latency (ms, log scale)")
    ax.set_ylabel("share of probes answered within")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=1, frameon=False)
    split = [f"{w}x{t}" for (w, t), s in shares.items() if 0.1 < s < 0.9]
    ax.set_title(
        f"Sync app, {visitors} visitors: a probe either finds a free slot (ms) or waits behind "
        f"POSTs (s);\nthe median lands in whichever group holds more than half"
        + (f" (both groups large: {', '.join(split)})" if split else "")
    )
    fig.tight_layout()
    return fig
