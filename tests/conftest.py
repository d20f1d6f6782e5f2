"""Shared fixtures: real stacks (Redis, provider, gunicorn, Celery worker) on free ports, and a
real Chromium.

The browser: a `chromium` on PATH (Debian's package), else the one Playwright downloads
(`.venv/bin/playwright install chromium`, for macOS and elsewhere). Browser tests are skipped
when there is neither, unless LAB_REQUIRE_BROWSER=1 (CI sets it), where a missing browser is a
failure. Screenshots land in var/test/screenshots/ for a human to look at.
"""

from __future__ import annotations

import contextlib
import email
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email import policy
from email.utils import getaddresses
from pathlib import Path

import pytest
import requests
from playwright.sync_api import sync_playwright
from requests.adapters import HTTPAdapter

from lab_settings import Settings
from lab_stack.browser import CHROMIUM_HINT, find_chromium
from lab_stack.stack import APPS, PROJECT_ROOT, Stack, open_stack, with_free_ports
from loadtests.load.drive import queue_empty
from loadtests.load.journey import contact_fields, csrf_token_from
from tests.busy import BESIDE_HOG

# Fast enough for a test suite, slow enough that "waiting for the provider" is visible.
TEST_SETTINGS = {
    "provider_delay_s": 0.05,
    "smtp_timeout_s": 3.0,
    "retry_base_s": 0.3,
    "rates_api_delay_s": 0.05,
    "rates_api_timeout_s": 3.0,
    "celery_concurrency": 2,
    "rate_limit_s": 0.0,  # the tests' visitors all come from 127.0.0.1; test_rate_limit turns it on
    "prices_rate_limit_s": 0.0,
    "report_rate_limit_s": 0.0,
    "data_dir": "var/test",
}


# CI's time budget for one run of the suite, so that its time does not creep back: the 10
# minutes on 2 cores a student is promised for `make test`, and a quarter more beside
# `make test-busy`'s CPU hog, which takes one of those cores. Checked only where CI is set (a
# student's laptop may be slower); LAB_SUITE_BUDGET_S, in seconds, replaces either.
SUITE_BUDGET_S = 600.0
BESIDE_HOG_BUDGET_S = 750.0
SUITE_STARTED = pytest.StashKey[float]()
OVER_BUDGET = pytest.StashKey[str]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[SUITE_STARTED] = time.monotonic()


# First: xdist's own hook reads the groups into the test ids (`@group`) after this one.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs two workers (pytest-xdist, `--dist loadgroup`): every benchmark test on
    one of them, one after another, as each measures a queue it must have to itself (with the
    rest of its module, whose fixtures it shares); each other module's tests together on either,
    so a module's stacks start once. Beside a benchmark the other worker is lighter than
    `make test-busy`'s CPU hog, which the benchmarks pass beside. A benchmark that times no
    queue (`bench(queue=False)`: it counts emails or runs) goes with its module instead."""
    module = {item: item.nodeid.split("::")[0] for item in items}
    with_a_bench = {
        module[item]
        for item in items
        if (bench := item.get_closest_marker("bench")) and bench.kwargs.get("queue", True)
    }
    for item in items:
        group = "bench" if module[item] in with_a_bench else module[item]
        item.add_marker(pytest.mark.xdist_group(group))
    # Workers take groups in this order as they free up: the longest first (the benchmarks,
    # then the other modules with a benchmark), so that none is handed out last to run alone.
    slow = {module[item] for item in items if item.get_closest_marker("bench")}
    items.sort(key=lambda item: (module[item] not in with_a_bench, module[item] not in slow))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """pytest-xdist marks a test's group by appending it to the test's id; pytest 9.2's ids
    drop it without a word (pytest-xdist issue 1386), and every test then runs on any worker:
    the benchmarks beside each other, each module's stacks started on both."""
    ungrouped = [i for i in ids if "@" not in i.rsplit("::", 1)[-1]]
    if node.config.getvalue("dist") == "loadgroup" and ungrouped:
        pytest.exit(
            f"--dist loadgroup grouped nothing ({ungrouped[0]} has no @group): this pytest "
            "and pytest-xdist do not work together; install the pinned ones (make setup)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """pyplot keeps every figure a test draws and does not save; a module's tests run in one
    worker, and past 20 open figures matplotlib warns: close them after each test."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


@pytest.hookimpl(trylast=True)  # after the session's stacks are stopped: their time counts too
def pytest_sessionfinish(session: pytest.Session) -> None:
    if not os.environ.get("CI"):
        return
    beside_hog = os.environ.get(BESIDE_HOG) == "1"
    budget_s = float(
        os.environ.get("LAB_SUITE_BUDGET_S", BESIDE_HOG_BUDGET_S if beside_hog else SUITE_BUDGET_S)
    )
    took_s = time.monotonic() - session.stash[SUITE_STARTED]
    if took_s > budget_s:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        session.config.stash[OVER_BUDGET] = (
            f"The suite took {took_s:.0f} s, over CI's budget of {budget_s:g} s"
            f"{' beside the CPU hog' if beside_hog else ''}: the slowest tests are listed above."
        )


@pytest.hookimpl(trylast=True)  # below the slowest tests
def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if OVER_BUDGET in config.stash:
        terminalreporter.write_line(config.stash[OVER_BUDGET], red=True, bold=True)


def settings_for_tests(**changes: object) -> Settings:
    return with_free_ports(Settings.from_env().replace(**{**TEST_SETTINGS, **changes}))


def run_at_once(commands: list[list[str]], timeout_s: float) -> list[subprocess.CompletedProcess]:
    """Run command lines (runners, each starting stacks on free ports of its own) from the
    project's root at the same time; wait for every one, output captured."""

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
        )

    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(run, commands))


