"""What a person sees, in a real Chromium driven by Playwright: the form, its errors, the thanks.

Skipped when Chromium is not installed, unless LAB_REQUIRE_BROWSER=1 (CI sets it), where a
missing browser is a failure. Screenshots land in var/test/screenshots/ for a human to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab_stack.stack import APPS, PROJECT_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = PROJECT_ROOT / "var" / "test" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        if os.environ.get("LAB_REQUIRE_BROWSER") == "1":
            pytest.fail("LAB_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH: apt-get install chromium to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


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
