"""How a slow provider behaves, whatever protocol it speaks: its delay and its failures.

The SMTP provider and the rates API share this, so "2 s, 10% transient failures" means the
same thing for an email and for an API call; each maps the decided fate onto its own protocol.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from enum import Enum

MODES = ("normal", "outage", "hang")
DISTRIBUTIONS = ("fixed", "uniform", "exponential")


@dataclass
class ProviderBehaviour:
    """How the provider answers. Every field can change while it runs."""

    delay_s: float = 2.0
    distribution: str = "fixed"  # fixed | uniform (0 to 2x delay) | exponential (mean delay)
    transient_failure_rate: float = 0.0  # "try again later" (SMTP 451, HTTP 503)
    permanent_failure_rate: float = 0.0  # refused for good (SMTP 554, HTTP 403)
    fail_next: int = 0  # the next N requests fail transiently, whatever the rates: exact tests
    mode: str = "normal"  # normal | outage (transient failure at once) | hang (never answers)
    # A request whose client leaves before the answer: dropped (False), or finished all the same
    # (True), as a real provider that has a whole email queues it (RFC 1047's duplicate).
    finish_after_client_leaves: bool = False
    seed: int = 1

    def updated(self, changes: dict[str, object]) -> ProviderBehaviour:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown provider settings: {sorted(unknown)}")
        values = asdict(self)
        for name, value in changes.items():
            values[name] = type(getattr(self, name))(value)
        behaviour = ProviderBehaviour(**values)
        behaviour.check()
        return behaviour

    def check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}")
        if self.delay_s < 0 or self.fail_next < 0:
            raise ValueError("delay_s and fail_next must be >= 0")
        for rate in (self.transient_failure_rate, self.permanent_failure_rate):
            if not 0 <= rate <= 1:
                raise ValueError("failure rates must be between 0 and 1")

    def draw_delay(self, rng: random.Random) -> float:
        if self.distribution == "uniform":
            return rng.uniform(0, 2 * self.delay_s)
        if self.distribution == "exponential":
            return rng.expovariate(1 / self.delay_s) if self.delay_s > 0 else 0.0
        return self.delay_s


class Fate(Enum):
    """What happens to one request."""

    OK = "ok"
    TRANSIENT = "transient"  # fails after the delay, worth trying again
    PERMANENT = "permanent"  # fails after the delay, never worth trying again
    OUTAGE = "outage"  # fails at once, worth trying again later
    HANG = "hang"  # never answers: the client must time out


class Faults:
    """The provider's current behaviour and its random draws, shared by its request threads."""

    def __init__(self, behaviour: ProviderBehaviour) -> None:
        behaviour.check()
        self.behaviour = behaviour
        self.rng = random.Random(behaviour.seed)
        self._lock = threading.Lock()

    def set_behaviour(self, behaviour: ProviderBehaviour) -> None:
        with self._lock:
            if behaviour.seed != self.behaviour.seed:
                self.rng = random.Random(behaviour.seed)
            self.behaviour = behaviour

    def decide(self) -> tuple[Fate, float]:
        """This request's fate and how long to wait before answering."""
        with self._lock:
            behaviour = self.behaviour
            if behaviour.mode == "hang":
                return Fate.HANG, 0.0
            if behaviour.mode == "outage":
                return Fate.OUTAGE, 0.0
            if behaviour.fail_next > 0:
                self.behaviour = behaviour.updated({"fail_next": behaviour.fail_next - 1})
                return Fate.OUTAGE, 0.0
            delay = behaviour.draw_delay(self.rng)
            draw = self.rng.random()
            if draw < behaviour.transient_failure_rate:
                return Fate.TRANSIENT, delay
            if draw < behaviour.transient_failure_rate + behaviour.permanent_failure_rate:
                return Fate.PERMANENT, delay
            return Fate.OK, delay
