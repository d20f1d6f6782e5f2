"""The queueing model: what the homepage probe should see if the web tier is a plain FIFO queue.

A blocking app (the sync app) is `servers` request slots (gunicorn workers x threads) in front of
one FIFO queue. Each visitor runs the journey of `loadtests/load/locustfile.py` in a loop: GET the
form, POST it (the slot is held for the provider's delay), GET the thank-you page, think. The
homepage probe arrives on a fixed schedule. The probe's latency is its wait in the queue plus
its own service time.

The article's rule of thumb, "a request waits behind visitors x delay / workers", assumes every
visitor has a POST queued when the probe arrives. In the journey a visitor spends part of each
cycle queued with a cheap GET, and the probe lands at a random point of the cycle, so fewer slow
POSTs stand ahead of it; `simulate` replays the exact schedule the benchmark runs instead of
assuming that: a discrete-event simulation (DES) of the closed network (visitors cycling through
the FIFO web tier and a think-time delay) plus the open-model probe, seeded and replicated.

Where it fails: it knows only the provider's delay and one cheap-request time, so it misses
whatever else holds a slot (a slow first request, the machine's other processes competing for
2 cores, the kernel's accept order when many connections arrive in the same millisecond), and
it treats the asyncio and Celery apps' web tiers as never blocked, which is their point.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import random
from dataclasses import KW_ONLY, dataclass

import numpy as np

from loadtests.analysis.results import percentile


@dataclass(frozen=True)
class Scenario:
    """The load the benchmark runs, in the terms of the model (all times in seconds)."""

    visitors: int
    delay_s: float
    _: KW_ONLY
    servers: int = 1  # request slots in all: gunicorn workers x threads
    # One FIFO queue in front of every slot, as sync workers that accept only when free; or,
    # as gunicorn's threaded workers, `workers` processes each accepting connections into its
    # own queue whether or not a thread is free (each request joins one, picked at random).
    workers: int = 1
    shared_queue: bool = True
    think_s: float = 1.0
    probe_rate: float = 5.0
    warmup_s: float = 0.0
    window_s: float = 10.0
    spawn_s: float = 0.0  # 0: every visitor starts at once, as in the article
    service_s: float = 0.003  # a cheap request: the homepage, the form, the thank-you page
    # How much longer than nominal a visitor's request may take (uniform 0..jitter_s): a few
    # ms on an idle machine, tens of ms on a busy one.
    jitter_s: float = 0.002
    # Open arrivals: when each visitor arrives (s), to make the journey once and leave; then
    # `visitors`, `think_s` and `spawn_s` play no part.
    arrivals: tuple[float, ...] | None = None


# Locust starts "all at once" visitors a fraction of a millisecond apart: every first GET is
# queued before the first answer comes back.
SPAWN_GAP_S = 0.00001


def article_wait_s(visitors: int, delay_s: float, servers: int = 1) -> float:
    """The article's estimate: every visitor's POST is ahead of you."""
    return visitors * delay_s / servers


# slot, arrival, start, end, visitor (-1: a probe), step (0 form, 1 POST, 2 thank-you page)
Served = tuple[int, float, float, float, int, int]


def simulate(scenario: Scenario, seed: int = 0, trace: list[Served] | None = None) -> list[float]:
    """Latencies (s) of the homepage probes that arrive during the measured window.

    Visitors start spread over `spawn_s` (0: all at once, as Locust does with a high spawn
    rate), probes arrive every 1/probe_rate seconds from t=0, each queue is first come, first
    served. A real server's service times wobble by a few milliseconds, which keeps visitors
    from moving in lockstep; a seeded jitter on the visitors' requests does the same here.
    `trace`, when given, receives every request served (`Served`).
    """
    s = scenario
    rng, pick = random.Random(seed), random.Random(seed + 7919)
    end = s.warmup_s + s.window_s
    # Events: (time, order, kind, visitor, step, slot). A queue holds (arrival, visitor, step).
    order = itertools.count()
    events: list[tuple[float, int, str, int, int, int]] = []
    for k in range(int(end * s.probe_rate) + 1):
        heapq.heappush(events, (k / s.probe_rate, next(order), "arrive", -1, 0, -1))
    for v, start in enumerate(_starts(s, rng)):
        heapq.heappush(events, (start, next(order), "arrive", v, 0, -1))

    journey = (s.service_s, s.delay_s + s.service_s, s.service_s)  # form, POST, thank-you page
    queues = 1 if s.shared_queue else s.workers
    per_queue = s.servers // queues
    free = [list(range(q * per_queue, (q + 1) * per_queue)) for q in range(queues)]
    waiting: list[collections.deque[tuple[float, int, int]]] = [
        collections.deque() for _ in range(queues)
    ]
    probe_latencies: list[float] = []

    def service(visitor: int, step: int) -> float:
        if visitor < 0:
            return s.service_s
        return journey[step] + rng.uniform(0, s.jitter_s)

    while events:
        now, _, kind, visitor, step, slot = heapq.heappop(events)
        if kind == "arrive":
            if now > end and visitor >= 0:
                continue  # visitors stop at the end; queued work still drains
            waiting[pick.randrange(queues) if queues > 1 else 0].append((now, visitor, step))
        else:  # done
            free[slot // per_queue].append(slot)
            if visitor >= 0:
                if step + 1 < len(journey):
                    heapq.heappush(events, (now, next(order), "arrive", visitor, step + 1, -1))
                elif s.arrivals is None:  # a closed loop: think, then the journey again
                    think = s.think_s * rng.uniform(0.5, 1.5)  # as Locust's between()
                    heapq.heappush(events, (now + think, next(order), "arrive", visitor, 0, -1))
        for q in range(queues):
            while free[q] and waiting[q]:
                arrival, v, st = waiting[q].popleft()
                slot = free[q].pop(0)
                finish = now + service(v, st)
                if v < 0 and s.warmup_s <= arrival < end:
                    probe_latencies.append(finish - arrival)
                if trace is not None:
                    trace.append((slot, arrival, now, finish, v, st))
                heapq.heappush(events, (finish, next(order), "done", v, st, slot))
    return probe_latencies


def _starts(s: Scenario, rng: random.Random) -> list[float]:
    """When each visitor sends its first request."""
    if s.arrivals is not None:
        return list(s.arrivals)
    if s.spawn_s > 0:  # as both generators ramp up: the probe first, then evenly spread
        return [(v + 1) * s.spawn_s / (s.visitors + 1) for v in range(s.visitors)]
    return [(v + rng.random()) * SPAWN_GAP_S for v in range(s.visitors)]


@dataclass(frozen=True)
class Prediction:
    p50_s: float
    p95_s: float
    article_s: float


def predict(scenario: Scenario, replications: int = 20) -> Prediction:
    """The probe's p50 and p95 over `replications` seeded runs of the schedule, pooled."""
    latencies = [latency for seed in range(replications) for latency in simulate(scenario, seed)]
    return Prediction(
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        article_s=article_wait_s(scenario.visitors, scenario.delay_s, scenario.servers),
    )


