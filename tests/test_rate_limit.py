"""C9: one contact email per visitor per RATE_LIMIT_S seconds, the same answer in all three apps."""

from __future__ import annotations

import time

import pytest

from lab_stack.stack import APPS
from loadtests.journey import contact_fields
from tests.conftest import Visitor

WINDOW_S = 2.0


@pytest.fixture(scope="module")
def limited_stacks(start_stack):
    return {app: start_stack(app, rate_limit_s=WINDOW_S) for app in APPS}


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
