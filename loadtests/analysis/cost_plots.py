"""The figure of `make bench-cost`: what meeting one target costs each way of growing a hand-off,
in processes and in memory, against the arrival rate; the model's prediction beside."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from lab_hand_offs import colour_of
from loadtests.analysis.cost_plan import family_named
from loadtests.analysis.plots import apply_style

DODGE = 1.025  # each family's x, times this to its rank's power
# (measured column, predicted column, axis label)
PANELS = (
    ("processes", "predicted_processes", "processes (web tier, Redis, workers, push)"),
    ("pss_mb", "predicted_pss_mb", "memory: PSS summed over them (MB)"),
)


def cost_of_target(needed: pd.DataFrame, target: str) -> Figure:
    """Left processes, right PSS, of the smallest measured size that held the target (solid,
    filled), and of the size the model predicted (dashed, hollow); a black triangle where no
    size measured held it: at least that much."""
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(16, 8.5), sharex=True)
    families = needed.groupby("family", sort=False)
    for k, (name, rows) in enumerate(families):
        family = family_named(name)
        colour, rows = colour_of(family.hand_off), rows.sort_values("rate")
        # Dodged a little sideways, so families of the same cost do not hide each other.
        rows = rows.assign(rate=rows["rate"] * DODGE ** (k - (len(families) - 1) / 2))
        held = rows[rows["measured_n"].notna()]
        short = rows[rows["measured_n"].isna()]
        for ax, (measured, predicted, _) in zip(axes, PANELS, strict=True):
            label = name if ax is axes[0] else None
            ax.plot(held["rate"], held[measured], family.marker + "-", color=colour, label=label)
            ax.plot(
                rows["rate"],
                rows[predicted],
                family.marker + "--",
                color=colour,
                fillstyle="none",
                alpha=0.8,
            )
            if len(short) and measured == "processes":
                ax.plot(
                    short["rate"],
                    short[measured],
                    "^",
                    color="black",
                    fillstyle="none",
                    markersize=16,
                )
    key = axes[0]
    key.plot([], [], "k-", label="measured: the smallest size that held")
    key.plot([], [], "k--", label="the model's predicted size")
    key.plot(
        [],
        [],
        "^",
        color="black",
        fillstyle="none",
        markersize=16,
        label="no size measured held: at least this",
    )
    rates = sorted(needed["rate"].unique())
    for ax, (_, _, label) in zip(axes, PANELS, strict=True):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(rates))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlabel("visitors arriving per second (Poisson)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
    fig.legend(loc="lower center", ncols=3, frameon=False, fontsize=11)
    fig.suptitle(_finding(needed) + "\n" + target, fontsize=15, fontweight="bold")
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def _finding(needed: pd.DataFrame) -> str:
    top = needed[needed["rate"] == needed["rate"].max()].dropna(subset=["pss_mb"])
    if top.empty:
        return "The cost of meeting one target, per way of growing each hand-off"
    most, least = top.loc[top["pss_mb"].idxmax()], top.loc[top["pss_mb"].idxmin()]
    finding = (
        f"One target at {most['rate']:g} visitors/s: {most['family']} needs "
        f"{most['pss_mb']:.0f} MB in {most['processes']:.0f} processes"
    )
    if most["family"] == least["family"]:
        return finding
    ratio = most["pss_mb"] / least["pss_mb"] if least["pss_mb"] > 0 else math.nan
    return (
        f"{finding},\n{least['family']} {least['pss_mb']:.0f} MB in "
        f"{least['processes']:.0f} ({ratio:.1f}x less)"
    )
