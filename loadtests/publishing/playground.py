"""The model to play with (the class notebook): sliders for the load and the web tier, the
discrete-event model of `loadtests.analysis.model` run for that setting, what each slot served,
every probe's wait, and the textbook laws computed beside the simulation.

    from loadtests.publishing import playground
    playground.explore()                       # the widgets, in Jupyter
    playground.figure(playground.Setting(workers=4, threads=4, visitors=12, queue="per worker"))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Markdown, display
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from loadtests.analysis.model import (
    Distribution,
    Scenario,
    Served,
    article_wait_s,
    md1_wait_s,
    simulate,
)
from loadtests.analysis.plots import apply_style, fmt_ms
from loadtests.analysis.queue_view import KINDS, SLOW_MS

STEPS = ("contact_form", "contact_post", "thanks")  # the journey's steps, in the model's order
CHEAP_S = 0.003  # what the model gives every page but the POST
# A steady-state mean near rho 1 needs many relaxation times of the queue, delay / (1 - rho)^2;
# the long run takes this many of them, within these bounds (seconds simulated).
RELAXATIONS, STEADY_MIN_S, STEADY_MAX_S = 100, 4000.0, 20000.0


@dataclass(frozen=True)
class Setting:
    """One choice of the sliders. `rho` (open arrivals): the POSTs' share of the slots' time,
    arrivals per second x delay / slots."""

    load: str = "closed"  # or "open"
    visitors: int = 10
    rho: float = 0.5
    delay_s: float = 2.0
    think_s: float = 1.0
    workers: int = 1
    threads: int = 1
    queue: str = "shared"  # or "per worker"
    start: str = "staggered"  # or "synchronized"
    seconds: float = 240.0  # the measured window, after a warm-up

    @property
    def slots(self) -> int:
        return self.workers * self.threads

    @property
    def rate(self) -> float:
        return self.rho * self.slots / self.delay_s

    @property
    def job_s(self) -> float:
        """A visitor's work: the POST and two cheap pages."""
        return self.delay_s + 3 * CHEAP_S

    def scenario(self) -> Scenario:
        common = {
            "servers": self.slots,
            "workers": self.workers,
            "shared_queue": self.queue == "shared",
            "window_s": self.seconds,
            "service_s": CHEAP_S,
        }
        if self.load == "open":
            # One relaxation time of the queue to settle before measuring (capped past rho 1).
            warmup = min(self.delay_s / max(1 - min(self.rho, 0.97), 1e-9) ** 2, 120.0)
            until = warmup + self.seconds
            many = int(2 * until * self.rate) + 10  # more exponential gaps than `until` needs
            gaps = np.random.default_rng(1).exponential(1 / self.rate, many)
            arrivals = tuple(float(t) for t in np.cumsum(gaps) if t < until)  # Poisson arrivals
            return Scenario(0, self.delay_s, warmup_s=warmup, arrivals=arrivals, **common)
        cycle = max(self.think_s + self.job_s, self.visitors * self.job_s / self.slots)
        return Scenario(
            self.visitors,
            self.delay_s,
            think_s=self.think_s,
            spawn_s=cycle if self.start == "staggered" else 0.0,
            warmup_s=2 * cycle,
            **common,
        )


@dataclass(frozen=True)
class Outcome:
    setting: Setting
    scenario: Scenario
    probes: Distribution
    served: list[Served]

    def in_window(self) -> list[Served]:
        start, end = self.scenario.warmup_s, self.scenario.warmup_s + self.scenario.window_s
        return [r for r in self.served if start <= r[1] < end]


def run(setting: Setting) -> Outcome:
    served: list[Served] = []
    scenario = setting.scenario()
    latencies = simulate(scenario, seed=0, trace=served)
    return Outcome(setting, scenario, Distribution.of(latencies), served)


@lru_cache(maxsize=64)
def steady_probe_mean_s(setting: Setting) -> tuple[float, float]:
    """The probe's mean wait over a window long enough for the steady state, and its length:
    what the setting's own window would show if it were long."""
    relaxation = setting.delay_s / max(1 - setting.rho, 1e-9) ** 2
    seconds = min(max(RELAXATIONS * relaxation, STEADY_MIN_S, setting.seconds), STEADY_MAX_S)
    return run(replace(setting, seconds=seconds)).probes.mean_s, seconds


