"""A public form meets anything: arbitrary values, odd requests, and clients that stall."""

from __future__ import annotations

import socket
import time
from email import message_from_string, policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contact_form.prices import CURRENCIES
from contact_form.settings import DEVELOPMENT_SECRET_KEY, Settings, SettingsError
from lab_stack.stack import APPS, Stack
from loadtests.journey import contact_fields, csrf_token_from
from tests.conftest import Visitor

# Any Unicode (control characters, NUL, CR/LF and surrogates' neighbours included), sometimes
# very long, sometimes missing altogether.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["", " ", "\r\n", "x\r\nBcc: victim@example.com", "\x00", "a" * 6000, "é" * 200]
)
FIELD_VALUES = st.fixed_dictionaries(
    {},
    optional={"name": ANY_TEXT, "email": ANY_TEXT | st.emails(), "message": ANY_TEXT},
)


def _settle(stack: Stack, accepted: bool) -> list[dict[str, object]]:
    """The provider's deliveries once anything sent or queued has had time to arrive."""
    if accepted:
        stack.provider.wait_for("delivered", 1, timeout_s=30)
    if stack.app == "celery":
        time.sleep(0.1)  # a second (wrong) email would come right behind the first
    return stack.provider.deliveries()


@pytest.fixture(scope="module")
def own_stacks(start_stack) -> dict[str, Stack]:
    """Stacks of their own: no retry left over from another test may land in the count."""
    return {app: start_stack(app) for app in APPS}


@pytest.mark.parametrize("app", APPS)
def test_arbitrary_form_values_never_break_the_app_or_the_email(own_stacks, app):
    stack = own_stacks[app]
    visitor = Visitor(stack.url)
    token = visitor.open_form()
    owner = stack.settings.owner_email

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(FIELD_VALUES)
    def post_anything(fields: dict[str, str]) -> None:
        stack.provider.reset()
        response = visitor.submit({**fields, "csrf_token": token}, with_token=False)
        deliveries = _settle(stack, response.status_code == 302)

        assert response.status_code in (302, 400), response.text[:500]
        assert len(deliveries) == (1 if response.status_code == 302 else 0)
        for delivery in deliveries:
            assert delivery["recipients"] == owner  # never an extra recipient
            raw = str(delivery["raw"]).replace("\r\n", "\n")
            message = message_from_string(raw, policy=policy.default)
            assert sorted(message.keys()) == sorted(
                ["Subject", "From", "To", "Reply-To", "Date", "Message-ID", "X-Submitted-At",
                 "Content-Type", "Content-Transfer-Encoding", "MIME-Version"]
            )  # fmt: skip
            assert "\n" not in str(message["Reply-To"]) and "\n" not in str(message["Subject"])

    post_anything()


@pytest.mark.parametrize("app", APPS)
def test_arbitrary_currencies_never_break_the_prices_page(own_stacks, app):
    stack = own_stacks[app]
    visitor = Visitor(stack.url)
    token = csrf_token_from(visitor.session.get(f"{stack.url}/prices", timeout=10).text)

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(ANY_TEXT | st.sampled_from(list(CURRENCIES)))
    def ask_anything(currency: str) -> None:
        stack.rates_api.reset()
        response = visitor.session.post(
            f"{stack.url}/prices", data={"csrf_token": token, "currency": currency},
            allow_redirects=False, timeout=30,
        )  # fmt: skip
        known = currency in CURRENCIES
        expected = (303 if app == "celery" else 200) if known else 400
        assert response.status_code == expected, response.text[:500]
        if not known:
            assert stack.rates_api.stats()["calls"] == 0  # refused before the API is asked
        elif app == "celery":  # let the task's call land before the next example counts
            assert stack.rates_api.wait_for("answered", 1, timeout_s=10)["answered"] == 1

    ask_anything()


def test_form_sent_as_json_is_refused_like_an_empty_form(stack, visitor):
    token = visitor.open_form()
    response = visitor.session.post(
        f"{stack.url}/contact", json={**contact_fields(1, 1), "csrf_token": token},
        allow_redirects=False, timeout=10,
    )  # fmt: skip

    assert response.status_code == 400
    assert "<form" in response.text
    assert stack.provider.stats()["delivered"] == 0


def test_a_client_that_trickles_its_body_gets_408_and_frees_the_worker(start_stack):
    stack = start_stack("sync", request_body_timeout_s=1.0)
    host, port = stack.settings.web_host, stack.settings.web_port
    with socket.create_connection((host, port), timeout=10) as slow:
        slow.sendall(
            b"POST /contact HTTP/1.1\r\nHost: lab\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
            b"name=Slo"
        )
        started = time.monotonic()
        answer = slow.recv(4096)
        waited = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert waited < 5
    # The only worker is free again: the homepage answers at once.
    assert Visitor(stack.url).session.get(stack.url + "/", timeout=5).status_code == 200


def test_the_async_app_answers_a_trickling_client_with_408_too(start_stack):
    stack = start_stack("asyncio", request_body_timeout_s=1.0)
    with socket.create_connection((stack.settings.web_host, stack.settings.web_port)) as slow:
        slow.settimeout(10)
        slow.sendall(
            b"POST /contact HTTP/1.1\r\nHost: lab\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
            b"name=Slo"
        )
        answer = slow.recv(4096)

    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_outside_development_the_secret_key_must_be_set():
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({"LAB_ENV": "production"})
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({"LAB_ENV": "production", "SECRET_KEY": DEVELOPMENT_SECRET_KEY})
    assert Settings.from_env({"LAB_ENV": "production", "SECRET_KEY": "s3cret"}).secret_key


def test_embedded_redis_listens_on_loopback_only(shared_stacks):
    argv = shared_stacks["celery"].processes["redis"].argv
    assert argv[argv.index("--bind") + 1] == "127.0.0.1"
    assert argv[argv.index("--protected-mode") + 1] == "yes"
