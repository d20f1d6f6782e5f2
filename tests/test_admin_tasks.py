"""C8: failed and retried emails are visible on /admin/tasks, to staff only."""

from __future__ import annotations

import socket
import stat
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from celery_app import celery_config
from celery_app.push import watch_token
from celery_app.schedule import beat_schedule
from lab_settings import Settings
from lab_stack.stack import Stack
from loadtests.load.journey import contact_fields, csrf_token_from, final_update
from tests.conftest import Visitor, drained, start_at_once


def outside_address() -> str:
    """This machine's address on its network interface: a request to it is not from loopback."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.123", 9))  # no packet is sent: this only picks a route
        address = probe.getsockname()[0]
    except OSError:
        address = "127.0.0.1"
    finally:
        probe.close()
    if address.startswith("127."):
        pytest.skip("this machine has no network interface besides loopback")
    return address


def admin_page(stack, **kwargs) -> requests.Response:
    return requests.get(f"{stack.url}/admin/tasks", timeout=10, **kwargs)


def wait_for_row(stack, text: str, submit: Callable[[], object], timeout_s: float = 20) -> str:
    """The page once one more row shows `text` than before `submit()`. The shared stack lists
    the tasks of earlier tests too, so a test counts the rows its own task adds."""
    before = admin_page(stack).text.count(text)
    submit()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page = admin_page(stack).text
        if page.count(text) > before:
            return page
        time.sleep(0.2)
    raise AssertionError(f"no new {text!r} on /admin/tasks:\n{page}")


def test_retried_then_delivered_task_shows_its_tries(shared_stacks):
    stack = drained(shared_stacks["celery"])
    stack.provider.reset()
    stack.provider.configure(fail_next=2, mode="normal", permanent_failure_rate=0.0)

    # Two 451s, then delivered on the third try.
    wait_for_row(
        stack, "<td>SUCCESS</td><td>3</td>", lambda: Visitor(stack.url).submit(contact_fields(7, 1))
    )

    assert stack.provider.stats()["delivered"] == 1


def test_permanent_failure_is_recorded_with_its_reason(shared_stacks):
    stack = shared_stacks["celery"]
    stack.provider.reset()
    stack.provider.configure(permanent_failure_rate=1.0, fail_next=0)
    try:
        send = Visitor(stack.url).submit
        page = wait_for_row(stack, "the provider answered 554", lambda: send(contact_fields(8, 1)))
    finally:
        stack.provider.configure(permanent_failure_rate=0.0)

    assert "<td>FAILURE</td>" in page


@pytest.mark.parametrize("app", ["sync", "asyncio"])
def test_apps_without_a_queue_say_so_on_the_same_page(shared_stacks, app):
    page = admin_page(shared_stacks[app])

    assert page.status_code == 200
    assert "no background" in page.text and "502" in page.text


@pytest.fixture(scope="module")
def staff_only_stacks(start_stack) -> dict[str, Stack]:
    """Every app open to other machines, its admin pages behind a token; the tests only read."""
    return start_at_once(start_stack, web_host="0.0.0.0", admin_token="staff-only-token")


@pytest.mark.parametrize("app", ["sync", "celery", "asyncio"])
def test_admin_page_refuses_other_machines_without_the_token(staff_only_stacks, app):
    stack = staff_only_stacks[app]
    outside = f"http://{outside_address()}:{stack.settings.web_port}/admin/tasks"

    refused = requests.get(outside, timeout=10)
    wrong = requests.get(outside, headers={"X-Admin-Token": "guess"}, timeout=10)
    allowed = requests.get(outside, headers={"X-Admin-Token": "staff-only-token"}, timeout=10)

    assert refused.status_code == 403 and wrong.status_code == 403
    assert "This page is for the site" in refused.text
    assert allowed.status_code == 200
    assert requests.get(outside.replace("/admin/tasks", "/"), timeout=10).status_code == 200


@pytest.mark.parametrize("app", ["sync", "celery", "asyncio"])
def test_admin_token_only_in_its_header_and_any_bytes_get_403_not_500(staff_only_stacks, app):
    stack = staff_only_stacks[app]
    outside = f"http://{outside_address()}:{stack.settings.web_port}/admin/tasks"

    in_query = requests.get(outside, params={"token": "staff-only-token"}, timeout=10)
    non_ascii = requests.get(outside, headers={"X-Admin-Token": "stäff-önly"}, timeout=10)
    raw_bytes = requests.get(outside, headers={"X-Admin-Token": b"\xff\xfe\x00x"[:2]}, timeout=10)

    assert in_query.status_code == 403  # a query string ends up in logs and history
    assert non_ascii.status_code == 403
    assert raw_bytes.status_code == 403


@pytest.mark.parametrize("app", ["sync", "celery", "asyncio"])
def test_the_accounts_report_is_for_staff_only(staff_only_stacks, app):
    """It lists who has not signed in for how long: the /admin/tasks rule guards every part."""
    stack = staff_only_stacks[app]
    outside = f"http://{outside_address()}:{stack.settings.web_port}"
    staff = {"X-Admin-Token": "staff-only-token"}

    assert requests.get(f"{outside}/reports", timeout=10).status_code == 403
    assert requests.post(f"{outside}/reports", timeout=10).status_code == 403
    assert requests.get(f"{outside}/reports/{uuid.uuid4()}/download", timeout=10).status_code == 403
    assert requests.get(f"{outside}/reports", headers=staff, timeout=10).status_code == 200


def test_a_finished_report_is_deleted_after_its_keep_time(start_stack):
    stack = start_stack("celery", report_duration_s=0.2, report_keep_s=1.5)
    session = requests.Session()
    token = csrf_token_from(session.get(f"{stack.url}/reports", timeout=10).text)
    started = session.post(
        f"{stack.url}/reports", data={"csrf_token": token}, allow_redirects=False, timeout=10
    )
    task_id = started.headers["Location"].rsplit("/", 1)[1]
    watch = watch_token(stack.settings.secret_key, task_id)
    assert final_update(stack.settings.push_url, task_id, watch, 20)["state"] == "SUCCESS"

    fresh = session.get(f"{stack.url}/reports/{task_id}/download", timeout=10)
    written = stack.work_dir / stack.settings.data_dir / "reports" / f"{task_id}.csv"
    mode = stat.S_IMODE(written.stat().st_mode)
    time.sleep(2.0)
    stale = session.get(f"{stack.url}/reports/{task_id}/download", timeout=10)

    assert fresh.status_code == 200
    assert mode == 0o600  # it lists accounts: the lab's own user only
    assert stale.status_code == 410
    assert "This report is gone" in stale.text


def test_expired_reports_are_deleted_every_hour_by_the_worker_that_holds_them():
    """Not only when someone makes or downloads another report."""
    settings = Settings()
    entry = beat_schedule(settings)["delete-expired-reports"]
    route = celery_config(settings)["task_routes"][entry["task"]]

    assert entry["schedule"].remaining_estimate(datetime.now(UTC)) <= timedelta(hours=1)
    assert route == {"queue": settings.report_queue}
