"""Predicting the smallest configuration of each way to grow a hand-off that meets the target,
from the queueing model of `model.py`, before anything is measured.

- A blocking web tier (the sync app's workers or threads) is `slots` in front of one FIFO queue;
  each POST holds a slot for the provider's delay. The discrete-event model replays the open
  journey (form, POST, thank-you page) and the homepage probe through c slots for hours of
  simulated arrivals: the smallest c whose homepage and POST p95s meet the target. It is an
  M/D/c queue with the journey's cheap requests in it, so c grows like rate x delay plus a
  margin that grows like its square root.
- A web process that holds every request at once (gevent, asyncio, the Celery app's web tier)
  queues only for its CPU: the same model with each process one slot, held for a request's
  CPU time, and the requests dealt to the processes at random (each accepts on its own).
- The Celery email worker is an M/D/c queue of emails, each holding a child for the delay:
  c must exceed rate x delay with enough margin that the email's p95 stays within the target.

What no model here knows: the machine's cores. `machine_limit` says where they run out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from loadtests.analysis.cost_plan import CostPlan, Family, Size
from loadtests.analysis.model import Scenario, Served, fifo_waits, simulate
from loadtests.analysis.results import percentile

POST_STEP = 1  # the journey's steps in the model's trace: form, POST, thank-you page
LARGEST = 1024  # no search goes past this many slots, processes or children


@dataclass(frozen=True)
class Outcome:
    """What the model predicts visitors get (p95s, ms)."""

    home_p95_ms: float
    post_p95_ms: float
    email_p95_ms: float


@dataclass(frozen=True)
class Prediction:
    family: Family
    rate: float
    n: int | None  # the grown setting; None: no size up to LARGEST meets the target
    web_workers: int = 1
    outcome: Outcome | None = None

    @property
    def size(self) -> Size | None:
        return None if self.n is None else self.family.size(self.n, self.web_workers)

    @property
    def processes(self) -> int:
        if self.size is None:
            return 0
        return sum(self.size.processes(self.family.has_queue).values())


def smallest_size(
    meets: Callable[[int], bool], start: int = 1, lowest: int = 1, largest: int = LARGEST
) -> int | None:
    """The smallest n in [lowest, largest] with meets(n), searched from `start` (down while the
    size below still meets, else up): meeting the target must not get harder as n grows."""
    n = min(max(start, lowest), largest)
    if meets(n):
        while n > lowest and meets(n - 1):
            n -= 1
        return n
    for bigger in range(n + 1, largest + 1):
        if meets(bigger):
            return bigger
    return None


@dataclass(frozen=True)
class Schedule:
    """Arrival times (s) the model replays, and how much of their start it leaves out."""

    arrivals: tuple[float, ...]
    warmup_s: float

    @classmethod
    def long_run(cls, arrivals: list[float]) -> Schedule:
        """Hours of arrivals, their first minute (or tenth) left out: the long-run value."""
        return cls(tuple(arrivals), min(60.0, arrivals[-1] / 10) if arrivals else 0.0)


@cache
def web_tier(
    schedule: Schedule, probe_rate: float, slots: int, hold_s: float, page_s: float, shared: bool
) -> tuple[float, float]:
    """(homepage p95, POST p95) in seconds of a web tier of `slots`, each POST holding its slot
    `hold_s`: one FIFO queue (`shared`), or one per slot with each request dealt at random."""
    arrivals, warmup = schedule.arrivals, schedule.warmup_s
    end = max(arrivals, default=warmup)
    scenario = Scenario(
        0,
        hold_s - page_s,  # the model's POST holds its slot delay_s + service_s
        servers=slots,
        workers=slots,
        shared_queue=shared,
        probe_rate=probe_rate,
        warmup_s=warmup,
        window_s=max(end - warmup, 1.0),
        service_s=page_s,
        arrivals=arrivals,
    )
    trace: list[Served] = []
    probes = simulate(scenario, seed=1, trace=trace)
    posts = [
        finish - arrival
        for _, arrival, _, finish, visitor, step in trace
        if visitor >= 0 and step == POST_STEP and arrival >= warmup
    ]
    return percentile(probes, 95), percentile(posts, 95)


def email_p95_s(schedule: Schedule, children: int, service_s: float) -> float:
    """The email's p95 from its submission to the provider through `children` senders (each
    visitor's POST a moment after its arrival: taken as at it)."""
    waits = fifo_waits(list(schedule.arrivals), service_s, children)
    kept = [w for w, t in zip(waits, schedule.arrivals, strict=True) if t >= schedule.warmup_s]
    return percentile(kept, 95) + service_s