@dataclass(frozen=True)
class Distribution:
    """Latencies (s) summarised the way the open sweep reports them: the mean and the tail."""

    mean_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    share_over_100ms: float
    n: int

    @classmethod
    def of(cls, latencies: list[float]) -> Distribution:
        values = np.asarray(latencies, dtype=float)
        p50, p95, p99 = (percentile(values, q) for q in (50, 95, 99))
        return cls(
            float(values.mean()),
            float(p50),
            float(p95),
            float(p99),
            float((values > 0.1).mean()),
            len(values),
        )


def predict_distribution(scenario: Scenario, replications: int = 10) -> Distribution:
    """The probe's latencies over `replications` seeded replays of the schedule, pooled (for
    open arrivals the schedule itself is fixed: the seeds vary only the service jitter)."""
    return Distribution.of(
        [latency for seed in range(replications) for latency in simulate(scenario, seed)]
    )


def md1_wait_s(arrival_rate: float, service_s: float) -> float:
    """The textbook mean wait in an M/D/1 queue (Pollaczek-Khinchine with a fixed service
    time): rho x service / (2 (1 - rho)), rho = rate x service; infinite from rho = 1 on.

    For the sync worker it treats each visitor as one job of `service_s`. The journey differs:
    its POST goes to the back of the queue again after the form's GET, and its thank-you GET
    after the POST, so a visitor's work reaches the worker in three pieces."""
    rho = arrival_rate * service_s
    return float("inf") if rho >= 1 else rho * service_s / (2 * (1 - rho))


