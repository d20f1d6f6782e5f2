"""What `make bench-cost` runs: one target for every hand-off, the ways each grows to meet it,
the arrival rates, and how long each configuration is measured."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from lab_hand_offs import folder_name
from lab_hand_offs import hand_off as registered
from lab_settings import Settings
from loadtests.analysis.bench_plan import LOCUST_START_S
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR

# Each process more than a stack's usual few takes about this long to start (an app imported).
START_PER_PROCESS_S = 0.5
# After the window: the last journeys come back, then the last emails reach the provider.
DRAIN_S = 3.0


def env_name(setting: str) -> str:
    """The environment variable of a `Settings` field: web_workers -> WEB_CONCURRENCY."""
    return next(f.metadata["env"] for f in fields(Settings) if f.name == setting)


@dataclass(frozen=True)
class Target:
    """What every visitor must get, whatever the arrival rate (p95s, in milliseconds)."""

    home_p95_ms: float = 100.0
    post_p95_ms: float = 1000.0  # the contact POST answered
    email_p95_ms: float = 5000.0  # the email at the provider, from its submission

    def met(self, home_p95_ms: float, post_p95_ms: float, email_p95_ms: float) -> bool:
        """NaN (nothing measured) never meets it."""
        return (
            home_p95_ms <= self.home_p95_ms
            and post_p95_ms <= self.post_p95_ms
            and email_p95_ms <= self.email_p95_ms
        )

    def describe(self) -> str:
        return (
            f"homepage p95 <= {fmt_ms(self.home_p95_ms)}, contact POST p95 <= "
            f"{fmt_ms(self.post_p95_ms)}, email at the provider p95 <= {fmt_ms(self.email_p95_ms)}"
        )


@dataclass(frozen=True)
class Size:
    """A configuration: the web tier's processes and threads, the email worker's processes."""

    web_workers: int = 1
    web_threads: int = 1
    celery_concurrency: int = 1

    def settings(self) -> dict[str, int]:
        return {
            "web_workers": self.web_workers,
            "web_threads": self.web_threads,
            "celery_concurrency": self.celery_concurrency,
        }

    def processes(self, has_queue: bool) -> dict[str, int]:
        """The processes it runs, per part of the stack (as `Stack.processes` names them):
        gunicorn's master and its workers; Redis (every app's ledger of sent emails, the
        Celery app's queue); with a queue the Celery worker and its prefork children, and the
        push service. The provider and the rates API stand for outside services: not counted."""
        parts = {"web": 1 + self.web_workers, "redis": 1}
        if has_queue:
            parts.update(worker=1 + self.celery_concurrency, push=1)
        return parts


@dataclass(frozen=True)
class Family:
    """One way to grow a registered hand-off: the `Settings` field that grows with the load."""

    hand_off: str
    grows: str
    marker: str = "o"  # the figure's, beside the hand-off's colour

    @property
    def name(self) -> str:
        return f"{self.hand_off} x {env_name(self.grows)}"

    @property
    def kind(self) -> str:
        """How the model sizes it. `slots`: each request holds a worker or a thread for the
        provider's delay (a blocking web tier); `cpu`: one process holds every request, its CPU
        bounds it; `queue`: the web tier by its CPU, the email worker by its queue."""
        how = registered(self.hand_off)
        if how.has_queue:
            return "queue"
        return "slots" if how.blocking else "cpu"

    @property
    def has_queue(self) -> bool:
        return self.kind == "queue"

    def size(self, n: int, web_workers: int = 1) -> Size:
        return replace(Size(web_workers=web_workers), **{self.grows: n})

    def per_process(self, size: Size) -> str:
        """What one web process holds at once, in words."""
        if registered(self.hand_off).settings.get("web_worker_class") == "gevent":
            return "greenlets"
        if registered(self.hand_off).runs.worker_class:
            return "event loop"
        return f"{size.web_threads} thread{'s' if size.web_threads > 1 else ''}"


FAMILIES = (
    Family("sync", "web_workers", "o"),
    Family("sync", "web_threads", "s"),
    Family("sync/gevent", "web_workers", "D"),
    Family("asyncio", "web_workers", "P"),
    Family("celery", "celery_concurrency", "v"),
)


def family_named(name: str) -> Family:
    return next(f for f in FAMILIES if f.name == name)


@dataclass(frozen=True)
class CostPoint:
    """One configuration measured: a family at size `n` (its grown setting), at `rate`."""

    family: Family
    rate: float
    n: int
    predicted_n: int
    web_workers: int = 1  # the Celery family's web tier, sized by its CPU
    seed: int = 1

    @property
    def size(self) -> Size:
        return self.family.size(self.n, self.web_workers)

    @property
    def role(self) -> str:
        gap = self.n - self.predicted_n
        return {0: "predicted", -1: "one below", 1: "one above"}.get(gap, f"{gap:+d}")

    @property
    def name(self) -> str:
        return (
            f"{folder_name(self.family.hand_off)}-{self.family.grows}-rate{self.rate:g}"
            f"-n{self.n}-w{self.web_workers}-s{self.seed}"
        )


@dataclass(frozen=True)
class CostPlan:
    families: tuple[Family, ...] = FAMILIES
    rates: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)  # visitors arriving per second
    delay_s: float = 0.5
    target: Target = field(default_factory=Target)
    probe_rate: float = 5.0
    seed: int = 1  # the arrival schedule's: the same for every family at a rate
    # The predicted sizes keep each slot at most about half busy: a queue there settles within
    # seconds, and a minute of 5 probes/s gives a p95 some 15 slow probes to stand on.
    warmup_s: float = 10.0
    window_s: float = 60.0
    email_wait_s: float = 20.0
    # () measures each family at its predicted size and one below; else exactly these sizes.
    sizes: tuple[int, ...] = ()
    # Where a size measured (other than one below the prediction) misses the target, the run
    # tries one size up, then another, at most this many times.
    max_climb: int = 2
    # The model's givens, seconds. A cheap page's time (results/cpu_per_request.csv: the
    # homepage, ~1 ms); what a POST that sends adds to the provider's delay (the SMTP talk and
    # the page: `make bench-open`'s replay measured ~10 ms); the Celery POST's own CPU (~3 ms).
    page_s: float = 0.001
    post_extra_s: float = 0.010
    queue_post_s: float = 0.003
    # Planning figures for where the machine runs out, per request or email: the load
    # generator's CPU, the provider's, the Celery worker's. The run measures all three.
    generator_cpu_s: float = 0.001
    provider_cpu_s: float = 0.003
    worker_cpu_s: float = 0.005
    max_utilisation: float = 0.8  # of a core, past which a CPU queue's p95 soon breaks 100 ms
    # Each prediction simulates this many arrivals (hours at 1/s): a long-run value.
    model_visitors: int = 10_000
    beyond_rates: tuple[float, ...] = (16.0, 32.0, 64.0, 128.0)
    out: Path = RESULTS_DIR / "cost"
    predict_only: bool = False

    def record(self) -> dict[str, object]:
        """The plan as its results store it: families by name, the target's three limits."""
        skip = ("out", "predict_only", "families", "target")
        return {
            "families": [f.name for f in self.families],
            "target": vars(self.target),
            **{k: v for k, v in vars(self).items() if k not in skip},
        }

    @classmethod
    def from_record(cls, stored: Mapping[str, object]) -> CostPlan:
        """The plan a run stored with its results (`record()`, read back from JSON): what the
        publishers state its conditions from."""
        known = {f.name for f in fields(cls)} - {"families", "target"}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}
        return cls(
            families=tuple(family_named(name) for name in stored["families"]),
            target=Target(**stored["target"]),
            **{k: v for k, v in values.items() if k in known},
        )

    def points(self, predictions: dict[tuple[str, float], object]) -> list[CostPoint]:
        """Rate by rate, every family at its predicted size and one below (`sizes`: those)."""
        points = []
        for rate in self.rates:
            for family in self.families:
                predicted = predictions[(family.name, rate)]
                if predicted.n is None:
                    continue
                sizes = self.sizes or (predicted.n - 1, predicted.n)
                points += [
                    CostPoint(family, rate, n, predicted.n, predicted.web_workers, self.seed)
                    for n in sizes
                    if n >= 1
                ]
        return points

    def estimate_s(self, point: CostPoint) -> float:
        """Roughly how long a point takes: its stack, generator, warm-up, window and drain."""
        processes = sum(point.size.processes(point.family.has_queue).values())
        overhead = registered(point.family.hand_off).runs.stack_overhead_s + LOCUST_START_S
        return overhead + START_PER_PROCESS_S * processes + self.warmup_s + self.window_s + DRAIN_S

    def announcement(self, points: list[CostPoint], model_s: float) -> str:
        """What the run measures and about how long it takes, printed before it starts."""
        minutes = math.ceil(sum(self.estimate_s(p) for p in points) / 60)
        return (
            f"The cost of one target ({self.target.describe()}): {len(points)} configurations, "
            f"{', '.join(f.name for f in self.families)} at "
            f"{', '.join(f'{r:g}' for r in self.rates)} visitors/s, each at "
            + (
                "the size the model predicts and one below (and up to "
                f"{self.max_climb} sizes up where the predicted one misses)"
                if not self.sizes
                else "those sizes"
            )
            + f"; provider delay {self.delay_s:g} s, the same Poisson schedule (seed "
            f"{self.seed}) for every hand-off at a rate, {self.warmup_s:g} s warm-up and "
            f"{self.window_s:g} s window each. About {minutes} minutes (the model took "
            f"{model_s:.0f} s)."
        )


def quick() -> dict[str, object]:
    """`--quick`: two rates, short windows, a shorter model, into results/local/cost/."""
    return {
        "rates": (2.0, 8.0),
        "warmup_s": 3.0,
        "window_s": 10.0,
        "email_wait_s": 10.0,
        "model_visitors": 3000,
        "beyond_rates": (32.0,),
        "out": RESULTS_DIR / "local" / "cost",
    }
