"""The faults `make chaos` injects: what each breaks, in which apps, and how it recovers."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from lab_hand_offs import HandOff, hand_off, names
from lab_stack.stack import Stack


@dataclass(frozen=True)
class Fault:
    name: str
    hits: Callable[[HandOff], bool]  # the hand-offs that have what the fault breaks
    what: str
    inject: Callable[[Stack], None]
    recover: Callable[[Stack], None]
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def apps(self) -> tuple[str, ...]:
        """The registered hand-offs it is injected into, read when asked."""
        return tuple(name for name in names() if self.hits(hand_off(name)))


def _has_queue(how: HandOff) -> bool:
    return how.has_queue


def _has_own_code(how: HandOff) -> bool:
    """An app or a shortcut; a web-tier variant runs the same code as its app."""
    return how.kind in ("app", "shortcut")


def _kill(name: str) -> Callable[[Stack], None]:
    return lambda stack: stack.processes[name].kill()


def _restart(name: str) -> Callable[[Stack], None]:
    return lambda stack: stack.restart(name)


def _signal(name: str, signum: int) -> Callable[[Stack], None]:
    return lambda stack: stack.processes[name].signal(signum)


def _provider_mode(mode: str) -> Callable[[Stack], None]:
    return lambda stack: stack.provider.configure(mode=mode)


FAULTS = (
    Fault(
        "worker-killed",
        _has_queue,
        "SIGKILL the Celery worker and its pool mid-burst, then start a new one",
        _kill("worker"),
        _restart("worker"),
        # The killed worker's unacknowledged tasks are handed out again after this long; it
        # must exceed the longest task (0.5 s here) and the longest retry wait plus the SMTP
        # timeout (the app refuses to start otherwise), or healthy tasks would run twice.
        {"celery_visibility_timeout_s": 5, "retry_max": 1, "smtp_timeout_s": 4.0},
    ),
    Fault(
        "web-killed",
        _has_own_code,
        "SIGKILL the gunicorn master and worker mid-burst, then start them again",
        _kill("web"),
        _restart("web"),
    ),
    Fault(
        "web-restarted",
        _has_own_code,
        "a deploy: SIGTERM gunicorn mid-burst (it finishes what it can within its graceful "
        "timeout, then is killed), then start it again",
        lambda stack: stack.processes["web"].stop(),
        lambda stack: stack.processes["web"].start(),
    ),
    Fault(
        "provider-outage",
        _has_own_code,
        "the provider answers 451 to everything for 4 s, then recovers",
        _provider_mode("outage"),
        _provider_mode("normal"),
    ),
    Fault(
        "redis-restarted",
        _has_queue,
        "stop Redis cleanly mid-burst (it writes its append-only file) and start it again",
        lambda stack: stack.processes["redis"].stop(),
        _restart("redis"),
    ),
    Fault(
        "redis-stalled",
        _has_queue,
        "SIGSTOP Redis mid-burst for 4 s (its connections stay open, nothing answers), then "
        "SIGCONT: every Redis command gives up after REDIS_TIMEOUT_S",
        _signal("redis", signal.SIGSTOP),
        _signal("redis", signal.SIGCONT),
    ),
    Fault(
        "redis-crashed",
        _has_queue,
        "SIGKILL Redis mid-burst (append-only file, fsync once a second), then start it again",
        _kill("redis"),
        _restart("redis"),
    ),
)
