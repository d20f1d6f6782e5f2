"""The tempting shortcut: the email handed to a thread (sync) or a task (async) of the web process.

It answers as fast as Celery and sends the same email; what it lacks is anything that outlives
the process, which is what these tests pin down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email import message_from_string

import pytest

from lab_hand_offs import names
from lab_stack.stack import Stack
from loadtests.load.journey import contact_fields
from loadtests.publishing import hand_offs
from loadtests.publishing.records import generated_section
from tests.conftest import Visitor


def wait_for_deliveries(stack: Stack, count: int, timeout_s: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        deliveries = stack.provider.deliveries()
        if len(deliveries) >= count:
            return deliveries
        time.sleep(0.1)
    return stack.provider.deliveries()


@pytest.mark.parametrize("name", names("shortcut"))
def test_the_shortcut_answers_at_once_and_delivers_the_same_email(
    name: str, start_stack: Callable[..., Stack]
) -> None:
    stack = start_stack(name, provider_delay_s=1.0)
    began = time.monotonic()
    answer = Visitor(stack.url).submit(contact_fields(7, 1))
    answered_s = time.monotonic() - began

    assert answer.status_code == 302 and answer.headers["Location"].endswith("/contact/thanks")
    assert answered_s < 1.0, "the visitor must not wait for the 1 s provider"
    [delivery] = wait_for_deliveries(stack, 1)
    message = message_from_string(str(delivery["raw"]))
    assert message["To"] == stack.settings.owner_email
    assert str(message["Reply-To"]) == "visitor7@example.com"
    assert "Message 1 from visitor 7" in message.get_payload(decode=True).decode()


@pytest.mark.parametrize("name", names("shortcut"))
def test_the_shortcut_loses_every_queued_email_when_its_web_process_dies(
    name: str, start_stack: Callable[..., Stack]
) -> None:
    """The lab's point about the shortcut, asserted: the visitors were told their emails were
    sent, the web process was killed (a crash, the OOM killer, a failed deploy), and the emails
    it held in memory are gone: nothing else knew about them."""
    stack = start_stack(name, provider_delay_s=3.0)
    visitor = Visitor(stack.url)
    answers = [visitor.submit(contact_fields(1, n)).status_code for n in range(1, 11)]
    assert answers == [302] * 10  # all ten accepted, within the provider's first 3 s

    stack.processes["web"].kill()
    stack.processes["web"].start()
    time.sleep(4.0)  # longer than the provider takes for an email it has begun to receive

    assert stack.provider.deliveries() == []
    assert stack.provider.stats()["in_flight"] == 0
    # The new web process is fine, and knows nothing of the ten.
    assert Visitor(stack.url).submit(contact_fields(2, 1)).status_code == 302


def test_the_hand_offs_table_is_the_committed_runs() -> None:
    assert generated_section("hand-offs").strip() == hand_offs.section().strip()
    table = hand_offs.table()
    assert list(table["hand-off"]) == list(names("app", "shortcut"))
    assert not table.isin(["not run"]).any().any(), "every hand-off ran in every fault"
