"""Shared fixtures: real stacks (Redis, provider, gunicorn, Celery worker) on free ports, and a
real Chromium.

The browser: a `chromium` on PATH (Debian's package), else the one Playwright downloads
(`.venv/bin/playwright install chromium`, for macOS and elsewhere). Browser tests are skipped
when there is neither, unless LAB_REQUIRE_BROWSER=1 (CI sets it), where a missing browser is a
failure. Screenshots land in var/test/screenshots/ for a human to look at.
"""

from __future__ import annotations

import email
import os
import socket
from collections.abc import Callable, Iterator
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
from loadtests.load.journey import contact_fields, csrf_token_from

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


def settings_for_tests(**changes: object) -> Settings:
    return with_free_ports(Settings.from_env().replace(**{**TEST_SETTINGS, **changes}))


@pytest.fixture(scope="session")
def start_stack() -> Iterator[Callable[..., Stack]]:
    """Start a stack for an app (or a shortcut) with test settings; every stack started is
    stopped at the end."""
    started: list[Stack] = []

    def start(app: str, **changes: object) -> Stack:
        stack = open_stack(app, settings_for_tests(**changes))
        started.append(stack)
        return stack.start()

    yield start
    for stack in started:
        stack.stop()


@pytest.fixture(scope="session")
def shared_stacks(start_stack: Callable[..., Stack]) -> dict[str, Stack]:
    """One stack per app, shared by the tests that leave the provider as they found it."""
    return {app: start_stack(app) for app in APPS}


@pytest.fixture(params=APPS)
def stack(request: pytest.FixtureRequest, shared_stacks: dict[str, Stack]) -> Stack:
    stack = shared_stacks[request.param]
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
