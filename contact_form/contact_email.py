"""The contact email: rendered from one template, identical for all three apps.

The Message-ID and the submission time are fixed here, in the request, so a task that runs twice
sends the same message, and the provider can measure delivery delay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from jinja2 import Environment, PackageLoader, StrictUndefined

from contact_form.form import ContactSubmission
from contact_form.settings import Settings

SUBMITTED_AT_HEADER = "X-Submitted-At"

_templates = Environment(
    loader=PackageLoader("contact_form", "templates"),
    autoescape=False,  # plain-text email, never HTML
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def compose_contact_email(
    submission: ContactSubmission, settings: Settings, submitted_at: datetime | None = None
) -> EmailMessage:
    submitted_at = submitted_at or datetime.now(UTC)
    message = EmailMessage()
    message["From"] = Address(settings.site_name, addr_spec=settings.site_email)
    message["To"] = settings.owner_email
    message["Reply-To"] = Address(submission.name, addr_spec=submission.email)
    message["Subject"] = f"Contact form: {submission.name}"
    message["Date"] = format_datetime(submitted_at)
    message["Message-ID"] = make_msgid(domain=settings.site_email.rpartition("@")[2])
    message[SUBMITTED_AT_HEADER] = submitted_at.isoformat(timespec="microseconds")
    body = _templates.get_template("email/contact.txt").render(
        submission=submission, site_name=settings.site_name, submitted_at=submitted_at
    )
    message.set_content(body)
    return message


def parse_submitted_at(value: str) -> datetime:
    return datetime.fromisoformat(value)
