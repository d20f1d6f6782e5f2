"""The contact email: rendered from one template, identical for all three apps.

The Message-ID and the submission time are fixed when the visitor presses send, so a task that
runs twice sends the same message, and the provider can measure delivery delay. What crosses a
queue is the validated fields, never a serialised email: parsing an email again in another
process would hand the parser's quirks to whoever typed the fields.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Self

from jinja2 import Environment, PackageLoader, StrictUndefined

from lab_settings import Settings

SUBMITTED_AT_HEADER = "X-Submitted-At"

# Anything that could end a header line or smuggle one in: every C0 control (CR, LF, NUL among
# them), DEL, and the Unicode line breaks that str.splitlines() also honours.
HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
# "=?" opens an RFC 2047 encoded-word, which mail readers and Python's own header parser decode:
# "=?utf-8?q?Eve=0D=0ABcc:...?=" has no raw line break but decodes to one, and Python releases
# without the CVE-2024-6923 fix write that line break into the header when they serialise it.
# No name or address needs the two characters together, so header text never carries them.
ENCODED_WORD_OPENER = "=?"
# The left half of a Message-ID made from a form's send key: nothing a header could misread.
MESSAGE_ID_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")

_templates = Environment(
    loader=PackageLoader("contact_email", "templates"),
    autoescape=False,  # plain-text email, never HTML
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


class UnsafeHeaderText(ValueError):
    """Text that would not come out of an email header as it went in."""


@dataclass(frozen=True)
class ContactSubmission:
    """What a visitor sent, validated."""

    name: str
    email: str
    message: str


def header_text_problem(text: str) -> str | None:
    """Why `text` cannot go into an email header as it is, or None if it can."""
    if HEADER_UNSAFE.search(text):
        return "Line breaks and control characters are not allowed here."
    if ENCODED_WORD_OPENER in text:
        return "Please leave out “=?”: email headers would read it as encoded text."
    return None


def check_header_text(*texts: str) -> None:
    """Raises UnsafeHeaderText for the first text that an email header cannot hold as it is."""
    for text in texts:
        problem = header_text_problem(text)
        if problem:
            raise UnsafeHeaderText(problem)


def reply_to_address(email: str) -> Address:
    """The visitor's address alone, as the email's Reply-To; raises UnsafeHeaderText for what a
    header can't hold. The form checks the address with this very function.

    The name the visitor typed never goes into an address header: folding a long display name
    drops its quotes on some Pythons (CPython gh-80222), and a name such as "x..., evil@example"
    then reads as a second address, so "Reply" would write to it. The name travels in the
    Subject and the body, where no mail reader looks for addresses.
    """
    check_header_text(email)
    try:
        return Address(addr_spec=email)
    except (ValueError, HeaderParseError) as exc:  # the parser's defects are ValueErrors
        raise UnsafeHeaderText(f"this address cannot be used in an email header ({exc})") from exc


@dataclass(frozen=True)
class ContactEmail:
    """One contact email before it is composed: the fields, its Message-ID and its time.

    `to_fields()` and `from_fields()` carry it through a queue as plain JSON strings.
    """

    submission: ContactSubmission
    message_id: str
    submitted_at: datetime

    @classmethod
    def new(cls, submission: ContactSubmission, settings: Settings, key: str | None = None) -> Self:
        """`key`: the form's send key (letters, digits, - and _ only), so that a resend of the
        same form is the same email; without one, a Message-ID of its own."""
        if key is not None and not MESSAGE_ID_KEY.fullmatch(key):
            raise UnsafeHeaderText("a send key holds only letters, digits, - and _")
        domain = settings.site_email.rpartition("@")[2]
        message_id = f"<{key}@{domain}>" if key else make_msgid(domain=domain)
        return cls(submission, message_id, datetime.now(UTC))

    def to_fields(self) -> dict[str, str]:
        return {
            **asdict(self.submission),
            "message_id": self.message_id,
            "submitted_at": self.submitted_at.isoformat(timespec="microseconds"),
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Self:
        submission = ContactSubmission(fields["name"], fields["email"], fields["message"])
        return cls(submission, fields["message_id"], parse_submitted_at(fields["submitted_at"]))

    def compose(self, settings: Settings) -> EmailMessage:
        """The email, built from the fields; raises UnsafeHeaderText for unsafe header text."""
        submission = self.submission
        message = EmailMessage()
        message["From"] = Address(settings.site_name, addr_spec=settings.site_email)
        message["To"] = settings.owner_email
        check_header_text(submission.name)
        message["Reply-To"] = reply_to_address(submission.email)
        message["Subject"] = f"Contact form: {submission.name}"
        message["Date"] = format_datetime(self.submitted_at)
        message["Message-ID"] = self.message_id
        message[SUBMITTED_AT_HEADER] = self.submitted_at.isoformat(timespec="microseconds")
        body = _templates.get_template("contact.txt").render(
            submission=submission, site_name=settings.site_name, submitted_at=self.submitted_at
        )
        message.set_content(body)
        return message


def compose_contact_email(submission: ContactSubmission, settings: Settings) -> EmailMessage:
    """The email for a submission sent now, with a Message-ID of its own."""
    return ContactEmail.new(submission, settings).compose(settings)


def parse_submitted_at(value: str) -> datetime:
    return datetime.fromisoformat(value)
