"""C1, honestly: a page that cannot know whether the email left says so, and a resend of the same
form sends nothing more, in every app (the form's send key is the email's Message-ID)."""

from __future__ import annotations

import re
import signal
import time

import pytest
import redis
import requests

from contact_email.message import ContactEmail, ContactSubmission, UnsafeHeaderText
from lab_settings import Settings
from loadtests.load.journey import contact_fields, csrf_token_from
from tests.conftest import TEST_SETTINGS

SEND_KEY_INPUT = re.compile(r'name="send_key" type="hidden" value="([^"]+)"')
COULD_NOT_CONFIRM = "We could not confirm that your message was sent"
RECOGNISED = "we will\n  recognise it and not send it twice"
# Longer than TEST_SETTINGS' SMTP_TIMEOUT_S: the app gives up after the provider has the message.
STALL_S = TEST_SETTINGS["smtp_timeout_s"] + 1.5


def filled_form(session: requests.Session, url: str, sequence: int = 1) -> dict[str, str]:
    """The contact form as a browser would send it: the visitor's fields and the page's hidden
    inputs (the CSRF token and the send key)."""
    page = session.get(f"{url}/contact", timeout=10).text
    hidden = {"csrf_token": csrf_token_from(page), "send_key": SEND_KEY_INPUT.search(page)[1]}
    return {**contact_fields(1, sequence), **hidden}


def post(session: requests.Session, url: str, form: dict[str, str]) -> requests.Response:
    return session.post(f"{url}/contact", data=form, allow_redirects=False, timeout=60)


def message_id_of(form: dict[str, str]) -> str:
    return f"<{form['send_key'].partition('.')[0]}@"


def deliveries_of(stack, form: dict[str, str]) -> list[dict[str, object]]:
    prefix = message_id_of(form)
    return [d for d in stack.provider.deliveries() if d["message_id"].startswith(prefix)]


def attempts_of(stack, form: dict[str, str]) -> list[dict[str, object]]:
    prefix = message_id_of(form)
    return [a for a in stack.provider.attempts() if a["message_id"].startswith(prefix)]


def settled(stack) -> None:
    """Every task the Celery app queued has run: nothing on its queue, nothing held
    unacknowledged by a worker. (The other apps send inside the request.)"""
    if stack.app != "celery":
        return
    client = redis.Redis.from_url(stack.settings.effective_redis_url)
    deadline = time.monotonic() + 30
    while client.llen("celery") or client.hlen("unacked"):
        assert time.monotonic() < deadline, "the Celery queue did not drain"
        time.sleep(0.1)


@pytest.mark.parametrize("stack", ["sync", "asyncio"], indirect=True)
def test_a_send_that_timed_out_after_data_says_so_and_its_resend_sends_nothing_more(stack):
    session = requests.Session()
    form = filled_form(session, stack.url)
    # The provider holds the whole message past the app's deadline, then takes it all the same.
    stack.provider.configure(delay_s=STALL_S, finish_after_client_leaves=True)
    try:
        stalled = post(session, stack.url, form)
        stack.provider.wait_for("delivered", 1, timeout_s=30)
    finally:
        stack.provider.configure(
            delay_s=TEST_SETTINGS["provider_delay_s"], finish_after_client_leaves=False
        )
    resent = post(session, stack.url, form)
    fresh = post(session, stack.url, filled_form(session, stack.url, sequence=2))

    assert stalled.status_code == 504
    assert COULD_NOT_CONFIRM in stalled.text and RECOGNISED in stalled.text
    assert "Nothing was sent" not in stalled.text
    assert resent.status_code == 202 and COULD_NOT_CONFIRM in resent.text
    assert fresh.status_code == 302
    assert len(deliveries_of(stack, form)) == 1
    assert len(attempts_of(stack, form)) == 1, "the resend reached the provider"
    assert stack.provider.stats()["distinct_message_ids"] == 2  # the fresh form's, and the first


@pytest.mark.parametrize("stack", ["sync", "asyncio"], indirect=True)
def test_a_refused_send_says_nothing_was_sent_and_its_resend_sends_it(stack):
    session = requests.Session()
    form = filled_form(session, stack.url)
    stack.provider.configure(mode="outage")  # 451 at the end of DATA: the provider refused it

    refused = post(session, stack.url, form)
    stack.provider.configure(mode="normal")
    resent = post(session, stack.url, form)

    assert refused.status_code == 502
    assert "Nothing was sent" in refused.text and COULD_NOT_CONFIRM not in refused.text
    assert resent.status_code == 302
    assert len(deliveries_of(stack, form)) == 1


