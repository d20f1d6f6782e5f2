"""Use case 1 in the Celery app: POST /contact only queues the email; the task sends it, at most
once, retrying transient failures with exponential backoff."""

from __future__ import annotations

import logging
from typing import NoReturn

from celery import Task, shared_task
from flask import Flask, current_app
from kombu.exceptions import OperationalError
from werkzeug.wrappers import Response

from bakery_site.forms import ContactForm
from bakery_site.sent_ledger import (
    BUSY,
    NOT_SENT,
    SENT,
    UNSURE,
    Outcome,
    SentLedger,
    send_hold_s,
)
from celery_app.task_log import TaskLog
from contact_email.delivery import describe_failure, is_transient, retry_countdown, send_email
from contact_email.message import ContactEmail, UnsafeHeaderText
from lab_settings import Settings
from site_glue.flask_site import (
    contact_answer,
    contact_page,
    lab_settings,
    sent_emails,
    valid_form_and_turn,
)

logger = logging.getLogger(__name__)


# max_retries=None: the retry limit is the lab setting RETRY_MAX, checked below.
@shared_task(bind=True, ignore_result=True, max_retries=None)
def send_contact_email(self: Task, fields: dict[str, str]) -> str:
    """Compose the email from the fields the request validated (`ContactEmail.to_fields()`)."""
    settings: Settings = current_app.extensions["lab_settings"]
    ledger: SentLedger = sent_emails()
    tracking: TaskLog = current_app.extensions["task_log"]
    contact_email = ContactEmail.from_fields(fields)
    message_id = contact_email.message_id
    attempt = self.request.retries + 1
    try:
        message = contact_email.compose(settings)
    except UnsafeHeaderText as exc:  # the form refuses such text; this never retries
        tracking.record(self.request.id, message_id, "FAILURE", attempt, f"refused: {exc}")
        raise
    claim = ledger.claim(message_id, self.request.id, send_hold_s(settings))
    if claim in (SENT, UNSURE):
        tracking.record(self.request.id, message_id, "SUCCESS", attempt, "already sent")
        return f"{message_id} was already sent"
    if claim == BUSY:
        return _try_again_later(self, settings, message_id, "another run is sending it")
    tracking.record(self.request.id, message_id, "STARTED", attempt)
    try:
        send_email(message, settings)
    except OSError as exc:
        ledger.release(message_id, self.request.id)
        if not is_transient(exc):
            reason = describe_failure(exc)
            logger.error("%s failed for good on try %d: %s", message_id, attempt, reason)
            tracking.record(self.request.id, message_id, "FAILURE", attempt, reason)
            raise
        return _try_again_later(self, settings, message_id, describe_failure(exc), exc)
    ledger.mark(message_id)
    tracking.record(self.request.id, message_id, "SUCCESS", attempt)
    return f"{message_id} sent"


def _try_again_later(
    task: Task, settings: Settings, message_id: str, reason: str, exc: Exception | None = None
) -> NoReturn:
    """Retry with exponential backoff, or give up after RETRY_MAX retries (then raise)."""
    tracking: TaskLog = current_app.extensions["task_log"]
    attempt = task.request.retries + 1
    if task.request.retries >= settings.retry_max:
        logger.error("%s gave up after %d tries: %s", message_id, attempt, reason)
        tracking.record(task.request.id, message_id, "FAILURE", attempt, f"gave up: {reason}")
        raise exc or RuntimeError(f"gave up: {reason}")
    countdown = retry_countdown(task.request.retries, settings.retry_base_s, settings.retry_jitter)
    logger.warning("%s try %d: %s; retrying in %.1f s", message_id, attempt, reason, countdown)
    tracking.record(
        task.request.id, message_id, "RETRY", attempt, f"{reason}; next try in {countdown:g} s"
    )
    raise task.retry(exc=exc, countdown=countdown)


def contact_submit() -> Response | tuple[str, int]:
    form, claim = valid_form_and_turn(ContactForm, "contact", contact_page)
    email = ContactEmail.new(form.submission(), lab_settings(), form.email_key())
    try:
        send_contact_email.delay(email.to_fields())  # hand-off: queue it and move on
    except OperationalError as exc:
        current_app.logger.error("contact email %s not queued: %r", email.message_id, exc)
        return contact_answer(not_queued(exc), form, claim)
    return contact_answer(Outcome(SENT), form, claim)


def not_queued(exc: OperationalError) -> Outcome:
    """Redis refused the connection: the task is not on the queue. Any other failure (a Redis
    that stalled past REDIS_TIMEOUT_S) may have queued it all the same: the worker's ledger
    makes a resend of the same form send nothing more."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return Outcome(NOT_SENT, "our message queue is unavailable", 503)
        cause = cause.__cause__ or cause.__context__
    return Outcome(UNSURE, "our message queue did not confirm that it took it", 503)


def register_contact(app: Flask) -> None:
    """The form's POST, under the endpoint name the shared template uses."""
    app.add_url_rule("/contact", "contact_submit", contact_submit, methods=["POST"])
