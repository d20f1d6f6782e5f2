"""What the Celery app promises beyond speed: retries by policy, and no email lost to a crash."""

from __future__ import annotations

import itertools
import signal
import time

import pytest
import requests

from celery_app import celery_config
from celery_app import create_app as create_celery_app
from contact_email.message import ContactEmail, ContactSubmission
from lab_settings import Settings, SettingsError
from loadtests.load.journey import contact_fields
from tests.conftest import TEST_SETTINGS, Visitor


@pytest.fixture
def celery_stack(shared_stacks):
    stack = shared_stacks["celery"]
    stack.provider.configure(
        delay_s=TEST_SETTINGS["provider_delay_s"],
        mode="normal",
        fail_next=0,
        permanent_failure_rate=0.0,
    )
    stack.provider.reset()
    return stack


def test_task_is_retried_on_451_with_exponential_backoff_then_delivered(celery_stack):
    base = celery_stack.settings.retry_base_s
    celery_stack.provider.configure(fail_next=3)

    response = Visitor(celery_stack.url).submit(contact_fields(1, 1))
    stats = celery_stack.provider.wait_for("delivered", 1, timeout_s=30)

    assert response.status_code == 302
    assert stats["delivered"] == 1
    attempts = celery_stack.provider.attempts()
    assert [a["outcome"] for a in attempts] == ["451", "451", "451", "250"]
    assert len({a["message_id"] for a in attempts}) == 1
    gaps = [b["started_at"] - a["finished_at"] for a, b in itertools.pairwise(attempts)]
    for retry, gap in enumerate(gaps):
        expected = base * 2**retry  # 1x, 2x, 4x the base: 4, 8, 16 s at the default base
        assert expected <= gap < expected + 1.0, f"retry {retry + 1} came after {gap:.2f} s"


def test_permanent_rejection_is_not_retried(celery_stack):
    celery_stack.provider.configure(permanent_failure_rate=1.0)

    Visitor(celery_stack.url).submit(contact_fields(1, 1))
    celery_stack.provider.wait_for("attempts", 1, timeout_s=15)
    time.sleep(celery_stack.settings.retry_base_s * 3)  # long past when a retry would come

    assert [a["outcome"] for a in celery_stack.provider.attempts()] == ["554"]
    assert celery_stack.provider.stats()["delivered"] == 0


def test_visitor_is_told_when_the_queue_is_down_and_keeps_the_message(start_stack):
    stack = start_stack("celery")
    stack.processes["redis"].kill()
    fields = {**contact_fields(1, 1), "message": "Queue me if you can"}
    visitor = Visitor(stack.url)
    token = visitor.open_form()  # the form page itself needs no Redis

    started = time.monotonic()
    response = visitor.submit({**fields, "csrf_token": token}, with_token=False)

    assert response.status_code == 503
    assert time.monotonic() - started < 5
    assert "our message queue is unavailable" in response.text
    assert "Queue me if you can</textarea>" in response.text


def redis_stall_budget_s(settings: Settings) -> float:
    """The longest a request may spend on a stalled Redis, from the settings alone: every Redis
    command gives up after REDIS_TIMEOUT_S; a POST makes the rate limit's claim, the publish
    with its retries and their pauses, and the claim's release."""
    policy = celery_config(settings)["task_publish_retry_policy"]
    publishes = 1 + policy["max_retries"]
    pauses = sum(
        min(policy["interval_start"] + n * policy["interval_step"], policy["interval_max"])
        for n in range(policy["max_retries"])
    )
    return (2 + publishes) * settings.redis_timeout_s + pauses


