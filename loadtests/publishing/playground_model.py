"""The class playground's model: a setting of the load and the web tier, the discrete-event
model of `loadtests.analysis.model` run for it, and the textbook laws computed beside the
simulation."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from loadtests.analysis.model import (
    Distribution,
    Scenario,
    Served,
    article_wait_s,
    md1_wait_s,
    simulate,
)
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.queue_view import SLOW_MS

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