@contextlib.contextmanager
def stacks_started() -> Iterator[Callable[..., Stack]]:
    """A function that starts a stack for an app (or a shortcut) with test settings; every
    stack it started is stopped on leaving, all at the same time (each mostly waits for its
    processes to exit)."""
    started: list[Stack] = []

    def start(app: str, **changes: object) -> Stack:
        stack = open_stack(app, settings_for_tests(**changes))
        started.append(stack)
        return stack.start()

    try:
        yield start
    finally:
        with ThreadPoolExecutor(max(1, len(started))) as pool:
            list(pool.map(Stack.stop, started))


@pytest.fixture(scope="module")
def start_stack() -> Iterator[Callable[..., Stack]]:
    """Stacks of the module's own: stopped once its tests are done, not left idling (a Celery
    worker, a Redis) beside the rest of the suite."""
    with stacks_started() as start:
        yield start


def start_at_once(start: Callable[..., Stack], **changes: object) -> dict[str, Stack]:
    """A stack for each app, with the same changes, started at the same time: each mostly
    waits for its processes to come up."""
    with ThreadPoolExecutor(len(APPS)) as pool:
        return dict(zip(APPS, pool.map(lambda app: start(app, **changes), APPS), strict=True))


@pytest.fixture(scope="session")
def shared_stacks() -> Iterator[dict[str, Stack]]:
    """One stack per app, shared by the tests that leave the provider as they found it."""
    with stacks_started() as start:
        yield start_at_once(start)


def drained(stack: Stack, timeout_s: float = 30) -> Stack:
    """The stack once nothing an earlier test queued is left to run (its queue empty, no task
    held by a worker), so that what the provider receives next is this test's."""
    deadline = time.monotonic() + timeout_s
    while not queue_empty(stack):
        assert time.monotonic() < deadline, f"{stack.app}'s queue did not drain"
        time.sleep(0.1)
    return stack


@pytest.fixture(params=APPS)
def stack(request: pytest.FixtureRequest, shared_stacks: dict[str, Stack]) -> Stack:
    stack = drained(shared_stacks[request.param])
    stack.provider.configure(
        delay_s=TEST_SETTINGS["provider_delay_s"],
        mode="normal",
        fail_next=0,
        transient_failure_rate=0.0,
        permanent_failure_rate=0.0,
    )
    stack.provider.reset()
    stack.rates_api.configure(
        delay_s=TEST_SETTINGS["rates_api_delay_s"],
        mode="normal",
        fail_next=0,
        transient_failure_rate=0.0,
        permanent_failure_rate=0.0,
    )
    stack.rates_api.reset()
    return stack


class Visitor:
    """A person with a browser session: opens the form, then sends it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def open_form(self) -> str:
        response = self.session.get(f"{self.base_url}/contact", timeout=10)
        response.raise_for_status()
        return csrf_token_from(response.text)

    def submit(
        self, fields: dict[str, str] | None = None, *, with_token: bool = True, **kwargs: object
    ) -> requests.Response:
        data = dict(fields if fields is not None else contact_fields(1, 1))
        if with_token:
            data.setdefault("csrf_token", self.open_form())
        return self.session.post(
            f"{self.base_url}/contact", data=data, allow_redirects=False, timeout=30, **kwargs
        )


@pytest.fixture
def visitor(stack: Stack) -> Visitor:
    return Visitor(stack.url)


def reply_to_as_mail_readers_see_it(raw: str | bytes) -> dict[str, list[str]]:
    """The Reply-To addresses of a raw email, as two parsers a mail reader might use read them:
    the classic `getaddresses` over every Reply-To line, and the header registry's."""
    data = raw.encode() if isinstance(raw, str) else raw
    classic = email.message_from_bytes(data)
    modern = email.message_from_bytes(data, policy=policy.default)
    return {
        "getaddresses": [addr for _, addr in getaddresses(classic.get_all("Reply-To", []))],
        "headerregistry": [a.addr_spec for a in modern["Reply-To"].addresses],
    }


def loopback_alias(address: str) -> str:
    """`address` if this machine answers on it (Linux: all of 127/8; macOS only after
    `sudo ifconfig lo0 alias ADDRESS`)."""
    probe = socket.socket()
    try:
        probe.bind((address, 0))
    except OSError:
        pytest.skip(f"{address} is not on this machine's loopback (macOS: ifconfig lo0 alias)")
    finally:
        probe.close()
    return address


class FromAddress(HTTPAdapter):
    """requests' adapter that connects from one local address (the whole 127/8 is this
    machine on Linux): `session.mount("http://", FromAddress(loopback_alias("127.0.0.2")))`."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


SCREENSHOTS = PROJECT_ROOT / "var" / "test" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = find_chromium()
    if executable is None:
        if os.environ.get("LAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LAB_REQUIRE_BROWSER=1 but {CHROMIUM_HINT}")
        pytest.skip(f"{CHROMIUM_HINT} to run the browser tests")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
