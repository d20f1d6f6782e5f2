"""A public form meets anything: arbitrary values, odd requests, and clients that stall."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from email import message_from_string, policy
from email.message import EmailMessage

import pytest
import redis
import requests
from email_validator import validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bakery_site.catalogue import CURRENCIES
from celery_app import create_app as create_celery_app
from celery_app.contact import send_hold_s
from contact_email.delivery import failure_status, send_email, send_email_async
from contact_email.message import ContactEmail, ContactSubmission
from lab_settings import DEVELOPMENT_SECRET_KEY, MIN_SECRET_KEY_LENGTH, Settings, SettingsError
from lab_stack.stack import APPS, Stack
from loadtests.load.journey import contact_fields, csrf_token_from
from tests.conftest import Visitor, reply_to_as_mail_readers_see_it, start_at_once

# Any Unicode (control characters, NUL, CR/LF and surrogates' neighbours included), sometimes
# very long, sometimes missing altogether.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["", " ", "\r\n", "x\r\nBcc: victim@example.com", "\x00", "a" * 6000, "é" * 200]
)
INJECTIONS = ["\r\nBcc: victim@evil.example", "\nCc: victim@evil.example", "x\r\n\r\nbody"]


def _encoded_word(text: str, charset: str, encoding: str) -> str:
    """RFC 2047: =?charset?q|b?text?=, the text's UTF-8 bytes escaped every byte (q) or base64."""
    data = text.encode()
    if encoding in "qQ":
        return f"=?{charset}?{encoding}?{''.join(f'={byte:02X}' for byte in data)}?="
    return f"=?{charset}?{encoding}?{base64.b64encode(data).decode()}?="


# Encoded-words decode to anything, line breaks included: the form never sees a raw CR/LF.
ENCODED_WORDS = st.builds(
    _encoded_word,
    st.sampled_from(INJECTIONS) | st.text(max_size=40),
    st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "us-ascii", "x-unknown"]),
    st.sampled_from("qQbB"),
)
# An encoded-word as the whole value or inside ordinary text.
WITH_ENCODED_WORDS = ENCODED_WORDS | st.tuples(ANY_TEXT, ENCODED_WORDS, ANY_TEXT).map(" ".join)
# Valid but unusual addresses: every character RFC 5322 allows unquoted in a local part.
LOCAL_PARTS = st.text(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~", min_size=1)
EXOTIC_EMAILS = (
    LOCAL_PARTS | ENCODED_WORDS | st.tuples(LOCAL_PARTS, ENCODED_WORDS).map("".join)
).map(lambda local: f"{local}@example.com")
FIELD_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "name": ANY_TEXT | WITH_ENCODED_WORDS,
        "email": ANY_TEXT | st.emails() | EXOTIC_EMAILS,
        "message": ANY_TEXT | WITH_ENCODED_WORDS,
    },
)
EXPECTED_HEADERS = sorted(
    [
        "Subject",
        "From",
        "To",
        "Reply-To",
        "Date",
        "Message-ID",
        "X-Submitted-At",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
    ]
)


def assert_one_clean_email_to_the_owner(stack: Stack, deliveries: list, fields: dict) -> None:
    """Exactly one message, to the owner only, with exactly the contact email's headers, and
    the visitor's address, alone, as every mail reader's Reply-To."""
    [delivery] = deliveries
    assert delivery["recipients"] == stack.settings.owner_email  # never an extra recipient
    message = message_from_string(str(delivery["raw"]).replace("\r\n", "\n"), policy=policy.default)
    assert sorted(message.keys()) == EXPECTED_HEADERS
    assert message["To"] == stack.settings.owner_email
    assert message["Subject"] == f"Contact form: {fields['name'].strip()}"
    visitor = validate_email(fields["email"].strip(), check_deliverability=False).ascii_email
    readings = reply_to_as_mail_readers_see_it(str(delivery["raw"]))
    assert readings == {"getaddresses": [visitor], "headerregistry": [visitor]}


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
    return start_at_once(start_stack)


@pytest.mark.parametrize("app", APPS)
def test_arbitrary_form_values_never_break_the_app_or_the_email(own_stacks, app):
    stack = own_stacks[app]
    visitor = Visitor(stack.url)
    token = visitor.open_form()

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(FIELD_VALUES)
    def post_anything(fields: dict[str, str]) -> None:
        stack.provider.reset()
        response = visitor.submit({**fields, "csrf_token": token}, with_token=False)
        deliveries = _settle(stack, response.status_code == 302)

        assert response.status_code in (302, 400), response.text[:500]
        if response.status_code == 400:
            assert "<form" in response.text
            assert deliveries == []
        else:
            assert_one_clean_email_to_the_owner(stack, deliveries, fields)

    post_anything()


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("field", ["name", "email"])
def test_an_encoded_line_break_in_a_header_field_is_refused_and_nothing_is_sent(
    own_stacks, app, field
):
    stack = own_stacks[app]
    stack.provider.reset()
    hidden_bcc = _encoded_word("\r\nBcc: victim@evil.example", "utf-8", "q")
    value = hidden_bcc if field == "name" else f"{hidden_bcc}@example.com"

    response = Visitor(stack.url).submit({**contact_fields(1, 1), field: value})

    assert response.status_code == 400
    assert "<form" in response.text
    assert _settle(stack, accepted=False) == []


