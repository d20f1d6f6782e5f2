"""The job itself: the same function whether beat, cron or a test runs it."""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from contact_email.delivery import send_email
from idle_accounts.store import AccountStore
from lab_settings import Settings

JOB = "remind-idle-accounts"


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def reminder_email(to: str, last_login: float, settings: Settings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"We miss you at {settings.site_name}"
    message["From"] = settings.site_email
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.site_email.rpartition("@")[2])
    since = datetime.fromtimestamp(last_login, UTC).strftime("%d %B %Y")
    message.set_content(
        f"Hello,\n\nyou have not signed in since {since}. Your account is still here.\n\n"
        f"-- {settings.site_name}\n"
    )
    return message


def remind_idle_accounts(store: AccountStore, settings: Settings) -> int:
    """Email every account idle for six months that was not reminded this month; return how many.

    Run twice at the same moment (cron on two servers), both runs find the same accounts due;
    each claims an account before emailing it, so one of them sends and the other skips it.
    (Marking it after the email instead, both would send: every idle account got one email per
    server in this lab's first runs.) Overlapping runs are still wasted work: see run_once.
    """
    started = time.time()
    reminded = 0
    for account in store.due_for_reminder(started):
        claimed_at = time.time()
        if not store.claim_reminder(account["id"], claimed_at):
            continue  # another run has it
        reminder = reminder_email(account["email"], account["last_login"], settings)
        try:
            send_email(reminder, settings, to=account["email"])
        except Exception:
            store.release_reminder(account["id"], claimed_at, account["reminded_at"])
            raise
        reminded += 1
    store.record_run(JOB, runner_name(), started, reminded)
    return reminded
