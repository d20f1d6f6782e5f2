"""The Celery app's task: send one contact email, retrying transient failures with backoff."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import make_msgid

import redis
from celery import Task, shared_task
from flask import current_app

from celery_app.tracking import TaskLog
from contact_form.contact_email import ContactEmail, UnsafeHeaderText
from contact_form.delivery import describe_failure, is_transient, retry_countdown, send_email
from contact_form.settings import Settings
from idle_accounts.job import remind_idle_accounts as remind_job
from idle_accounts.store import AccountStore

logger = logging.getLogger(__name__)


class SentLedger:
    """Message-IDs already accepted by the provider, so a task that runs again sends nothing.

    A task runs twice when its worker dies after the provider accepted the email but before
    the task was acknowledged; the ledger narrows that window to the instant between the two.
    """

    TTL_S = 7 * 24 * 3600

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def contains(self, message_id: str) -> bool:
        return bool(self.client.exists(self._key(message_id)))

    def add(self, message_id: str) -> None:
        self.client.set(self._key(message_id), 1, ex=self.TTL_S)

    @staticmethod
    def _key(message_id: str) -> str:
        return f"sent-email:{message_id}"


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
    if ledger.contains(message_id):
        tracking.record(self.request.id, message_id, "SUCCESS", attempt, "already sent")
        return f"{message_id} was already sent"
    tracking.record(self.request.id, message_id, "STARTED", attempt)
    try:
        message = contact_email.compose(settings)
    except UnsafeHeaderText as exc:  # the form refuses such text; this never retries
        tracking.record(self.request.id, message_id, "FAILURE", attempt, f"refused: {exc}")
        raise
    try:
        send_email(message, settings)
    except OSError as exc:
        reason = describe_failure(exc)
        if not is_transient(exc):
            logger.error("%s failed for good on try %d: %s", message_id, attempt, reason)
            tracking.record(self.request.id, message_id, "FAILURE", attempt, reason)
            raise
        if self.request.retries >= settings.retry_max:
            logger.error("%s gave up after %d tries: %s", message_id, attempt, reason)
            tracking.record(self.request.id, message_id, "FAILURE", attempt, f"gave up: {reason}")
            raise
        countdown = retry_countdown(
            self.request.retries, settings.retry_base_s, settings.retry_jitter
        )
        logger.warning(
            "%s try %d failed (%s); retrying in %.1f s",
            message_id,
            attempt,
            describe_failure(exc),
            countdown,
        )
        tracking.record(
            self.request.id, message_id, "RETRY", attempt, f"{reason}; next try in {countdown:g} s"
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    ledger.add(message_id)
    tracking.record(self.request.id, message_id, "SUCCESS", attempt)
    return f"{message_id} sent"


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
