"""What `make bench-open` runs: the rates, how long each point is measured, and the repeats."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lab_hand_offs import hand_off as registered
from lab_hand_offs import names
from loadtests.analysis.bench_plan import LOCUST_START_S
from loadtests.analysis.open_summary import OpenPoint
from loadtests.analysis.results import RESULTS_DIR


@dataclass(frozen=True)
class OpenPlan:
    hand_offs: tuple[str, ...] = field(default_factory=names)
    rhos: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
    overload_rho: float | None = 1.2
    delay_s: float = 0.5
    probe_rate: float = 5.0
    celery_concurrency: int = 4
    # The sync worker's queue settles on a time scale of about delay / (1 - rho)^2: its warm-up
    # is one such time and its window `settle_windows` of them (at least `min_window_s`).
    settle_windows: float = 3.0
    # The ones that do not queue (probes independent of each other) need less to stand on.
    min_window_s: float = 20.0
    # The sync queue's tail rests on its few long busy periods: at 5 probes/s a p95 needs about
    # this long to stand on a few dozen slow probes, whatever rho (30 s gave the two generators
    # p95s 40% apart at rho 0.5, on the same schedule).
    min_queue_window_s: float = 90.0
    min_warmup_s: float = 5.0
    overload_window_s: float = 40.0
    # One window near rho 1 is one draw from a wide distribution (a queue remembers its past
    # for about a relaxation time): every steady point runs on `schedules` Poisson schedules
    # (seeds 1..schedules, the same ones for every hand-off), and its estimate is the mean over
    # them with an interval. The overload point runs once: it reports a growth rate.
    schedules: int = 3
    seeds: tuple[int, ...] = ()  # these schedules only (`--seeds`); (): 1..schedules
    # Where the threads generator measures the same schedule again (`--agreement`), and the
    # rhos where it repeats with both generators.
    second_generator_rhos: tuple[float, ...] = ()
    repeat_rhos: tuple[float, ...] = ()
    repeats: int = 1
    repeated_generators: tuple[str, ...] = ("locust",)
    email_wait_s: float = 20.0
    out: Path = RESULTS_DIR / "open"
    replay_only: bool = False
    # `--into`: the sweep whose runs these points measure again, and why they had to be.
    into: Path | None = None
    why: str = ""

    def rate(self, rho: float) -> float:
        return rho / self.delay_s

    def relaxation_s(self, rho: float) -> float:
        return self.delay_s / (1 - rho) ** 2

    def timing(self, hand_off: str, rho: float) -> tuple[float, float]:
        """(warm-up, window) in seconds."""
        if rho >= 1:
            return self.min_warmup_s, self.overload_window_s
        if not registered(hand_off).blocking:
            return self.min_warmup_s, self.min_window_s
        settle = self.relaxation_s(rho)
        window = max(self.min_queue_window_s, self.settle_windows * settle)
        return max(self.min_warmup_s, settle), window

    def estimate_s(self, point: OpenPoint) -> float:
        """Roughly how long a point takes: its stack, warm-up, window and the last emails,
        which reach the provider about two provider delays after the window (`email_wait_s` is
        only the bound: the reference sweep of 78 points waited far less)."""
        warmup, window = self.timing(point.hand_off, point.rho)
        overhead = registered(point.hand_off).runs.stack_overhead_s + LOCUST_START_S
        return overhead + warmup + window + 2 * self.delay_s

    def total_estimate_s(self) -> float:
        return sum(self.estimate_s(p) for p in self.points())

    def announcement(self) -> str:
        """The line a sweep prints before it starts: what it runs and about how long."""
        return (
            f"Open arrivals: {len(self.points())} points ({', '.join(self.hand_offs)} at rho "
            f"{', '.join(f'{r:g}' for r in self.rhos)}"
            + (
                f", schedule {', '.join(map(str, self.seeds))}"
                if self.seeds
                else f", {self.schedules} schedules each"
                if self.schedules > 1
                else ""
            )
            + (f", overload {self.overload_rho:g}" if self.overload_rho else "")
            + f"); provider delay {self.delay_s:g} s, so rho 1 is {1 / self.delay_s:g} "
            f"arrivals/s. About {self.total_estimate_s() / 60:.0f} minutes (the windows, "
            "warm-ups and stack start-ups the plan sets)."
        )

    def points(self) -> list[OpenPoint]:
        """Schedule by schedule (every hand-off and rho on seed 1, then seed 2, ...): a slow drift
        of the machine spreads over the hand-offs instead of landing on one."""
        overload = [OpenPoint(h, self.overload_rho, self.delay_s) for h in self.hand_offs]
        first = [
            OpenPoint(h, rho, self.delay_s, seed=seed)
            for seed in self.seeds or range(1, self.schedules + 1)
            for h in self.hand_offs
            for rho in self.rhos
        ] + (overload if self.overload_rho else [])
        second = [
            OpenPoint(h, rho, self.delay_s, generator="threads")
            for h in self.hand_offs
            for rho in self.second_generator_rhos
            if registered(h).blocking and rho in self.rhos
        ]
        again = [
            OpenPoint(h, rho, self.delay_s, generator=generator, seed=seed)
            for seed in range(self.schedules + 1, self.schedules + self.repeats)
            for h in self.hand_offs
            for rho in self.repeat_rhos
            for generator in self.repeated_generators
            if registered(h).blocking
            and rho in self.rhos
            and (generator == "locust" or rho in self.second_generator_rhos)
        ]
        return first + second + again


def quick() -> dict[str, object]:
    """`--quick`: the apps only, two rates, short windows, into results/local/open/."""
    return {"hand_offs": names("app"), **_QUICK}


_QUICK = {
    "rhos": (0.5, 0.9),
    "overload_rho": None,
    "settle_windows": 1.0,
    "min_window_s": 20.0,
    "min_queue_window_s": 30.0,
    "schedules": 1,
    "email_wait_s": 10.0,
    "out": RESULTS_DIR / "local" / "open",
}


def agreement() -> dict[str, object]:
    """Do the two generators measure the same thing? The blocking hand-offs, where the queue
    amplifies every difference, on three schedules per rate, each measured by both
    (`results/open/agreement/`)."""
    blocking = tuple(name for name in names("app") if registered(name).blocking)
    return {"hand_offs": blocking, **_AGREEMENT}


_AGREEMENT = {
    "rhos": (0.5, 0.9),
    "overload_rho": None,
    "second_generator_rhos": (0.5, 0.9),
    "schedules": 1,
    "repeat_rhos": (0.5, 0.9),
    "repeats": 3,
    "repeated_generators": ("locust", "threads"),
    "out": RESULTS_DIR / "open" / "agreement",
}