def test_the_worker_composes_from_fields_and_refuses_an_encoded_line_break(own_stacks):
    """A task queued without the form (a bug, a script): the worker refuses it and sends nothing."""
    stack = own_stacks["celery"]
    stack.provider.reset()
    hostile = ContactSubmission(
        _encoded_word("\r\nBcc: victim@evil.example", "utf-8", "b"), "eve@example.com", "Hi"
    )
    harmless = ContactSubmission("Ann Lee", "ann@example.com", "=?utf-8?q?Hi?= in the body")
    emails = [ContactEmail.new(s, stack.settings) for s in (hostile, harmless)]
    app = create_celery_app(stack.settings)
    task = app.extensions["celery"].tasks["celery_app.contact.send_contact_email"]

    for email in emails:
        task.delay(email.to_fields())
    stack.provider.wait_for("delivered", 1, timeout_s=30)
    log = {row["message_id"]: row for row in app.extensions["task_log"].recent()}

    assert log[emails[0].message_id]["state"] == "FAILURE"
    assert log[emails[0].message_id]["error"].startswith("refused:")
    assert_one_clean_email_to_the_owner(stack, stack.provider.deliveries(), asdict(harmless))


@pytest.mark.parametrize("app", APPS)
def test_a_name_that_folds_into_an_address_does_not_reach_the_owners_reply(own_stacks, app):
    """CPython gh-80222 dropped the quotes of a long display name when folding it: this name
    then read as a second Reply-To address, the attacker's, in every mail reader."""
    stack = own_stacks[app]
    stack.provider.reset()
    fields = {**contact_fields(1, 1), "name": "x" * 70 + ", evil@attacker.example"}

    response = Visitor(stack.url).submit(fields)

    assert response.status_code == 302
    assert_one_clean_email_to_the_owner(stack, _settle(stack, accepted=True), fields)


def test_task_messages_show_monitoring_no_visitor_data(own_stacks):
    """Flower shows each task message's argument repr to whoever opens it."""
    stack = own_stacks["celery"]
    app = create_celery_app(stack.settings)
    task = app.extensions["celery"].tasks["celery_app.contact.send_contact_email"]
    private = ContactSubmission("Ann Secretname", "ann.private@example.com", "my private note")
    email = ContactEmail.new(private, stack.settings)

    task.apply_async((email.to_fields(),), queue="inspected-not-consumed")
    store = redis.Redis.from_url(stack.settings.effective_redis_url)
    [raw] = store.lrange("inspected-not-consumed", 0, -1)
    headers = json.loads(raw)["headers"]

    shown = json.dumps(headers)
    assert not any(text in shown for text in ("Secretname", "ann.private", "private note"))
    assert email.message_id in headers["argsrepr"]


def _send_async(message: EmailMessage, settings) -> None:
    asyncio.run(send_email_async(message, settings))


@pytest.mark.parametrize("send", [send_email, _send_async], ids=["blocking", "awaited"])
def test_the_envelope_goes_to_the_owner_whatever_the_headers_say(own_stacks, send):
    stack = own_stacks["sync"]
    stack.provider.reset()
    message = EmailMessage()
    message["To"] = "victim@evil.example"
    message["Cc"] = "victim2@evil.example"
    message["Bcc"] = "victim3@evil.example"
    message["Subject"] = "Headers that name other people"
    message.set_content("Hi")

    send(message, stack.settings)
    [delivery] = stack.provider.deliveries()

    assert delivery["recipients"] == stack.settings.owner_email
    assert delivery["mail_from"] == stack.settings.site_email


