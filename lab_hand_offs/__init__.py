"""Every way of sending the contact email that the lab compares, in one place.

An *app* is a package with its own POST /contact (`sync_app`, `celery_app`, `asyncio_app`). A
*hand-off* is what results, figures and tables name: an app with the settings that make it that
hand-off (the in-process shortcuts, the sync app under gunicorn's gevent worker). The stack
runner, the bench plans, the plots' colours and the tables all read this registry, so a new
variant is one `register(...)` here and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class App:
    name: str
    gunicorn_target: str
    contact_route: str  # the file that holds its POST /contact (`contact_submit`)
    # gunicorn's worker class when the app needs its own (an event loop); otherwise the web-tier
    # setting WEB_WORKER_CLASS chooses one of gunicorn's.
    worker_class: str | None = None
    has_queue: bool = False  # a Celery worker, its queue in Redis, and the push service
    stack_overhead_s: float = 3.0  # start, warm up and stop its stack: for sizing a run


APPS: Mapping[str, App] = MappingProxyType(
    {
        "sync": App("sync", "sync_app:create_app()", "sync_app/__init__.py"),
        "celery": App(
            "celery",
            "celery_app:create_app()",
            "celery_app/contact.py",
            has_queue=True,
            stack_overhead_s=7.0,
        ),
        "asyncio": App(
            "asyncio",
            "asyncio_app:create_app()",
            "asyncio_app/__init__.py",
            worker_class="site_glue.guarded_uvicorn.GuardedUvicornWorker",
        ),
    }
)

KINDS = ("app", "shortcut", "web tier")


@dataclass(frozen=True)
class HandOff:
    name: str  # what every result, legend and table calls it
    app: str  # the app whose code runs (a key of APPS)
    colour: str
    how: str  # one line: where the email goes when the visitor presses Send
    # The settings that make it this hand-off, over whatever else the run sets.
    settings: Mapping[str, object] = field(default_factory=dict)
    # "app": the app as built; "shortcut": the sync or async app handing the email off inside
    # its own web process; "web tier": an app's own code under another web-tier setting.
    kind: str = "app"
    # The POST is answered only once the provider has taken the email.
    post_waits_for_email: bool = True
    # One request at a time per worker: the web tier is the single queue the model describes.
    blocking: bool = False

    def __post_init__(self) -> None:
        if self.app not in APPS:
            raise ValueError(f"{self.name}: app must be one of {tuple(APPS)}, not {self.app!r}")
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def runs(self) -> App:
        return APPS[self.app]


_REGISTRY: dict[str, HandOff] = {}


def register(hand_off: HandOff) -> HandOff:
    if hand_off.name in _REGISTRY:
        raise ValueError(f"a hand-off named {hand_off.name!r} is already registered")
    _REGISTRY[hand_off.name] = hand_off
    return hand_off


@contextmanager
def registered(hand_off: HandOff) -> Iterator[HandOff]:
    """`hand_off` in the registry for the length of a block (a test's fake, a trial variant)."""
    register(hand_off)
    try:
        yield hand_off
    finally:
        del _REGISTRY[hand_off.name]


def hand_off(name: str) -> HandOff:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no hand-off named {name!r}; there are {', '.join(_REGISTRY)}") from None


def names(*kinds: str) -> tuple[str, ...]:
    """Every registered hand-off's name, in the order registered; only of `kinds` if given."""
    return tuple(h.name for h in _REGISTRY.values() if not kinds or h.kind in kinds)


def colour_of(name: str) -> str:
    return hand_off(name).colour


# Okabe-Ito colours: distinct for colour-blind readers and on a washed-out projector.
register(
    HandOff(
        "sync",
        "sync",
        "#D55E00",
        "sent inside the request: the web worker waits for the provider",
        {"contact_hand_off": "request"},
        blocking=True,
    )
)
register(
    HandOff(
        "celery",
        "celery",
        "#009E73",
        "queued in Redis; a Celery worker sends it, with retries",
        {"contact_hand_off": "request"},  # the Celery app always queues
        post_waits_for_email=False,
    )
)
register(
    HandOff(
        "asyncio",
        "asyncio",
        "#0072B2",
        "awaited inside the request; the event loop serves others meanwhile",
        {"contact_hand_off": "request"},
    )
)
# The tempting shortcuts ("why not just a thread?"), named apart so that results never mix them
# with the app they are.
register(
    HandOff(
        "sync+thread",
        "sync",
        "#CC79A7",
        "handed to a thread of the web process (no queue, no retries)",
        {"contact_hand_off": "in-process"},
        kind="shortcut",
        post_waits_for_email=False,
    )
)
register(
    HandOff(
        "asyncio+task",
        "asyncio",
        "#56B4E9",
        "handed to an un-awaited asyncio task of the web process (no queue, no retries)",
        {"contact_hand_off": "in-process"},
        kind="shortcut",
        post_waits_for_email=False,
    )
)
register(
    HandOff(
        "sync/gevent",
        "sync",
        "#E69F00",
        "the sync app's own code under gunicorn's gevent worker",
        {"contact_hand_off": "request", "web_worker_class": "gevent"},
        kind="web tier",
    )
)