@pytest.mark.parametrize("stack", ["sync", "asyncio", "celery"], indirect=True)
def test_a_successful_form_sent_again_sends_nothing_more(stack):
    session = requests.Session()
    form = filled_form(session, stack.url)

    answers = [post(session, stack.url, form).status_code for _ in range(2)]
    deadline = time.monotonic() + 30
    while not attempts_of(stack, form) and time.monotonic() < deadline:
        time.sleep(0.1)
    settled(stack)

    assert answers == [302, 302]
    assert len(attempts_of(stack, form)) == 1


@pytest.mark.parametrize("stack", ["sync", "asyncio", "celery"], indirect=True)
def test_bad_input_gets_400_and_the_same_send_key_back(stack):
    session = requests.Session()
    form = filled_form(session, stack.url)

    response = post(session, stack.url, {**form, "email": "not an address"})

    assert response.status_code == 400
    assert SEND_KEY_INPUT.search(response.text)[1] == form["send_key"]


@pytest.mark.parametrize("stack", ["sync", "asyncio", "celery"], indirect=True)
@pytest.mark.parametrize(
    "send_key",
    [
        "",
        "not-a-key",
        "A" * 22 + "." + "0" * 64,  # the right shape, a wrong signature
        "A" * 22 + ">\r\nBcc: eve@example.com." + "0" * 64,
    ],
    ids=["missing", "malformed", "forged", "header-injection"],
)
def test_a_forged_or_malformed_send_key_is_replaced_never_put_in_a_header(stack, send_key):
    session = requests.Session()
    form = {**filled_form(session, stack.url), "send_key": send_key}

    response = post(session, stack.url, form)
    stats = stack.provider.wait_for("delivered", 1, timeout_s=30)

    assert response.status_code == 302
    assert stats["delivered"] == 1
    (delivery,) = stack.provider.deliveries()
    assert "AAAAAAAAAAAAAAAAAAAAAA" not in delivery["message_id"]
    assert "eve@example.com" not in delivery["raw"] and "eve@" not in delivery["recipients"]


def test_a_send_that_could_not_be_confirmed_keeps_the_visitors_turn(start_stack):
    """Giving the turn back would invite the resend; a send that surely failed gives it back."""
    stack = start_stack("sync", rate_limit_s=60.0)
    session = requests.Session()
    stack.provider.configure(delay_s=STALL_S)

    stalled = post(session, stack.url, filled_form(session, stack.url))
    another = post(session, stack.url, filled_form(session, stack.url, sequence=2))

    assert stalled.status_code == 504 and COULD_NOT_CONFIRM in stalled.text
    assert another.status_code == 429


def test_a_publish_redis_did_not_confirm_says_so_and_its_resend_sends_nothing_more(start_stack):
    stack = start_stack("celery")
    redis_server = stack.processes["redis"]
    session = requests.Session()
    form = filled_form(session, stack.url)

    redis_server.signal(signal.SIGSTOP)  # alive, its sockets open, reading nothing
    try:
        unconfirmed = post(session, stack.url, form)
    finally:
        redis_server.signal(signal.SIGCONT)
    resent = post(session, stack.url, form)
    fresh_form = filled_form(session, stack.url, sequence=2)
    fresh = post(session, stack.url, fresh_form)
    stack.provider.wait_for("delivered", 2, timeout_s=30)
    settled(stack)

    assert unconfirmed.status_code == 503
    assert COULD_NOT_CONFIRM in unconfirmed.text and RECOGNISED in unconfirmed.text
    assert resent.status_code == 302 and fresh.status_code == 302
    assert len(deliveries_of(stack, form)) == 1
    assert len(deliveries_of(stack, fresh_form)) == 1
    assert stack.provider.stats()["delivered"] == 2


@pytest.mark.parametrize("key", ["", "short", "A" * 22 + ">\r\nBcc: eve@example.com", "é" * 22])
def test_an_email_is_never_made_with_a_key_a_header_could_misread(key):
    submission = ContactSubmission("Zoe", "zoe@example.com", "Hi")

    with pytest.raises(UnsafeHeaderText):
        ContactEmail.new(submission, Settings(), key)
