"""The contact form every app shows: fields, limits, CSRF, and the header-injection guard.

Name and address pass the email's own header rules, so whatever the form accepts can be sent.

Plain WTForms with session-based CSRF, so the same class works with Flask's and Quart's session.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import MutableMapping
from typing import Self

from email_validator import EmailNotValidError, validate_email
from wtforms import EmailField, Form, HiddenField, SelectField, StringField, TextAreaField
from wtforms.csrf.session import SessionCSRF
from wtforms.validators import DataRequired, Length, StopValidation, ValidationError

from bakery_site.catalogue import CURRENCIES
from bakery_site.signing import signature, signed_by_us
from contact_email.message import (
    ContactSubmission,
    UnsafeHeaderText,
    header_text_problem,
    reply_to_address,
)

NAME_MAX = 100
EMAIL_MAX = 254
MESSAGE_MAX = 5000
NAME_REQUIRED = "Please tell us your name."

# The message body may span lines, but carries no other control characters.
BODY_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A send key: 16 random bytes (base64url) and their HMAC under the secret key (hex).
SEND_KEY = re.compile(r"(?P<key>[A-Za-z0-9_-]{22})\.(?P<mac>[0-9a-f]{64})")


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _visible_name(form: Form, field: StringField) -> None:
    """A name a reader can see: one of zero-width or other invisible characters only (format,
    control, separator) is no name, as an empty one is not."""
    if not any(unicodedata.category(char)[0] not in "CZ" for char in field.data or ""):
        raise StopValidation(NAME_REQUIRED)


def _header_safe(form: Form, field: StringField) -> None:
    problem = header_text_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


def _no_control_characters(form: Form, field: StringField) -> None:
    if BODY_UNSAFE.search(field.data or ""):
        raise ValidationError("The message contains control characters that cannot be sent.")


def _deliverable_address(form: Form, field: StringField) -> None:
    """Accept only addresses an ASCII SMTP provider can take and the Reply-To header can hold,
    stored in normalised form."""
    try:
        result = validate_email(field.data or "", check_deliverability=False, allow_smtputf8=False)
        reply_to_address(result.ascii_email)
    except (EmailNotValidError, UnsafeHeaderText) as exc:
        raise ValidationError(f"Please enter a valid email address ({exc}).") from exc
    field.data = result.ascii_email


class CsrfForm(Form):
    """A form with its CSRF token kept in the visitor's session (Flask's or Quart's alike)."""

    class Meta:
        csrf = True
        csrf_class = SessionCSRF

    @classmethod
    def bound(cls, formdata: object, session: MutableMapping, secret_key: str) -> Self:
        """The form bound to this request's data (None: a fresh form to show)."""
        return cls(
            formdata=formdata, meta={"csrf_secret": secret_key.encode(), "csrf_context": session}
        )

    @property
    def csrf_failed(self) -> bool:
        return "csrf_token" in self.errors


def new_send_key(secret_key: str) -> str:
    key = secrets.token_urlsafe(16)
    return f"{key}.{signature(secret_key, 'contact-send-key', key)}"


def verified_send_key(value: object, secret_key: str) -> str | None:
    """The key part of a send key this site made, or None for anything else."""
    match = SEND_KEY.fullmatch(value) if isinstance(value, str) else None
    if match is None or not signed_by_us(
        secret_key, "contact-send-key", *match.group("key", "mac")
    ):
        return None
    return match["key"]


class ContactForm(CsrfForm):
    """The form carries a send key, made when it is first shown and kept while it is shown again:
    the email's Message-ID, so a resend of the same form names the same email. A missing, forged
    or malformed key is replaced by a new one, never put into a header."""

    send_key = HiddenField()
    name = StringField(
        "Your name",
        filters=[_strip],
        validators=[
            DataRequired(NAME_REQUIRED),
            _visible_name,
            Length(max=NAME_MAX),
            _header_safe,
        ],
    )
    email = EmailField(
        "Your email",
        filters=[_strip],
        validators=[
            DataRequired("Please enter your email address."),
            Length(max=EMAIL_MAX),
            _header_safe,
            _deliverable_address,
        ],
    )
    message = TextAreaField(
        "Message",
        validators=[
            DataRequired("Please write a message."),
            Length(max=MESSAGE_MAX),
            _no_control_characters,
        ],
    )

    @classmethod
    def bound(cls, formdata: object, session: MutableMapping, secret_key: str) -> Self:
        form = super().bound(formdata, session, secret_key)
        if verified_send_key(form.send_key.data, secret_key) is None:
            form.send_key.data = new_send_key(secret_key)
        return form

    def submission(self) -> ContactSubmission:
        return ContactSubmission(self.name.data, self.email.data, self.message.data)

    def email_key(self) -> str:
        """The verified key part of the send key: the left half of the email's Message-ID."""
        return SEND_KEY.fullmatch(self.send_key.data)["key"]


class ReportForm(CsrfForm):
    """The "Generate report" button: nothing to fill in, but the same CSRF protection."""


class PriceForm(CsrfForm):
    """Use case 2: which currency to show the prices in."""

    currency = SelectField(
        "Show our prices in",
        choices=[(code, f"{code}, {name}") for code, name in CURRENCIES.items()],
        validate_choice=False,  # checked below, with a sentence a visitor understands
        validators=[DataRequired("Please choose a currency.")],
    )

    def validate_currency(self, field: SelectField) -> None:
        if field.data not in CURRENCIES:
            raise ValidationError("Please choose one of the currencies in the list.")