def fifo_waits(arrivals: list[float], service_s: float, servers: int) -> list[float]:
    """Each job's wait in one first-come, first-served queue of `servers` that each take
    `service_s` per job (M/D/c under Poisson arrivals): the Celery worker's email queue. With a
    fixed service time the server that frees first takes the next job in arrival order."""
    free_at = [0.0] * servers
    waits = []
    for arrival in sorted(arrivals):
        start = max(arrival, heapq.heappop(free_at))
        waits.append(start - arrival)
        heapq.heappush(free_at, start + service_s)
    return waits


def open_overload_slope(
    arrival_rate: float, delay_s: float, probe_rate: float, service_s: float
) -> float:
    """How fast a probe's wait grows (seconds per second) when more work arrives than the one
    worker does, for the journey as it runs.

    In first-come, first-served order the worker, at time t, serves what arrived at t - W(t),
    W the wait. If W grows at `a` per second, that moment advances at (1 - a): the worker meets
    the visitors' form GETs at rate x (1 - a), their POSTs, which joined the back of the queue
    only once the GET was served, at x (1 - a)^2, their thank-you pages at x (1 - a)^3, the
    probes at r (1 - a). Always busy, it does one second of work per second: `a` solves
    x (1-a) s + x (1-a)^2 (d + s) + x (1-a)^3 s + r (1-a) s = 1. With d alone, a = 1 - 1/sqrt(rho):
    slower than the textbook queue's rho - 1 (`textbook_overload_slope`), because the POSTs of
    the visitors still waiting for their form are not yet ahead of the probe."""
    x, d, r, s = arrival_rate, delay_s, probe_rate, service_s

    def work(a: float) -> float:  # seconds of work met per second; falls as a grows
        k = 1 - a
        return x * k * s + x * k**2 * (d + s) + x * k**3 * s + r * k * s

    if work(0.0) <= 1:
        return 0.0
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if work(middle) > 1 else (low, middle)
    return low


def textbook_overload_slope(arrival_rate: float, job_s: float) -> float:
    """A single queue of whole jobs (each visitor one job of `job_s`) past capacity: the backlog,
    and so the wait of whoever arrives, grows by rho - 1 seconds per second."""
    return max(0.0, arrival_rate * job_s - 1)


def cycle_s(scenario: Scenario, blocking: bool, post_waits: bool = True) -> float:
    """How long one visitor's journey takes in steady state (the sustained scenario sizes its
    warm-up and window from it). Alone, it is the think time, three cheap requests and the POST
    (which waits for the provider unless the email is queued). A blocking web tier is saturated
    once the visitors' POSTs need it for longer than that: then a cycle is every POST in turn."""
    s = scenario
    alone = s.think_s + 3 * s.service_s + (s.delay_s if post_waits else 0.0)
    if not blocking:
        return alone
    return max(alone, s.visitors * (s.delay_s + s.service_s) / s.servers)


def steady_scenario(
    visitors: int, delay_s: float, servers: int = 1, think_s: float = 1.0
) -> Scenario:
    """A sustained load shaped like the bench's, for "try this" questions: visitors start
    spread over one cycle, two cycles of warm-up, four measured."""
    sizing = Scenario(visitors, delay_s, servers=servers, think_s=think_s)
    cycle = cycle_s(sizing, blocking=True)
    return Scenario(
        visitors,
        delay_s,
        servers=servers,
        think_s=think_s,
        spawn_s=cycle,
        warmup_s=2 * cycle,
        window_s=4 * cycle,
    )


def burst_wait_s(sent_after_s: float, visitors: int, delay_s: float, servers: int = 1) -> float:
    """How long a probe sent `sent_after_s` seconds after `visitors` POSTs arrived at once waits
    in a blocking FIFO web tier of `servers` slots, each POST holding its slot `delay_s`: it is
    served once every POST ahead of it has started and a slot has come free. Server k (of the
    first min(visitors, servers)) frees at ceil((visitors - k) / servers) x delay."""
    if visitors < servers:
        return 0.0
    free_at = min(-(-(visitors - k) // servers) * delay_s for k in range(servers))
    return max(0.0, free_at - sent_after_s)