def laws(outcome: Outcome) -> str:
    """The textbook laws, each computed from the setting and checked against the simulation."""
    s, sc = outcome.setting, outcome.scenario
    w0, w1 = sc.warmup_s, sc.warmup_s + sc.window_s
    # Throughput: the POSTs the slots began in the window (journeys per second).
    x = sum(1 for r in outcome.served if r[4] >= 0 and r[5] == 1 and w0 <= r[2] < w1) / sc.window_s
    held = sum(max(0.0, min(r[3], w1) - max(r[2], w0)) for r in outcome.served)
    busy = held / (sc.window_s * s.slots)
    journeys = _journey_times(outcome)
    r_sim = float(np.mean(journeys)) if journeys else float("nan")
    lines = [
        f"- **Utilisation law** U = X x S / slots (S: a visitor's work, the POST and its cheap "
        f"pages): {x:.2f} POSTs/s x "
        f"{fmt_ms(s.job_s * 1000)} / {s.slots} = {x * s.job_s / s.slots:.0%}; the slots were "
        f"busy {busy:.0%} of the window in the simulation.",
    ]
    if s.load == "closed":
        r_law = s.visitors / x - s.think_s if x else float("inf")
        lines += [
            f"- **Closed loop** R = N / X - Z: {s.visitors} / {x:.2f} - {s.think_s:g} s = "
            f"{r_law:.2f} s per journey; simulated {r_sim:.2f} s.",
            f"- **Little's law** L = X x R: {x:.2f} x {r_sim:.2f} s = {x * r_sim:.1f} visitors "
            f"inside the site on average, the others thinking.",
            f"- **The article's rule**, every POST ahead of you: N x delay / slots = "
            f"{fmt_ms(article_wait_s(s.visitors, s.delay_s, s.slots) * 1000)}.",
        ]
    else:
        lines += [
            f"- **Open arrivals** at {s.rate:.2f} visitors/s: rho = rate x delay / slots = "
            f"{s.rate * s.delay_s / s.slots:.2f}"
            + (" (past 1: the queue grows without end)" if s.rho >= 1 else "")
            + ".",
            f"- **Little's law** L = lambda x R: {s.rate:.2f} x {r_sim:.2f} s = "
            f"{s.rate * r_sim:.1f} visitors inside the site on average.",
        ]
        if s.slots == 1 and s.rho < 1:
            md1 = md1_wait_s(s.rate, s.delay_s)  # the class's M/D/1: the POST's delay alone
            steady, long_s = steady_probe_mean_s(s)
            lines.append(
                f"- **M/D/1** (Pollaczek-Khinchine) mean wait rho x delay / (2 (1 - rho)): "
                f"{fmt_ms(md1 * 1000)}, against the simulated probe's mean "
                f"{fmt_ms(steady * 1000)} in the steady state (over {long_s:.0f} s) and "
                f"{fmt_ms(outcome.probes.mean_s * 1000)} in this {sc.window_s:g} s window. "
                "The gap between the window and the steady state is the window's (near rho 1 "
                "a short window catches few of the long queues); the gap between the steady "
                "state and M/D/1 is the journey's: a visitor's POST joins the queue only once "
                "their form's GET is answered, so the POSTs of visitors still waiting for their "
                "form are not yet ahead of a probe."
            )
    p = outcome.probes
    lines.append(
        f"- **The homepage probe**: mean {fmt_ms(p.mean_s * 1000)}, p50 {fmt_ms(p.p50_s * 1000)}, "
        f"p95 {fmt_ms(p.p95_s * 1000)}, {p.share_over_100ms:.0%} over {SLOW_MS:g} ms."
    )
    return "\n".join(lines)


def _journey_times(outcome: Outcome) -> list[float]:
    """From a visitor's form arriving to its thank-you page answered, for journeys begun in
    the window."""
    sc = outcome.scenario
    begun: dict[int, float] = {}
    times = []
    for _slot, arrival, _start, end, visitor, step in sorted(outcome.served, key=lambda r: r[1]):
        if visitor < 0:
            continue
        if step == 0:
            begun[visitor] = arrival
        elif step == 2 and visitor in begun:
            first = begun.pop(visitor)
            if sc.warmup_s <= first < sc.warmup_s + sc.window_s:
                times.append(end - first)
    return times


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


def show(*, with_laws: bool = True, **choices: object) -> None:
    """Draw one setting: the probe's p50 and p95, the figure, then (`with_laws`) the laws."""
    setting = Setting(**choices)
    outcome = run(setting)
    fig = figure(setting, outcome)  # before anything is shown: the line and figure come together
    display(HTML(headline(outcome)))
    display(fig)
    plt.close(fig)
    if with_laws:
        display(Markdown(laws(outcome)))


def explore(
    setting: Setting | None = None,
    *,
    sliders: tuple[str, ...] | None = None,
    with_laws: bool = True,
):
    """The sliders (`sliders`: only those named; the others stay at `setting`), and the model
    redrawn whenever one moves; `with_laws`: the textbook laws under the figure."""
    import ipywidgets as w  # only where Jupyter runs: the rest of the lab does without

    start = asdict(setting or Setting())
    style = {"description_width": "9em"}
    # Redraw when a slider is let go, not at every step it passes (the steady state takes ~1 s).
    quiet = {"continuous_update": False}
    layout = w.Layout(width="30em")

    def slider(kind, name, label, **range_):
        return kind(
            value=start[name], description=label, style=style, layout=layout, **quiet, **range_
        )

    def toggle(name, label, options):
        return w.ToggleButtons(options=options, value=start[name], description=label, style=style)

    controls = {
        "load": toggle("load", "load", [("closed loop", "closed"), ("open arrivals", "open")]),
        "visitors": slider(w.IntSlider, "visitors", "visitors (closed)", min=1, max=30),
        "rho": slider(w.FloatSlider, "rho", "rho (open)", min=0.1, max=1.3, step=0.05),
        "delay_s": slider(w.FloatSlider, "delay_s", "provider delay (s)", min=0.1, max=3, step=0.1),
        "think_s": slider(w.FloatSlider, "think_s", "think time (s)", min=0, max=5, step=0.5),
        "workers": slider(w.IntSlider, "workers", "web workers", min=1, max=8),
        "threads": slider(w.IntSlider, "threads", "threads each", min=1, max=8),
        "queue": toggle("queue", "queue", ["shared", "per worker"]),
        "start": toggle("start", "start (closed)", ["staggered", "synchronized"]),
    }
    shown = set(sliders or controls)
    fixed = {k: w.fixed(v) for k, v in start.items() if k not in shown}  # the window, too
    output = w.interactive_output(
        show,
        {
            **fixed,
            **{k: c for k, c in controls.items() if k in shown},
            "with_laws": w.fixed(with_laws),
        },
    )
    left = [controls[k] for k in ("load", "visitors", "rho", "delay_s", "think_s") if k in shown]
    right = [controls[k] for k in ("workers", "threads", "queue", "start") if k in shown]
    return w.VBox([w.HBox([w.VBox(left), w.VBox(right)]), output])
