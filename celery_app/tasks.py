"""The Celery app's task: send one contact email, retrying transient failures with backoff."""

from __future__ import annotations

import logging
import math
from email.message import EmailMessage
from email.utils import make_msgid
from typing import NoReturn

import redis
from celery import Task, shared_task
from flask import current_app

from celery_app.tracking import TaskLog
from contact_form.contact_email import ContactEmail, UnsafeHeaderText
from contact_form.delivery import describe_failure, is_transient, retry_countdown, send_email
from contact_form.rate_limit import RELEASE_OWN_CLAIM
from contact_form.settings import Settings
from idle_accounts.job import remind_idle_accounts as remind_job
from idle_accounts.store import AccountStore

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
    """How long one send may take: smtplib's timeout applies to each step (connect, each
    command, the answer to DATA), so a slow provider can stretch a send past one timeout."""
    return 2 * settings.smtp_timeout_s + 5


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


@shared_task(ignore_result=True)
def remind_idle_accounts() -> int:
    """Use case 4: beat sends this nightly (or every BEAT_INTERVAL_S in a demo)."""
    settings: Settings = current_app.extensions["lab_settings"]
    return remind_job(AccountStore(settings.accounts_db_path), settings)


@shared_task(ignore_result=True)
def send_monthly_summary() -> None:
    """The article's "1 a.m. on the second Tuesday of the month": the owner gets the numbers."""
    settings: Settings = current_app.extensions["lab_settings"]
    counts = AccountStore(settings.accounts_db_path).counts()
    message = EmailMessage()
    message["Subject"] = f"{settings.site_name}: monthly summary"
    message["From"] = settings.site_email
    message["To"] = settings.owner_email
    message["Message-ID"] = make_msgid(domain=settings.site_email.rpartition("@")[2])
    message.set_content(
        f"Accounts: {counts['accounts']}\nIdle for six months or more: {counts['idle']}\n"
    )
    send_email(message, settings)
