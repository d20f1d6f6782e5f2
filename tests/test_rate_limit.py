"""C9: one contact email per visitor per RATE_LIMIT_S seconds, the same answer in all three apps."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio
import requests

from bakery_site.rate_limit import AsyncRateLimit, RateLimit
from lab_stack.stack import APPS
from loadtests.load.journey import contact_fields, csrf_token_from
from tests.conftest import Visitor, start_at_once

WINDOW_S = 2.0


@pytest.fixture(scope="module")
def limited_stacks(start_stack):
    return start_at_once(
        start_stack,
        rate_limit_s=WINDOW_S,
        prices_rate_limit_s=WINDOW_S,
        report_rate_limit_s=WINDOW_S,
        report_duration_s=0.2,
    )


@pytest.mark.parametrize("app", APPS)
def test_second_email_within_the_window_gets_429_and_keeps_the_message(limited_stacks, app):
    stack = limited_stacks[app]
    stack.provider.reset()
    visitor = Visitor(stack.url)
    first = visitor.submit(contact_fields(1, 1))
    second_fields = {**contact_fields(1, 2), "message": "Sent too soon, keep me"}
    second = visitor.submit(second_fields)

    assert first.status_code == 302
    assert second.status_code == 429
    assert 1 <= int(second.headers["Retry-After"]) <= WINDOW_S
    assert "one message every 2 seconds" in second.text
    assert "Sent too soon, keep me</textarea>" in second.text
    stack.provider.wait_for("delivered", 1, timeout_s=15)
    time.sleep(0.3)
    assert stack.provider.stats()["delivered"] == 1  # the refused one was never sent

    time.sleep(int(second.headers["Retry-After"]) + 0.1)
    third = visitor.submit(second_fields)
    assert third.status_code == 302
    assert stack.provider.wait_for("delivered", 2, timeout_s=15)["delivered"] == 2


def test_the_limit_is_per_visitor_and_shared_by_every_web_worker(start_stack):
    # Two gunicorn workers: the second POST may land on either; Redis holds the limit for both.
    stack = start_stack("sync", rate_limit_s=WINDOW_S, web_workers=2)
    answers = [Visitor(stack.url).submit(contact_fields(v, 1)).status_code for v in (1, 2, 3, 4)]
    # Every visitor here comes from 127.0.0.1: to the limit they are one visitor.
    assert answers == [302, 429, 429, 429]


def test_a_failed_send_does_not_count_against_the_visitor(limited_stacks):
    stack = limited_stacks["sync"]
    time.sleep(WINDOW_S)  # let an earlier test's window run out
    stack.provider.reset()
    stack.provider.configure(mode="outage")
    try:
        failed = Visitor(stack.url).submit(contact_fields(1, 1))
    finally:
        stack.provider.configure(mode="normal")
    retried = Visitor(stack.url).submit(contact_fields(1, 1))

    assert failed.status_code == 502
    assert retried.status_code == 302


def _limits(redis_url: str, window_s: float) -> tuple[RateLimit, AsyncRateLimit]:
    return (
        RateLimit(redis.Redis.from_url(redis_url), window_s),
        AsyncRateLimit(redis.asyncio.Redis.from_url(redis_url), window_s),
    )


def test_a_late_release_leaves_the_visitors_next_claim_alone(shared_stacks):
    """A send that fails after its window ran out must not wipe the claim made since."""
    blocking, awaitable = _limits(shared_stacks["celery"].settings.effective_redis_url, 0.2)

    first = blocking.claim("203.0.113.7")
    time.sleep(0.3)  # the window runs out while the first send is still failing
    second = blocking.claim("203.0.113.7")
    blocking.release(first)  # too late: it must not touch the second claim

    assert not first.refused and not second.refused
    assert blocking.claim("203.0.113.7").refused
    blocking.release(second)
    assert not blocking.claim("203.0.113.8").refused  # another visitor, untouched throughout

    async def the_same_with_the_awaitable_twin() -> tuple[bool, bool]:
        first = await awaitable.claim("203.0.113.9")
        await asyncio.sleep(0.3)
        second = await awaitable.claim("203.0.113.9")
        await awaitable.release(first)
        still_held = (await awaitable.claim("203.0.113.9")).refused
        await awaitable.release(second)
        freed = not (await awaitable.claim("203.0.113.9")).refused
        return still_held, freed

    assert asyncio.run(the_same_with_the_awaitable_twin()) == (True, True)


@pytest.mark.parametrize("app", ["sync", "asyncio"])
def test_with_redis_down_the_limit_fails_open_and_every_email_is_sent(start_stack, app):
    """The limit only counts; losing the visitor's email to it would be worse than no limit."""
    stack = start_stack(app, rate_limit_s=WINDOW_S)
    stack.processes["redis"].kill()

    answers = [Visitor(stack.url).submit(contact_fields(1, n)).status_code for n in (1, 2)]

    assert answers == [302, 302]
    assert stack.provider.wait_for("delivered", 2, timeout_s=15)["delivered"] == 2
    web_log = stack.processes["web"].log_path.read_text(errors="replace")
    assert "rate limit not checked (fails open)" in web_log


@pytest.mark.parametrize("app", APPS)
def test_a_spoofed_forwarded_for_does_not_buy_a_new_bucket(limited_stacks, app):
    """TRUSTED_PROXIES is 0 by default: a client cannot pick its own address."""
    stack = limited_stacks[app]
    time.sleep(WINDOW_S)  # let an earlier test's window run out

    def send(client: str, n: int) -> int:
        headers = {"X-Forwarded-For": client}
        return Visitor(stack.url).submit(contact_fields(n, 1), headers=headers).status_code

    assert [send("198.51.100.1", 1), send("198.51.100.2", 2)] == [302, 429]


def _post(session: requests.Session, stack, path: str, fields: dict[str, str]):
    token = csrf_token_from(session.get(stack.url + path, timeout=10).text)
    return session.post(
        stack.url + path, data={**fields, "csrf_token": token}, allow_redirects=False, timeout=30
    )


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize(
    ("path", "fields", "what"),
    [("/prices", {"currency": "USD"}, "price lookup"), ("/reports", {}, "report")],
)
def test_price_lookups_and_reports_are_limited_per_visitor_too(
    limited_stacks, app, path, fields, what
):
    stack = limited_stacks[app]
    session = requests.Session()

    first = _post(session, stack, path, fields)
    second = _post(session, stack, path, fields)

    assert first.status_code in (200, 303)
    assert second.status_code == 429
    assert 1 <= int(second.headers["Retry-After"]) <= WINDOW_S
    assert f"one {what} every 2 seconds" in second.text
    assert "<form" in second.text


@pytest.mark.parametrize("app", ["sync", "asyncio"])
def test_a_failed_price_lookup_does_not_count_against_the_visitor(limited_stacks, app):
    stack = limited_stacks[app]
    time.sleep(WINDOW_S)  # let an earlier test's window run out
    stack.rates_api.configure(mode="outage")
    session = requests.Session()
    try:
        failed = _post(session, stack, "/prices", {"currency": "USD"})
    finally:
        stack.rates_api.configure(mode="normal")
    retried = _post(session, stack, "/prices", {"currency": "USD"})

    assert failed.status_code == 502
    assert retried.status_code == 200