@pytest.fixture
def trickling_provider():
    """An SMTP server that answers every step, one byte every 0.1 s: each answer is within a
    per-step timeout of 1.5 s, the whole conversation takes about five seconds."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(client: socket.socket, line: bytes) -> None:
        for byte in line:
            if stop.is_set():
                return
            client.sendall(bytes([byte]))
            time.sleep(0.1)

    def converse(client: socket.socket) -> None:
        reader = client.makefile("rb")
        answer(client, b"220 slow\r\n")
        while not stop.is_set() and (command := reader.readline()):
            if command.upper().startswith(b"DATA"):
                answer(client, b"354 go\r\n")
                while reader.readline() not in (b".\r\n", b""):
                    pass
            answer(client, b"221 bye\r\n" if command.upper().startswith(b"QUIT") else b"250 ok\r\n")

    def serve() -> None:
        with contextlib.suppress(OSError):
            client, _ = server.accept()
            with client:
                converse(client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    thread.join(timeout=5)


@pytest.mark.parametrize("send", [send_email, _send_async], ids=["blocking", "awaited"])
def test_a_send_has_one_deadline_however_the_provider_trickles(trickling_provider, send):
    """SMTP_TIMEOUT_S bounds the whole send, not each step: else a provider that trickles each
    reply holds a web worker, or a Celery claim, for many timeouts."""
    settings = Settings().replace(smtp_port=trickling_provider, smtp_timeout_s=1.5)
    message = EmailMessage()
    message["Subject"] = "Hi"
    message.set_content("Hi")
    started = time.monotonic()

    with pytest.raises(Exception) as failure:
        send(message, settings)
    took = time.monotonic() - started

    assert failure_status(failure.value) == 504, repr(failure.value)
    assert took < settings.smtp_timeout_s + 1, took


def test_the_send_deadline_nests_inside_the_worker_timeout_and_the_claim():
    settings = Settings()

    assert settings.smtp_timeout_s < send_hold_s(settings) < settings.web_timeout_s
    with pytest.raises(SettingsError, match="SMTP_TIMEOUT_S"):
        settings.replace(smtp_timeout_s=float(settings.web_timeout_s))


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
            f"{stack.url}/prices",
            data={"csrf_token": token, "currency": currency},
            allow_redirects=False,
            timeout=30,
        )
        known = currency in CURRENCIES
        expected = (303 if app == "celery" else 200) if known else 400
        assert response.status_code == expected, response.text[:500]
        if not known:
            assert stack.rates_api.stats()["calls"] == 0  # refused before the API is asked
        elif app == "celery":  # let the task's call land before the next example counts
            assert stack.rates_api.wait_for("answered", 1, timeout_s=10)["answered"] == 1

    ask_anything()


@pytest.mark.parametrize("invisible", ["\u200b", "\u200b\u200d\ufeff", " \u2060 "])
def test_a_name_of_invisible_characters_only_is_refused_with_the_form(stack, visitor, invisible):
    response = visitor.submit({**contact_fields(1, 1), "name": invisible})

    assert response.status_code == 400
    assert "<form" in response.text and "Please tell us your name." in response.text
    assert stack.provider.stats()["attempts"] == 0


def test_the_public_development_key_is_never_used_without_a_word(caplog):
    """LAB_ENV unset means development, where the built-in SECRET_KEY is allowed: anyone can
    read it here and forge sessions with it, so the apps say so when they start."""
    with caplog.at_level("WARNING"):
        create_celery_app(Settings.from_env({}))

    assert any("SECRET_KEY" in record.getMessage() for record in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING"):
        create_celery_app(Settings.from_env({"SECRET_KEY": "k" * MIN_SECRET_KEY_LENGTH}))
    assert not any("SECRET_KEY" in record.getMessage() for record in caplog.records)


def test_form_sent_as_json_is_refused_like_an_empty_form(stack, visitor):
    token = visitor.open_form()
    response = visitor.session.post(
        f"{stack.url}/contact",
        json={**contact_fields(1, 1), "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )

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
    for weak in ("", " " * 40, "a", "s3cret"):
        with pytest.raises(SettingsError, match="SECRET_KEY"):
            Settings.from_env({"LAB_ENV": "production", "SECRET_KEY": weak})
    strong = "k" * MIN_SECRET_KEY_LENGTH
    assert Settings.from_env({"LAB_ENV": "production", "SECRET_KEY": strong}).secret_key


def test_embedded_redis_listens_on_loopback_only(shared_stacks):
    argv = shared_stacks["celery"].processes["redis"].argv
    assert argv[argv.index("--bind") + 1] == "127.0.0.1"
    assert argv[argv.index("--protected-mode") + 1] == "yes"


POST_HEAD = (
    b"POST /contact HTTP/1.1\r\nHost: lab\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
)


def _trickle(slow: socket.socket, data: bytes, gap_s: float, give_up_s: float) -> bytes:
    """Send `data` one byte every `gap_s` until the server answers or hangs up; its answer."""
    started = time.monotonic()
    for byte in data:
        try:
            slow.sendall(bytes([byte]))
            slow.settimeout(gap_s)
            return slow.recv(4096)  # an answer, or b"" when the server closed the connection
        except TimeoutError:
            assert time.monotonic() - started < give_up_s, "the server never cut the client off"
        except OSError:
            return b""  # reset by the server
    raise AssertionError("the whole request went through")


@pytest.mark.parametrize(
    ("app", "part"),
    [
        ("sync", "body"),
        ("sync", "headers"),
        ("celery", "headers"),
        ("asyncio", "body"),
        ("asyncio", "headers"),
    ],
)
def test_one_byte_per_almost_a_timeout_is_cut_off_within_the_deadline(start_stack, app, part):
    """A deadline per read would let this client hold the worker for ever; the deadline is for
    the whole request. (uvicorn, the async app's server, has the lab's head deadline:
    `site_glue/guarded_uvicorn.py`; a trickle there holds one connection, never the event loop.)"""
    timeout_s = 2.0
    stack = start_stack(app, request_body_timeout_s=timeout_s)
    with socket.create_connection((stack.settings.web_host, stack.settings.web_port)) as slow:
        started = time.monotonic()
        if part == "body":
            slow.sendall(POST_HEAD)
        answer = _trickle(
            slow,
            b"name=Slow" * 20 if part == "body" else POST_HEAD,
            gap_s=timeout_s - 1,
            give_up_s=timeout_s + 10,
        )
        cut_off_after = time.monotonic() - started

    assert cut_off_after <= timeout_s + 1
    if part == "body":
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    home_started = time.monotonic()
    assert requests.get(stack.url + "/", timeout=5).status_code == 200
    assert time.monotonic() - home_started < 1  # the worker is free again at once


def test_trickling_clients_cannot_hold_the_threads_of_a_threaded_worker(start_stack):
    """With WEB_THREADS > 1 gunicorn runs its threaded worker (gthread), whose own wait covers
    only a request's first byte: each thread gets the same whole-request deadline. Two clients
    trickle their headers into a 1x2 web tier; a visitor's homepage waits at most the deadline."""
    timeout_s = 2.0
    stack = start_stack("sync", web_threads=2, request_body_timeout_s=timeout_s)
    address = (stack.settings.web_host, stack.settings.web_port)

    def trickle() -> float:
        with socket.create_connection(address) as slow:
            started = time.monotonic()
            _trickle(slow, POST_HEAD, gap_s=timeout_s - 1, give_up_s=timeout_s + 10)
            return time.monotonic() - started

    with ThreadPoolExecutor(2) as pool:
        trickling = [pool.submit(trickle) for _ in range(2)]
        time.sleep(0.5)  # both threads now hold a trickling client
        home_started = time.monotonic()
        home = requests.get(stack.url + "/", timeout=timeout_s + 10)
        home_waited = time.monotonic() - home_started
        cut_off_after = [future.result() for future in trickling]

    assert max(cut_off_after) <= timeout_s + 1, cut_off_after
    assert home.status_code == 200 and home_waited <= timeout_s + 1


