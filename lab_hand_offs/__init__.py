"""Every way of sending the contact email that the lab compares, in one place.

An *app* is a package with its own POST /contact (`sync_app`, `celery_app`, `asyncio_app`). A
*hand-off* is what results, figures and tables name: an app with the settings that make it that
hand-off (the in-process shortcuts, the sync app under gunicorn's gevent worker). The stack
runner, the bench plans, the plots' colours and the tables all read this registry, and ask its
properties (`blocking`, `has_queue`, ...) rather than a name.

A variant that existing settings express is one `register(...)` here. A new behaviour is also a
new `contact_hand_off` value in its `settings`, which its app then accepts (and every other app
refuses), and the branch of its app's POST /contact that implements it.

The tables built from the registry (the hand-offs table, the bench's headline tables, the
glossary's list) order the hand-offs as registered here; the figures and the open sweep's tables
follow the order their run measured them in. Each hand-off keeps the colour it states, or takes
the next free one of `PALETTE`.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType

# Okabe-Ito, then Paul Tol's muted scheme: distinct for colour-blind readers and on a washed-out
# projector. Hand-offs past the last one get evenly spread hues.
PALETTE = (
    "#D55E00",
    "#009E73",
    "#0072B2",
    "#CC79A7",
    "#56B4E9",
    "#E69F00",
    "#F0E442",
    "#332288",
    "#117733",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
)


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

    @property
    def package(self) -> str:
        return self.gunicorn_target.partition(":")[0]


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
    colour: str = ""  # empty: the next colour of PALETTE no hand-off has taken
    # What a first-time reader needs to know of a term its name brings in, said before the
    # README's sentences that name the hand-off (e.g. what gevent does); empty: nothing new.
    gloss: str = ""

    def __post_init__(self) -> None:
        if self.app not in APPS:
            raise ValueError(f"{self.name}: app must be one of {tuple(APPS)}, not {self.app!r}")
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def runs(self) -> App:
        return APPS[self.app]

    @property
    def has_queue(self) -> bool:
        """A queue outside the web process (Redis) holds the email until a worker sends it."""
        return self.runs.has_queue

    @property
    def contact_hand_off(self) -> str:
        """What its app's POST /contact does with the email (the CONTACT_HAND_OFF it runs with)."""
        return str(self.settings.get("contact_hand_off", "request"))


_REGISTRY: dict[str, HandOff] = {}


def register(hand_off: HandOff) -> HandOff:
    if hand_off.name in _REGISTRY:
        raise ValueError(f"a hand-off named {hand_off.name!r} is already registered")
    if not hand_off.colour:
        hand_off = replace(hand_off, colour=_free_colour())
    _REGISTRY[hand_off.name] = hand_off
    return hand_off


def _free_colour() -> str:
    taken = {h.colour.upper() for h in _REGISTRY.values()}
    free = [c for c in PALETTE if c.upper() not in taken]
    if free:
        return free[0]
    # Past the palette: hues a golden angle apart never repeat and stay far from their neighbours.
    n = len(taken) - len(PALETTE)
    while True:
        r, g, b = colorsys.hls_to_rgb((n * 0.381966) % 1.0, 0.45, 0.65)
        colour = f"#{round(r * 255):02X}{round(g * 255):02X}{round(b * 255):02X}"
        if colour not in taken:
            return colour
        n += 1


@contextmanager
def registered(hand_off: HandOff) -> Iterator[HandOff]:
    """`hand_off` in the registry for the length of a block (a test's fake, a trial variant)."""
    hand_off = register(hand_off)
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
    """Every registered hand-off's name, in the order registered (the order of the tables built
    from the registry); only of `kinds` if given."""
    return tuple(h.name for h in _REGISTRY.values() if not kinds or h.kind in kinds)


def contact_hand_offs(app: str) -> tuple[str, ...]:
    """The CONTACT_HAND_OFF values `app`'s registered hand-offs run with: the only ones it
    accepts."""
    of = (h.contact_hand_off for h in _REGISTRY.values() if h.app == app)
    return tuple(dict.fromkeys(of))


def check_contact_hand_off(package: str, value: str) -> None:
    """Raise ValueError unless a hand-off of the app `package` holds (`sync_app`, the import
    name its web framework knows it by) runs with CONTACT_HAND_OFF=`value`."""
    app = next(a.name for a in APPS.values() if a.package == package)
    accepted = contact_hand_offs(app)
    if value not in accepted:
        raise ValueError(
            f"the {app} app implements CONTACT_HAND_OFF {' or '.join(accepted)}, not {value!r}"
        )


def folder_name(name: str) -> str:
    """A hand-off's name as one path component (a stack's run folder is named after it)."""
    return name.replace("/", "-")


def colour_of(name: str) -> str:
    return hand_off(name).colour


register(
    HandOff(
        "sync",
        "sync",
        "sent inside the request: the web worker waits for the provider",
        {"contact_hand_off": "request"},
        blocking=True,
        colour="#D55E00",
    )
)
register(
    HandOff(
        "celery",
        "celery",
        "queued in Redis; a Celery worker sends it, with retries",
        {"contact_hand_off": "request"},  # the Celery app always queues
        post_waits_for_email=False,
        colour="#009E73",
    )
)
register(
    HandOff(
        "asyncio",
        "asyncio",
        "awaited inside the request; the event loop serves others meanwhile",
        {"contact_hand_off": "request"},
        colour="#0072B2",
    )
)
# The tempting shortcuts ("why not just a thread?"), named apart so that results never mix them
# with the app they are.
register(
    HandOff(
        "sync+thread",
        "sync",
        "handed to a thread of the web process (no queue, no retries)",
        {"contact_hand_off": "in-process"},
        kind="shortcut",
        post_waits_for_email=False,
        colour="#CC79A7",
    )
)
register(
    HandOff(
        "asyncio+task",
        "asyncio",
        "handed to an un-awaited asyncio task of the web process (no queue, no retries)",
        {"contact_hand_off": "in-process"},
        kind="shortcut",
        post_waits_for_email=False,
        colour="#56B4E9",
    )
)
register(
    HandOff(
        "sync/gevent",
        "sync",
        "the sync app's own code under gunicorn's gevent worker",
        {"contact_hand_off": "request", "web_worker_class": "gevent"},
        kind="web tier",
        colour="#E69F00",
        gloss="*gevent* lets one worker switch to another request while one waits on the network",
    )
)
