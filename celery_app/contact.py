"""Use case 1 in the Celery app: POST /contact only queues the email; the task sends it, at most
once, retrying transient failures with exponential backoff."""

from __future__ import annotations

import logging
import math
from typing import NoReturn

import redis
from celery import Task, shared_task
from flask import Flask, current_app, redirect, render_template, url_for
from kombu.exceptions import OperationalError
from werkzeug.wrappers import Response

from bakery_site.rate_limit import RELEASE_OWN_CLAIM
from celery_app.task_log import TaskLog
from contact_email.delivery import describe_failure, is_transient, retry_countdown, send_email
from contact_email.message import ContactEmail, UnsafeHeaderText
from lab_settings import Settings
from site_glue.flask_site import (
    bound_contact_form,
    lab_settings,
    rate_limit,
    rate_limited_page,
    visitor_key,
)

logger = logging.getLogger(__name__)


class SentLedger:
    """Which contact emails are being sent or were sent, so one email leaves at most once.

    A task runs twice when its worker dies after the provider accepted the email but before the
    task was acknowledged, or when it is queued twice. Before sending, a run claims the
    Message-ID in one atomic step (SET NX); a second run finds it "busy" or "sent" and sends
    nothing. The claim expires after `hold_s`, so a run that dies mid-send does not keep the
    email from a later run: nothing is lost, at worst it is sent again after that long.
    """

    SENT = b"sent"
    SENT_TTL_S = 7 * 24 * 3600

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._release = client.register_script(RELEASE_OWN_CLAIM)

    def claim(self, message_id: str, token: str, hold_s: float) -> str:
        """ "claimed" (send it now), "sent" (it left already) or "busy" (another run sends it)."""
        key, hold = self._key(message_id), max(1, math.ceil(hold_s))
        if self.client.set(key, token, nx=True, ex=hold):
            return "claimed"
        holder = self.client.get(key)
        if holder == token.encode():  # this task's own earlier run died mid-send: take over
            self.client.set(key, token, ex=hold)
            return "claimed"
        return "sent" if holder == self.SENT else "busy"

    def mark_sent(self, message_id: str) -> None:
        self.client.set(self._key(message_id), self.SENT, ex=self.SENT_TTL_S)

    def release(self, message_id: str, token: str) -> None:
        """The send failed: let the next try claim it (only if this run's claim still holds)."""
        self._release(keys=[self._key(message_id)], args=[token])

    @staticmethod
    def _key(message_id: str) -> str:
        return f"sent-email:{message_id}"


def send_hold_s(settings: Settings) -> float:
    """How long a claim holds: one send's whole deadline (SMTP_TIMEOUT_S), and a margin for
    recording what came of it."""
    return settings.smtp_timeout_s + 5


# max_retries=None: the retry limit is the lab setting RETRY_MAX, checked below.
@shared_task(bind=True, ignore_result=True, max_retries=None)
def send_contact_email(self: Task, fields: dict[str, str]) -> str:
    """Compose the email from the fields the request validated (`ContactEmail.to_fields()`)."""
    settings: Settings = current_app.extensions["lab_settings"]
    ledger: SentLedger = current_app.extensions["sent_emails"]
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
    if claim == "sent":
        tracking.record(self.request.id, message_id, "SUCCESS", attempt, "already sent")
        return f"{message_id} was already sent"
    if claim == "busy":
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
    ledger.mark_sent(message_id)
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
    form = bound_contact_form()
    if not form.validate():
        return render_template("contact.html", form=form), 400
    claim = rate_limit().claim(visitor_key())
    if claim.refused:
        return rate_limited_page(form, claim.wait_s)
    email = ContactEmail.new(form.submission(), lab_settings())
    try:
        send_contact_email.delay(email.to_fields())  # hand-off: queue it and move on
    except OperationalError as exc:
        rate_limit().release(claim)
        current_app.logger.error("contact email %s not queued: %r", email.message_id, exc)
        page = render_template(
            "contact.html", form=form, delivery_error="our message queue is unavailable"
        )
        return page, 503
    return redirect(url_for("site.contact_thanks"))


def register_contact(app: Flask) -> None:
    """The form's POST, under the endpoint name the shared template uses."""
    app.add_url_rule("/contact", "contact_submit", contact_submit, methods=["POST"])
