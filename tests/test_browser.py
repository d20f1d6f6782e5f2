"""What a person sees, in a real Chromium driven by Playwright: the form, its errors, the thanks.

The browser: a `chromium` on PATH (Debian's package), else the one Playwright downloads
(`.venv/bin/playwright install chromium`, for macOS and elsewhere). Skipped when there is neither,
unless LAB_REQUIRE_BROWSER=1 (CI sets it), where a missing browser is a failure. Screenshots land
in var/test/screenshots/ for a human to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from lab_stack.stack import APPS
from tests.conftest import shot

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    refused = []  # what the Content-Security-Policy blocked: the page's own code must pass
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    yield page
    context.close()
    assert not refused, refused


def wait_until(page, expression: str, timeout_s: float) -> None:
    """Poll `expression` in the page. (Playwright's wait_for_function evaluates a string with
    eval, which the pages' Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true after {timeout_s} s: {expression}"
        time.sleep(0.1)


@pytest.mark.parametrize("app", APPS)
def test_a_visitor_sends_the_form_and_reads_the_thank_you_page(shared_stacks, page, app):
    stack = shared_stacks[app]
    stack.provider.reset()
    page.goto(f"{stack.url}/contact")
    page.fill("input[name=name]", "Ada Lovelace")
    page.fill("input[name=email]", "ada@example.com")
    page.fill("textarea[name=message]", "Two rye loaves on Saturday, please.")
    shot(page, f"{app}-contact-filled")
    page.click("button[type=submit]")

    page.wait_for_url("**/contact/thanks")
    shot(page, f"{app}-thanks")
    assert page.locator("h1").inner_text() == "Thank you!"
    stats = stack.provider.wait_for("delivered", 1, timeout_s=15)
    assert stats["delivered"] == 1


@pytest.mark.parametrize("app", APPS)
def test_a_mistake_is_shown_next_to_its_field_and_the_text_is_kept(shared_stacks, page, app):
    stack = shared_stacks[app]
    stack.provider.reset()
    page.goto(f"{stack.url}/contact")
    page.fill("input[name=name]", "Ada Lovelace")
    page.fill("input[name=email]", "not an address")
    page.fill("textarea[name=message]", "Keep this text")
    # The browser's own checks would stop a person first; the server must stand on its own.
    page.eval_on_selector("form", "form => form.noValidate = true")
    page.click("button[type=submit]")

    page.wait_for_load_state()
    shot(page, f"{app}-contact-error")
    assert page.url.endswith("/contact")
    assert page.locator(".error").count() >= 1
    assert "email" in page.locator(".error").first.inner_text().lower()
    assert page.input_value("textarea[name=message]") == "Keep this text"
    assert page.input_value("input[name=name]") == "Ada Lovelace"
    assert stack.provider.stats()["delivered"] == 0


def test_the_admin_page_shows_a_retried_task(shared_stacks, page):
    stack = shared_stacks["celery"]
    stack.provider.reset()
    stack.provider.configure(fail_next=1, mode="normal", permanent_failure_rate=0.0)
    page.goto(f"{stack.url}/contact")
    page.fill("input[name=name]", "Grace Hopper")
    page.fill("input[name=email]", "grace@example.com")
    page.fill("textarea[name=message]", "A flaky provider should not lose this.")
    page.click("button[type=submit]")
    page.wait_for_url("**/contact/thanks")
    stack.provider.wait_for("delivered", 1, timeout_s=20)

    page.goto(f"{stack.url}/admin/tasks")
    shot(page, "celery-admin-tasks")
    row = page.locator("table.tasks tbody tr").first
    assert "SUCCESS" in row.inner_text()
    assert row.locator("td").nth(2).inner_text() == "2"  # one 451, then delivered


def test_the_report_progress_bar_advances_survives_a_reload_and_ends_with_a_download(
    start_stack, browser
):
    stack = start_stack("celery", report_duration_s=6.0)
    context = browser.new_context(viewport={"width": 1000, "height": 700}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{stack.url}/reports")
    page.click("#generate")
    page.wait_for_url("**/reports/*")
    report_url = page.url

    wait_until(page, "document.getElementById('progress').value >= 20", timeout_s=15)
    shot(page, "celery-report-progress")
    assert page.locator("#transport").inner_text() == "Progress pushed to this page by websocket."
    page.reload()  # the task id is in the address: the progress is still there
    assert page.url == report_url
    assert int(page.locator("#progress").get_attribute("value")) >= 20

    wait_until(page, "document.getElementById('progress').value == 100", timeout_s=20)
    page.locator("#download-link").wait_for(state="visible")
    shot(page, "celery-report-done")
    with page.expect_download() as download:
        page.click("#download-link")
    text = Path(download.value.path()).read_text()
    assert text.startswith("email,last_login_utc,idle_days")
    assert text.count("\n") > 100
    context.close()


@pytest.mark.parametrize("app", ["sync", "asyncio"])
def test_without_a_queue_the_report_arrives_only_after_the_tab_waited(start_stack, browser, app):
    stack = start_stack(app, report_duration_s=3.0)
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(f"{stack.url}/reports")
    assert "keep this tab open" in page.locator(".alert").inner_text()
    started = time.monotonic()
    with page.expect_download(timeout=20_000) as download:
        page.click("#generate")
    waited = time.monotonic() - started

    assert waited >= 3.0
    assert Path(download.value.path()).read_text().startswith("email,last_login_utc,idle_days")
    context.close()


@pytest.mark.parametrize("transport", ["websocket", "long polling"])
def test_the_celery_prices_appear_without_a_reload(shared_stacks, page, transport):
    stack = shared_stacks["celery"]
    if transport == "long polling":
        # As behind a proxy that refuses websockets: every socket to the push service is closed.
        page.route_web_socket(re.compile(r".*/updates/.*"), lambda socket: socket.close())
    stack.rates_api.configure(delay_s=1.5)
    try:
        page.goto(f"{stack.url}/prices")
        page.select_option("#currency", "GBP")
        page.click("#show-prices")
        page.wait_for_url("**/prices/*")
        page.evaluate("window.stillTheSamePage = true")  # a reload would forget this
        waiting = page.locator("#lookup-status").inner_text()
        shot(page, f"celery-prices-waiting-{transport.replace(' ', '-')}")
        page.locator("#price-table").wait_for(timeout=15_000)
    finally:
        stack.rates_api.configure(delay_s=0.05)

    shot(page, f"celery-prices-pushed-{transport.replace(' ', '-')}")
    assert waiting == "Asking the exchange-rate service..."
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.evaluate("document.body.dataset.transport") == transport
    assert page.locator("#transport").inner_text() == f"Pushed to this page by {transport}."
    assert "1 EUR = 0.8567 GBP" in page.locator("#price-table").inner_text()


@pytest.mark.parametrize("app", ["sync", "asyncio"])
def test_without_a_queue_the_prices_come_with_the_page_after_the_api_answered(
    shared_stacks, page, app
):
    stack = shared_stacks[app]
    stack.rates_api.configure(delay_s=1.5)
    try:
        page.goto(f"{stack.url}/prices")
        page.select_option("#currency", "JPY")
        started = time.monotonic()
        page.click("#show-prices")
        page.locator("#price-table").wait_for(timeout=15_000)
        waited = time.monotonic() - started
    finally:
        stack.rates_api.configure(delay_s=0.05)

    shot(page, f"{app}-prices")
    assert waited >= 1.5
    assert "1 EUR = 163.52 JPY" in page.locator("#price-table").inner_text()