def outcome(
    plan: CostPlan, family: Family, schedule: Schedule, n: int, web_workers: int = 1
) -> Outcome:
    """What the model predicts for `family` at size n (its grown setting) on `schedule`."""
    delay, send = plan.delay_s, plan.delay_s + plan.post_extra_s
    if family.kind == "slots":
        home, post = web_tier(schedule, plan.probe_rate, n, send, plan.page_s, True)
        return Outcome(home * 1000, post * 1000, send * 1000)
    if family.kind == "cpu":  # the POST holds the CPU for its extra time, then awaits the delay
        home, post = web_tier(schedule, plan.probe_rate, n, plan.post_extra_s, plan.page_s, n == 1)
        return Outcome(home * 1000, (post + delay) * 1000, send * 1000)
    home, post = _queue_web_tier(plan, schedule, web_workers)
    return Outcome(home * 1000, post * 1000, email_p95_s(schedule, n, send) * 1000)


def _queue_web_tier(plan: CostPlan, schedule: Schedule, web_workers: int) -> tuple[float, float]:
    """The Celery app's web tier: sync workers whose POST only enqueues the email."""
    shared = web_workers == 1
    return web_tier(schedule, plan.probe_rate, web_workers, plan.queue_post_s, plan.page_s, shared)


def predict(plan: CostPlan, family: Family, rate: float, schedule: Schedule) -> Prediction:
    """The smallest size of `family` that the model says meets the target at `rate`."""
    target = plan.target
    if family.grows == "web_threads" and rate >= one_process_limit(plan, family):
        return Prediction(family, rate, None)  # threads share one process's CPU: no size will do

    def meets(n: int, web_workers: int = 1) -> bool:
        o = outcome(plan, family, schedule, n, web_workers)
        return target.met(o.home_p95_ms, o.post_p95_ms, o.email_p95_ms)

    # Fewer slots or senders than rate x their hold is a queue that never settles.
    stable = math.floor(rate * (plan.delay_s + plan.post_extra_s)) + 1
    web = 1
    if family.kind == "queue":  # the web tier first (its POSTs and pages), then the senders

        def web_meets(w: int) -> bool:
            home, post = _queue_web_tier(plan, schedule, w)
            return home * 1000 <= target.home_p95_ms and post * 1000 <= target.post_p95_ms

        web = smallest_size(web_meets)
        if web is None:
            return Prediction(family, rate, None)
    start = 1 if family.kind == "cpu" else stable
    n = smallest_size(lambda c: meets(c, web), start=start)
    found = None if n is None else outcome(plan, family, schedule, n, web)
    return Prediction(family, rate, n, web, found)


def predict_all(
    plan: CostPlan, rates: tuple[float, ...], arrivals: Callable[[float], list[float]]
) -> dict[tuple[str, float], Prediction]:
    """Every family's predicted size at every rate, each on the long run of `arrivals(rate)`
    (the runner's `poisson_arrivals` for `model_visitors` arrivals, seeded as the runs are)."""
    schedules = {rate: Schedule.long_run(arrivals(rate)) for rate in rates}
    return {
        (f.name, rate): predict(plan, f, rate, schedules[rate])
        for rate in rates
        for f in plan.families
    }


def web_cpu_per_visitor_s(plan: CostPlan, family: Family) -> float:
    """CPU seconds one visitor's journey costs the web tier: two pages and the POST (counted
    at its whole extra time where it sends the email itself)."""
    return 2 * plan.page_s + (plan.queue_post_s if family.has_queue else plan.post_extra_s)


def one_process_limit(plan: CostPlan, family: Family) -> float:
    """Visitors/s at which one web process's CPU (one GIL, one event loop) is `max_utilisation`
    busy, the homepage probe included: where more threads, greenlets or tasks stop helping."""
    usable = plan.max_utilisation - plan.probe_rate * plan.page_s
    return max(0.0, usable) / web_cpu_per_visitor_s(plan, family)


def machine_cpu_per_visitor_s(plan: CostPlan, family: Family) -> float:
    """CPU seconds one visitor costs this machine: the web tier's, the Celery worker's send
    where there is one, the provider's receipt, and the generator's three requests."""
    worker = plan.worker_cpu_s if family.has_queue else 0.0
    return (
        web_cpu_per_visitor_s(plan, family)
        + worker
        + plan.provider_cpu_s
        + 3 * plan.generator_cpu_s
    )


def machine_limit(plan: CostPlan, family: Family, cores: int) -> float:
    """Visitors/s at which this family, with the generator and the provider beside it, keeps
    `cores` busy to `max_utilisation`: past it no size meets the target on this machine, and
    the model's sizes (which know no cores) assume a bigger one."""
    return rate_filling_cores(plan, machine_cpu_per_visitor_s(plan, family), cores)


def rate_filling_cores(plan: CostPlan, cpu_per_visitor_s: float, cores: int) -> float:
    """Visitors/s that keep `cores` busy to `max_utilisation`, one visitor costing
    `cpu_per_visitor_s` beside the homepage probe (a page and a generator's request each)."""
    probes = plan.probe_rate * (plan.page_s + plan.generator_cpu_s)
    return max(0.0, plan.max_utilisation * cores - probes) / cpu_per_visitor_s
