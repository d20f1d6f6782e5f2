"""What `make bench` runs: the plan, its points, and how long each point measures.

Two scenarios:

- **sustained** (the headline): visitors start spread over one predicted journey cycle, the
  window opens after `warmup_cycles` cycles and lasts at least `window_cycles` cycles (and
  `min_window_s`), so it describes the load, not its first seconds. A saturated sync app's cycle
  is visitors x delay, so its points run longer than the others'.
- **burst** (the article's picture): `burst` visitors open the form, then press send at the same
  instant, once; the probe runs until their POSTs are answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from lab_hand_offs import hand_off, names
from loadtests.analysis.model import Scenario, burst_wait_s, cycle_s
from loadtests.analysis.results import LOCAL_DIR, RESULTS_DIR, Point

LOCUST_START_S = 2.0  # a generator's own start-up, for sizing a run
CHEAP_REQUEST_S = 0.003  # for sizing only; the model uses each point's measured idle homepage


@dataclass(frozen=True)
class Plan:
    """Every field is a command-line option (see `--help`)."""

    apps: tuple[str, ...] = field(default_factory=lambda: names("app"))
    visitors: tuple[int, ...] = (0, 2, 4, 10)
    delay_s: float = 2.0
    web_workers: tuple[int, ...] = (1,)
    web_threads: tuple[int, ...] = (1,)
    # Celery's email worker: (pool, concurrency) pairs; on the command line `4` or `threads:64`.
    celery_workers: tuple[tuple[str, int], ...] = (("prefork", 4),)
    think_s: float = 1.0
    probe_rate: float = 5.0
    warmup_cycles: float = 2.0
    window_cycles: float = 2.0
    min_window_s: float = 12.0
    # A blocking app's probe latency follows the POSTs it serves one by one, in a pattern that
    # repeats every cycle: its window holds at least this many POSTs and a whole, even number of
    # cycles, so that each half sees the same pattern (and many POSTs), whatever the visitors.
    min_posts_served: int = 20
    window_scale: float = 1.0  # every window x this (2: the window-doubling check)
    burst: tuple[int, ...] = (10,)
    repeats: int = 1
    repeat_visitors: tuple[int, ...] = (4, 10)
    second_generator: bool = False
    email_wait_s: float = 10.0
    drain_max_s: float = 60.0
    out: Path = LOCAL_DIR  # the reference (results/) only with --reference

    def sustained_points(self) -> list[Point]:
        """Every point once with Locust, then the threads generator's points, then the
        repeats: a slow drift of the machine spreads over the points instead of hitting one."""
        base = [
            Point(
                app=app,
                visitors=v,
                smtp_delay_s=self.delay_s,
                web_workers=w,
                web_threads=t,
                celery_concurrency=c,
                celery_pool=pool,
            )
            for app in self.apps
            # Only a hand-off with a queue has a worker pool to vary.
            for pool, c in (
                self.celery_workers if hand_off(app).has_queue else self.celery_workers[:1]
            )
            for w in self.web_workers
            for t in self.web_threads
            for v in self.visitors
        ]
        headline = [p for p in base if p.visitors in self.repeat_visitors]
        second = [replace(p, generator="threads") for p in headline if self.second_generator]
        again = [replace(p, repeat=r) for r in range(2, self.repeats + 1) for p in headline]
        return base + second + again

    def burst_points(self) -> list[Point]:
        pool, c = self.celery_workers[0]
        return [
            Point(
                app=app,
                visitors=n,
                smtp_delay_s=self.delay_s,
                web_workers=self.web_workers[0],
                web_threads=self.web_threads[0],
                celery_concurrency=c,
                celery_pool=pool,
            )
            for app in self.apps
            for n in self.burst
        ]

    def scenario(self, point: Point, service_s: float = CHEAP_REQUEST_S) -> Scenario:
        ramp, warmup, window = self.timing(point)
        return replace(
            self._load(point), warmup_s=warmup, window_s=window, spawn_s=ramp, service_s=service_s
        )

    def _load(self, point: Point) -> Scenario:
        """The point's load in the model's terms, before its timing is chosen (which needs it)."""
        return Scenario(
            visitors=point.visitors,
            delay_s=point.smtp_delay_s,
            servers=point.web_workers * point.web_threads,
            think_s=self.think_s,
            probe_rate=self.probe_rate,
            service_s=CHEAP_REQUEST_S,
        )

    def cycle_s(self, point: Point) -> float:
        how = hand_off(point.app)
        load = self._load(point)
        return cycle_s(load, blocking=how.blocking, post_waits=how.post_waits_for_email)

    def timing(self, point: Point) -> tuple[float, float, float]:
        """(ramp, warm-up, window) in seconds for a sustained point."""
        if point.visitors == 0:
            return 0.0, 0.0, self.min_window_s * self.window_scale
        cycle = self.cycle_s(point)
        window = max(self.min_window_s, self.window_cycles * cycle)
        if hand_off(point.app).blocking:
            slots = point.web_workers * point.web_threads
            window = max(window, self.min_posts_served * point.smtp_delay_s / slots)
            window = 2 * math.ceil(window / (2 * cycle)) * cycle
        window *= self.window_scale
        return cycle, self.warmup_cycles * cycle, window

    def burst_drain_s(self, point: Point) -> float:
        """When the burst's last POST is answered, predicted: the blocking app serves them one
        slot at a time; the asyncio app awaits them together; Celery only enqueues them."""
        how = hand_off(point.app)
        if how.blocking:
            return burst_wait_s(
                0.0, point.visitors, point.smtp_delay_s, point.web_workers * point.web_threads
            )
        return point.smtp_delay_s if how.post_waits_for_email else 0.0

    def estimate_s(self, point: Point, *, burst: bool = False) -> float:
        """Roughly how long a point takes, for the progress bar's ETA."""
        how = hand_off(point.app)
        overhead = how.runs.stack_overhead_s + LOCUST_START_S
        if burst:
            return overhead + 3.0 + self.burst_drain_s(point) + 1.0
        _ramp, warmup, window = self.timing(point)
        drain = self.cycle_s(point) / 3 if how.blocking else point.smtp_delay_s
        queued = not how.post_waits_for_email
        emails = self.email_wait_s / 2 if queued and point.visitors else 0.0
        return overhead + warmup + window + drain + emails

    def total_estimate_s(self) -> float:
        """Every point's estimate: what the plan line announces before the first one starts."""
        sustained = sum(self.estimate_s(p) for p in self.sustained_points())
        return sustained + sum(self.estimate_s(p, burst=True) for p in self.burst_points())


QUICK = {
    "visitors": (4,),
    "delay_s": 0.5,
    "think_s": 0.25,
    "probe_rate": 12.0,
    "min_window_s": 3.0,
    "min_posts_served": 12,
    "warmup_cycles": 1.5,
    "burst": (4,),
    "email_wait_s": 2.0,
    "drain_max_s": 15.0,
    "out": RESULTS_DIR / "quick",
}
