"""Use case 4 in the Celery app: the jobs Celery beat runs, their crontabs, and when each will
next run. One beat process sends them, however many web servers there are.

Celery ANDs a crontab's day of month and day of week, so "days 8-14 that are a Tuesday" is the
second Tuesday of the month. (Plain cron ORs them when both are set: `0 1 8-14 * 2` would run
on every day from the 8th to the 14th *and* on every Tuesday. `tests/test_schedule.py` pins the
difference.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from celery import shared_task
from celery.schedules import crontab
from flask import current_app

from contact_email.delivery import send_email
from idle_accounts.job import remind_idle_accounts as remind_job
from idle_accounts.store import AccountStore
from lab_settings import Settings

NIGHTLY_3AM = crontab(minute=0, hour=3)
EVERY_HOUR = crontab(minute=17)
SECOND_TUESDAY_1AM = crontab(minute=0, hour=1, day_of_week="tue", day_of_month="8-14")


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    idle = timedelta(seconds=settings.beat_interval_s) if settings.beat_interval_s else NIGHTLY_3AM
    return {
        "remind-idle-accounts": {
            "task": "celery_app.schedule.remind_idle_accounts",
            "schedule": idle,
        },
        "monthly-summary": {
            "task": "celery_app.schedule.send_monthly_summary",
            "schedule": SECOND_TUESDAY_1AM,
        },
        "delete-expired-reports": {
            "task": "celery_app.reports.delete_expired_reports_now",
            "schedule": EVERY_HOUR,
        },
    }


def next_runs(schedule: crontab, after: datetime, count: int) -> list[datetime]:
    """The next `count` times Celery's own crontab arithmetic says `schedule` is due."""
    runs = []
    moment = after
    for _ in range(count):
        _, delta, _ = schedule.remaining_delta(moment)
        moment = moment + delta
        runs.append(moment)
    return runs


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
