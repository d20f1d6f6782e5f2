"""The three apps, each under real gunicorn with the real provider (and Redis and a worker)."""

from __future__ import annotations

import re
from email import message_from_string, policy

import pytest
import requests

from contact_email.message import SUBMITTED_AT_HEADER
from lab_stack.stack import APPS, Stack
from loadtests.load.journey import contact_fields
from tests.conftest import Visitor


def delivered_messages(stack: Stack) -> list:
    """What the provider received, with SMTP's CRLF line ends read as Python's newlines."""
    return [
        message_from_string(d["raw"].replace("\r\n", "\n"), policy=policy.default)
        for d in stack.provider.deliveries()
    ]


def test_contact_email_arrives_with_the_right_headers_and_body(stack, visitor):
    fields = {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "message": "Do you deliver\nto the harbour?",
    }

    response = visitor.submit(fields)
    stats = stack.provider.wait_for("delivered", 1, timeout_s=15)

    assert response.status_code == 302
    assert response.headers["Location"] == "/contact/thanks"
    assert stats["delivered"] == 1
    [message] = delivered_messages(stack)
    [delivery] = stack.provider.deliveries()
    assert delivery["recipients"] == stack.settings.owner_email
    assert message["From"].addresses[0].addr_spec == stack.settings.site_email
    assert message["To"] == stack.settings.owner_email
    assert str(message["Reply-To"]) == "grace@example.com"
    assert message["Subject"] == "Contact form: Grace Hopper"
    assert re.fullmatch(r"<[^<>@]+@lab\.example>", message["Message-ID"])
    assert message[SUBMITTED_AT_HEADER] == delivery["submitted_at"]
    assert "Do you deliver\nto the harbour?" in message.get_content()


def test_thank_you_page_follows_the_redirect(visitor):
    response = visitor.submit(contact_fields(1, 1))
    page = visitor.session.get(visitor.base_url + response.headers["Location"], timeout=10)

    assert page.status_code == 200
    assert "Thank you!" in page.text


BAD_SUBMISSIONS = {
    "empty": {"name": "", "email": "", "message": ""},
    "name too long": {**contact_fields(1, 1), "name": "n" * 101},
    "message too long": {**contact_fields(1, 1), "message": "m" * 5001},
    "bad email": {**contact_fields(1, 1), "email": "grace at example dot com"},
    "CRLF in name": {**contact_fields(1, 1), "name": "Eve\r\nBcc: victim@example.com"},
    "CRLF in email": {**contact_fields(1, 1), "email": "eve@example.com\r\nBcc: v@example.com"},
    "NUL in message": {**contact_fields(1, 1), "message": "hello\x00world"},
}


@pytest.mark.parametrize("case", list(BAD_SUBMISSIONS))
def test_bad_input_gets_400_with_the_form_again_and_sends_nothing(stack, visitor, case):
    response = visitor.submit(BAD_SUBMISSIONS[case])

    assert response.status_code == 400
    assert "Please correct the fields marked below" in response.text
    assert 'class="error"' in response.text
    assert stack.provider.stats()["attempts"] == 0


def test_rejected_form_keeps_what_the_visitor_typed(visitor):
    fields = {
        **contact_fields(1, 1),
        "email": "not-an-email",
        "message": "A long message I do not want to type again",
    }

    response = visitor.submit(fields)

    assert response.status_code == 400
    assert 'value="not-an-email"' in response.text
    assert "A long message I do not want to type again</textarea>" in response.text


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_missing_or_wrong_csrf_token_is_refused(stack, visitor, token):
    visitor.open_form()
    fields = contact_fields(1, 1) | ({} if token is None else {"csrf_token": token})

    response = visitor.submit(fields, with_token=False)

    assert response.status_code == 400
    assert "Your session expired" in response.text
    assert stack.provider.stats()["attempts"] == 0


def test_body_over_64_kib_is_refused_with_413(stack, visitor):
    token = visitor.open_form()
    fields = {**contact_fields(1, 1), "csrf_token": token, "message": "x" * 70_000}

    response = visitor.submit(fields, with_token=False)

    assert response.status_code == 413
    assert "Message too large" in response.text
    assert stack.provider.stats()["attempts"] == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_wrong_method_is_refused_with_405(stack, method):
    response = requests.request(method, f"{stack.url}/contact", timeout=10)

    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert stack.provider.stats()["attempts"] == 0


def normalised(html: str) -> str:
    """The page with what legitimately differs per request (the CSRF token, the form's send key,
    the CSP nonce) blanked out."""
    html = re.sub(r'nonce="[^"]+"', 'nonce="NONCE"', html)
    return re.sub(
        r'name="(csrf_token|send_key)" type="hidden" value="[^"]+"',
        r'name="\1" type="hidden" value="TOKEN"',
        html,
    )


def pages_of(stack: Stack) -> dict[str, tuple[int, str]]:
    visitor = Visitor(stack.url)
    get = {
        path: visitor.session.get(stack.url + path, timeout=10)
        for path in ("/", "/contact", "/contact/thanks", "/no-such-page")
    }
    bad = visitor.submit(BAD_SUBMISSIONS["bad email"])
    forged = visitor.submit({**contact_fields(1, 1), "csrf_token": "x"}, with_token=False)
    responses = {**get, "POST bad email": bad, "POST forged token": forged}
    return {name: (r.status_code, normalised(r.text)) for name, r in responses.items()}


def test_the_three_apps_render_the_same_pages(shared_stacks):
    sync_pages, *others = (pages_of(shared_stacks[app]) for app in APPS)

    for pages in others:
        assert pages == sync_pages


@pytest.mark.parametrize("app", ["sync", "asyncio"])
@pytest.mark.parametrize(
    ("mode", "status", "explanation"),
    [
        ("outage", 502, "Sorry, we could not send your message: the provider answered 451"),
        # The provider hangs once it has the whole message: it may yet deliver it.
        (
            "hang",
            504,
            "We could not confirm that your message was sent: the provider did not answer in time",
        ),
    ],
)
def test_visitor_sees_a_clear_error_when_the_provider_fails(
    shared_stacks, app, mode, status, explanation
):
    stack = shared_stacks[app]
    stack.provider.reset()
    stack.provider.configure(mode=mode)
    fields = {**contact_fields(1, 1), "message": "Please keep this text"}
    try:
        response = Visitor(stack.url).submit(fields)
    finally:
        stack.provider.configure(mode="normal")

    assert response.status_code == status
    assert explanation in response.text
    assert "Please keep this text</textarea>" in response.text
    assert stack.provider.stats()["delivered"] == 0


PAGES = ["/", "/contact", "/prices", "/reports", "/admin/tasks", "/no-such-page"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_the_security_headers(stack, path):
    response = requests.get(stack.url + path, timeout=10)
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )

    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert re.fullmatch(r"'nonce-[\w-]{16,}'", policy["script-src"])  # no 'unsafe-inline'
    assert policy["style-src"] == policy["script-src"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", response.text):
        assert policy["script-src"].strip("'").removeprefix("nonce-") in tag


def test_each_page_gets_a_nonce_of_its_own(stack):
    policies = {
        requests.get(f"{stack.url}/contact", timeout=10).headers["Content-Security-Policy"]
        for _ in range(3)
    }

    assert len(policies) == 3


def test_a_rejected_form_carries_the_headers_too(stack, visitor):
    response = visitor.submit({"name": "", "email": "", "message": ""})

    assert response.status_code == 400
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