def test_a_client_silent_past_gunicorns_wait_keeps_its_one_deadline(start_stack):
    """gthread waits 5 s for a connection's first byte, then parks it in its poller and hands it
    to a thread again when it speaks: the deadline still counts from the start, not afresh."""
    timeout_s = 6.0
    stack = start_stack("sync", web_threads=2, request_body_timeout_s=timeout_s)
    with socket.create_connection((stack.settings.web_host, stack.settings.web_port)) as slow:
        started = time.monotonic()
        time.sleep(5.5)  # parked by gunicorn after its 5 s wait
        _trickle(slow, POST_HEAD, gap_s=0.5, give_up_s=3 * timeout_s)
        cut_off_after = time.monotonic() - started

    assert cut_off_after <= timeout_s + 1.5, cut_off_after


def test_the_async_app_serves_others_while_a_client_trickles_its_headers(own_stacks):
    stack = own_stacks["asyncio"]
    with socket.create_connection((stack.settings.web_host, stack.settings.web_port)) as slow:
        slow.sendall(POST_HEAD[:20])

        started = time.monotonic()
        assert requests.get(stack.url + "/", timeout=5).status_code == 200

    assert time.monotonic() - started < 1


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("broken", ["half-closed", "bad chunk"])
def test_a_body_cut_short_or_a_broken_chunk_gets_400_never_500(own_stacks, app, broken):
    stack = own_stacks[app]
    stack.provider.reset()
    if broken == "half-closed":
        request = POST_HEAD + b"name=Eve&email=eve%40example.com&message=Hi&csrf_token=x"
    else:
        request = (
            b"POST /contact HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\nname=Eve\r\n0\r\n\r\n"
        )
    with socket.create_connection((stack.settings.web_host, stack.settings.web_port)) as client:
        client.settimeout(10)
        client.sendall(request)
        client.shutdown(socket.SHUT_WR)
        answer = client.recv(4096)

    if app == "asyncio" and broken == "half-closed":
        # uvicorn closes a connection whose client half-closed it, before the app can answer:
        # no answer at all, but no 500 and nothing sent either.
        assert answer == b""
    else:
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert stack.provider.stats()["attempts"] == 0