def test_a_stalled_redis_gets_the_visitor_a_503_within_its_timeouts_and_loses_nothing(
    start_stack,
):
    stack = start_stack("celery", rate_limit_s=10.0, prices_rate_limit_s=10.0)
    redis_server = stack.processes["redis"]
    fields = {**contact_fields(1, 1), "message": "Queue me when you can"}
    visitor = Visitor(stack.url)
    token = visitor.open_form()
    budget_s = redis_stall_budget_s(stack.settings)
    # What the visitor may wait beyond the timeouts: the request itself, on a busy machine.
    slack_s = 3.0

    redis_server.signal(signal.SIGSTOP)  # alive, its sockets open, answering nothing
    try:
        started = time.monotonic()
        response = visitor.submit({**fields, "csrf_token": token}, with_token=False)
        waited_s = time.monotonic() - started
        homepage = requests.get(f"{stack.url}/", timeout=30)
        unknown_task = "00000000-0000-4000-8000-000000000000"
        lookup_page = requests.get(f"{stack.url}/prices/{unknown_task}", timeout=30)
        poll = requests.get(f"{stack.settings.push_url}/updates/{unknown_task}", timeout=30)
    finally:
        redis_server.signal(signal.SIGCONT)
    again = visitor.submit(fields)
    stack.provider.wait_for("delivered", 1, timeout_s=30)
    time.sleep(1.0)  # a publish Redis read after resuming would arrive by now

    assert response.status_code == 503, response.text[:300]
    assert waited_s < budget_s + slack_s, f"{waited_s:.1f} s against {budget_s:.1f} s of timeouts"
    # A stalled Redis may read the publish once it resumes: the page cannot say nothing was sent.
    assert "could not confirm that your message was sent" in response.text
    assert "Queue me when you can</textarea>" in response.text
    assert homepage.status_code == 200
    assert lookup_page.status_code == 503 and "try again in a moment" in lookup_page.text
    assert poll.status_code == 503 and poll.headers["Retry-After"]
    assert again.status_code == 302
    message_ids = [d["message_id"] for d in stack.provider.deliveries()]
    assert len(message_ids) == len(set(message_ids)), "an email went twice"


def test_worker_killed_mid_task_loses_no_email(start_stack):
    # A short visibility timeout, so the killed worker's task is handed out again in seconds
    # (short retries too: the app refuses a timeout shorter than a retry's wait).
    stack = start_stack("celery", provider_delay_s=2.0, celery_visibility_timeout_s=4, retry_max=1)

    response = Visitor(stack.url).submit(contact_fields(1, 1))
    in_flight = stack.provider.wait_for("in_flight", 1, timeout_s=15)
    stack.processes["worker"].kill()  # SIGKILL to the worker and its pool: no clean-up at all
    stack.restart("worker")
    stats = stack.provider.wait_for("delivered", 1, timeout_s=45)

    assert response.status_code == 302
    assert in_flight["in_flight"] == 1
    assert stats["delivered"] == 1
    assert stats["distinct_message_ids"] == 1
    outcomes = [a["outcome"] for a in stack.provider.attempts()]
    assert outcomes == ["dropped", "250"]


def test_one_email_queued_twice_and_run_at_once_is_sent_once(start_stack):
    """Two runs of one email (same Message-ID) on two worker processes: one sends, one waits
    and then finds it sent. Checking the ledger and then sending would send it twice."""
    stack = start_stack("celery", provider_delay_s=1.0, celery_concurrency=2)
    app = create_celery_app(stack.settings)
    task = app.extensions["celery"].tasks["celery_app.contact.send_contact_email"]
    email = ContactEmail.new(ContactSubmission("Ada", "ada@example.com", "Hi"), stack.settings)

    runs = [task.delay(email.to_fields()).id for _ in range(2)]
    stack.provider.wait_for("delivered", 1, timeout_s=15)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        log = {row["task_id"]: row for row in app.extensions["task_log"].recent()}
        if all(log.get(run, {}).get("state") == "SUCCESS" for run in runs):
            break
        time.sleep(0.2)

    assert stack.provider.stats()["delivered"] == 1
    assert sorted(log[run]["error"] for run in runs) == ["", "already sent"]


def test_the_app_refuses_a_visibility_timeout_shorter_than_a_retry_wait():
    # 4, 8, 16, 32, 64 s of backoff: the last wait plus the 30 s SMTP timeout is 94 s.
    settings = Settings().replace(retry_base_s=4.0, retry_max=5, smtp_timeout_s=30.0)

    with pytest.raises(SettingsError, match="CELERY_VISIBILITY_TIMEOUT_S"):
        celery_config(settings.replace(celery_visibility_timeout_s=90))
    assert celery_config(settings.replace(celery_visibility_timeout_s=95))["task_acks_late"]
