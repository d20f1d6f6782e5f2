"""The class playground's figure: what each slot served and every probe's wait for one setting,
and the line above it with the probe's p50 and p95."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from loadtests.analysis.model import Served
from loadtests.analysis.plots import apply_style, fmt_ms
from loadtests.analysis.queue_view import KINDS, SLOW_MS
from loadtests.publishing.playground_model import STEPS, Outcome, Setting, run


def figure(setting: Setting, outcome: Outcome | None = None) -> Figure:
    """Above, what each slot served over the window's first part; below, every probe's wait."""
    apply_style()
    outcome = outcome or run(setting)
    sc = outcome.scenario
    # Open arrivals: the whole window, where the cliff's rare long queues are; a closed loop
    # repeats its cycle, so a few cycles show it at a readable scale.
    span = sc.window_s
    if setting.load == "closed":
        span = min(span, max(20.0, 4 * setting.delay_s * max(setting.visitors, 4)))
    start = sc.warmup_s
    fig, (lanes, waits) = plt.subplots(
        2,
        1,
        figsize=(11, 6),
        sharex=True,
        gridspec_kw={"height_ratios": [max(1, min(setting.slots, 8)), 3]},
    )
    for endpoint, (_label, colour) in KINDS.items():
        spans = [
            (r[2] - start, r[3] - r[2], r[0])
            for r in outcome.served
            if _endpoint(r) == endpoint and r[3] > start and r[2] < start + span
        ]
        for slot in sorted({sp[2] for sp in spans}):
            lanes.broken_barh(
                [(a, w) for a, w, k in spans if k == slot],
                (slot, 0.9),
                facecolors=colour,
                edgecolor="white",
                linewidth=0.4,
            )
    lanes.set_xlim(0, span)
    lanes.set_ylim(0, setting.slots)
    per_worker = setting.threads
    for k in range(1, setting.workers):
        lanes.axhline(k * per_worker - 0.05, color="black", linewidth=1)
    lanes.set_yticks(
        [(k + 0.5) * per_worker for k in range(setting.workers)],
        [f"worker {k + 1}" for k in range(setting.workers)],
    )
    if setting.slots > 1:  # one slot: its tick, "worker 1", says it all
        lanes.set_ylabel(f"{setting.slots} slots,\n{setting.queue} queue")
    kinds = {label: colour for label, colour in KINDS.values()}
    handles = [Patch(color=colour, label=label) for label, colour in kinds.items()]
    probe_label, probe_colour = KINDS["home"]
    handles[-1] = Line2D(
        [], [], marker="o", linestyle="", color=probe_colour, label=f"{probe_label} (below)"
    )
    lanes.legend(
        handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False
    )
    probes = sorted((r[1] - start, r[3] - r[1]) for r in outcome.in_window() if r[4] < 0)
    probes = [(t, w) for t, w in probes if t < span]
    if probes:
        t, w = np.array(probes).T
        waits.scatter(t, np.maximum(w * 1000, 1.0), s=10, color=probe_colour)
    waits.axhline(SLOW_MS, color="grey", linestyle=":", linewidth=1)
    waits.set_yscale("log")
    waits.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_ms(v)))
    waits.set_ylabel("each probe's wait (log scale)")
    waits.set_xlabel(
        "seconds into the measured window"
        + (f" (its first {span:g} s of {sc.window_s:g} s)" if span < sc.window_s else "")
    )
    load = (
        f"{setting.visitors} visitors in a closed loop, {setting.start} start"
        if setting.load == "closed"
        else f"open arrivals at rho {setting.rho:g} ({setting.rate:.2f}/s)"
    )
    p = outcome.probes
    fig.suptitle(
        f"The model: {load}, provider {setting.delay_s:g} s;\nhomepage p50 "
        f"{fmt_ms(p.p50_s * 1000)}, p95 {fmt_ms(p.p95_s * 1000)}, "
        f"{p.share_over_100ms:.0%} of probes over {SLOW_MS:g} ms",
        fontweight="bold",
    )
    fig.tight_layout()
    return fig


def _endpoint(served: Served) -> str:
    return "home" if served[4] < 0 else STEPS[served[5]]


def headline(outcome: Outcome) -> str:
    """The probe's p50 and p95 for the setting, in one line large enough for the back row."""
    s, p = outcome.setting, outcome.probes
    load = (
        f"rho {s.rho:.2f} ({s.rate:.2f} visitors/s)"
        if s.load == "open"
        else f"{s.visitors} visitors, {s.start} start"
    )
    past = " (rho 1 or more: the wait grows without end)" if s.load == "open" and s.rho >= 1 else ""
    return (
        f'<div style="font-size:22px">{load}{past}: homepage <b>p50 {fmt_ms(p.p50_s * 1000)}'
        f"</b>, <b>p95 {fmt_ms(p.p95_s * 1000)}</b></div>"
    )
