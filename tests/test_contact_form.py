"""The shared form, email and settings, checked without any server."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_string, policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from bakery_site.forms import ContactForm
from contact_email.delivery import is_transient, retry_countdown
from contact_email.message import (
    SUBMITTED_AT_HEADER,
    ContactEmail,
    ContactSubmission,
    UnsafeHeaderText,
    compose_contact_email,
)
from lab_settings import Settings, SettingsError, settings_table
from tests.conftest import reply_to_as_mail_readers_see_it

SECRET = "test-secret"


def form_for(**fields: str):
    session: dict = {}
    token = ContactForm.bound(None, session, SECRET).csrf_token.current_token
    data = {
        "csrf_token": token,
        "name": "Ada",
        "email": "ada@example.com",
        "message": "Hello",
        **fields,
    }
    form = ContactForm.bound(MultiDict(data), session, SECRET)
    form.validate()
    return form


def test_valid_form_gives_a_normalised_submission():
    form = form_for(name="  Ada Lovelace ", email="Ada@Example.COM")

    assert form.errors == {}
    assert form.submission() == ContactSubmission("Ada Lovelace", "Ada@example.com", "Hello")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 101),
        ("name", "Eve\r\nBcc: victim@example.com"),
        ("name", "Eve\nBcc: victim@example.com"),
        ("name", "Eve\x00"),
        ("name", "Eve\u2028Bcc: victim@example.com"),
        ("email", "not-an-address"),
        ("email", "eve@example.com\r\nBcc: victim@example.com"),
        ("email", "ève@exämple.com"),
        # RFC 2047 encoded-words decode to a line break: refused before any email is composed.
        ("name", "=?utf-8?q?Eve=0D=0ABcc:_victim@example.com?="),
        ("name", "Ann =?iso-8859-1?b?RXZlDQpDYzogdmljdGltQGV4YW1wbGUuY29t?= Lee"),
        # Valid to email-validator, but Python's header parser raised on it (a 500 before).
        ("email", "=?utf-8?b?DQpCY2M6IHZAZXZpbC5leGFtcGxl?=@example.com"),
        ("message", ""),
        ("message", "x" * 5001),
        ("message", "null\x00byte"),
    ],
)
def test_invalid_field_is_rejected_with_its_own_error(field, value):
    form = form_for(**{field: value})

    assert list(form.errors) == [field]


def test_form_without_the_sessions_csrf_token_is_rejected():
    form = ContactForm.bound(
        MultiDict(
            {"name": "Ada", "email": "ada@example.com", "message": "Hi", "csrf_token": "forged"}
        ),
        {},
        SECRET,
    )

    assert not form.validate()
    assert form.csrf_failed


def test_email_has_the_sites_headers_and_the_visitors_reply_to():
    settings = Settings()
    submitted = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    submission = ContactSubmission("Zoë", "zoe@example.com", "Line one\nLine two")

    message = ContactEmail(submission, "<1.2@lab.example>", submitted).compose(settings)
    parsed = message_from_string(message.as_string(), policy=policy.default)

    assert parsed["From"].addresses[0].addr_spec == settings.site_email
    assert parsed["To"] == settings.owner_email
    assert str(parsed["Reply-To"]) == "zoe@example.com"  # the name only where no address is
    assert parsed["Subject"] == "Contact form: Zoë"
    assert parsed["Message-ID"].endswith("@lab.example>")
    assert parsed[SUBMITTED_AT_HEADER] == "2026-11-25T09:30:00.000000+00:00"
    assert "Line one\nLine two" in parsed.get_content()


# Names built to fold: long runs of letters, commas, quotes and angle brackets around addresses.
ADDRESS_LIKE_NAMES = st.lists(
    st.sampled_from(["x" * 70, ", ", "evil@attacker.example", '"', "<", ">", " ", "é" * 30, ";"]),
    max_size=8,
).map("".join) | st.text(max_size=100)


@settings(max_examples=400, deadline=None)
@given(ADDRESS_LIKE_NAMES)
def test_every_accepted_name_leaves_one_reply_to_address_the_visitors(name):
    form = form_for(name=name, email="zoe@example.com")
    if form.errors:
        return  # refused names are the form's test; here: whatever it accepts
    message = compose_contact_email(form.submission(), Settings())

    readings = reply_to_as_mail_readers_see_it(message.as_bytes())

    assert readings == {"getaddresses": ["zoe@example.com"], "headerregistry": ["zoe@example.com"]}


def test_a_name_that_folds_into_a_second_address_adds_no_reply_to_address():
    """CPython gh-80222: folding this name's display-name form dropped its quotes, and a mail
    reader then found evil@attacker.example among the Reply-To addresses."""
    name = "x" * 70 + ", evil@attacker.example"
    message = compose_contact_email(ContactSubmission(name, "zoe@example.com", "Hi"), Settings())

    readings = reply_to_as_mail_readers_see_it(message.as_bytes())

    assert readings == {"getaddresses": ["zoe@example.com"], "headerregistry": ["zoe@example.com"]}
    assert name in message["Subject"]  # the owner still sees who wrote


def test_every_email_gets_its_own_message_id():
    submission = ContactSubmission("Ada", "ada@example.com", "Hi")

    ids = {compose_contact_email(submission, Settings())["Message-ID"] for _ in range(50)}

    assert len(ids) == 50


def test_a_queued_email_is_composed_again_from_its_fields_to_the_same_message():
    settings = Settings()
    queued = ContactEmail.new(ContactSubmission("Zoë", "zoe@example.com", "Hi"), settings)

    again = ContactEmail.from_fields(queued.to_fields())

    assert again == queued
    assert all(isinstance(value, str) for value in queued.to_fields().values())
    assert again.compose(settings).as_string() == queued.compose(settings).as_string()


@pytest.mark.parametrize(
    ("name", "email"),
    [
        ("=?utf-8?q?Eve=0D=0ABcc:_victim@example.com?=", "eve@example.com"),
        ("Eve\r\nBcc: victim@example.com", "eve@example.com"),
        ("Eve", "=?utf-8?b?DQpCY2M6IHZAZXZpbC5leGFtcGxl?=@example.com"),
    ],
)
def test_composing_refuses_header_text_that_would_not_survive(name, email):
    """The worker composes from queued fields: it refuses what the form would have refused."""
    unsafe = ContactEmail.new(ContactSubmission(name, email, "Hi"), Settings())

    with pytest.raises(UnsafeHeaderText):
        unsafe.compose(Settings())


def test_backoff_doubles_from_the_base():
    assert [retry_countdown(n, 4.0) for n in range(5)] == [4, 8, 16, 32, 64]
    assert all(0 <= retry_countdown(n, 4.0, jitter=True) <= 4 * 2**n for n in range(5))


def test_only_4xx_and_connection_failures_are_transient():
    import smtplib

    assert is_transient(smtplib.SMTPDataError(451, b"try later"))
    assert is_transient(ConnectionRefusedError())
    assert is_transient(TimeoutError())
    assert not is_transient(smtplib.SMTPDataError(554, b"rejected"))
    assert not is_transient(smtplib.SMTPRecipientsRefused({"a@b.c": (550, b"no such user")}))


def test_settings_read_from_environment():
    settings = Settings.from_env(
        {"SMTP_PORT": "2525", "RETRY_JITTER": "yes", "PROVIDER_DELAY_S": "0.5"}
    )

    assert (settings.smtp_port, settings.retry_jitter, settings.provider_delay_s) == (
        2525,
        True,
        0.5,
    )
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize(
    "environ",
    [
        {"SMTP_PORT": "twenty"},
        {"RETRY_JITTER": "maybe"},
        {"LAB_ENV": "production"},
        {"WEB_CONCURRENCY": "0"},
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(environ):
    with pytest.raises(SettingsError, match=next(iter(environ)).split("_")[0]):
        Settings.from_env(environ)


def test_settings_table_documents_every_setting():
    table = settings_table()

    assert {row[0] for row in table} >= {
        "REDIS_URL",
        "SMTP_TIMEOUT_S",
        "SECRET_KEY",
        "RETRY_BASE_S",
        "WEB_CONCURRENCY",
        "WEB_THREADS",
    }
    assert all(doc for _, _, doc in table)
