"""Use case 4: what Celery beat runs, written as crontabs, and when each will next run.

Celery ANDs a crontab's day of month and day of week, so "days 8-14 that are a Tuesday" is the
second Tuesday of the month. (Plain cron ORs them when both are set: `0 1 8-14 * 2` would run
on every day from the 8th to the 14th *and* on every Tuesday. `tests/test_schedule.py` pins the
difference.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from celery.schedules import crontab

from contact_form.settings import Settings

NIGHTLY_3AM = crontab(minute=0, hour=3)
SECOND_TUESDAY_1AM = crontab(minute=0, hour=1, day_of_week="tue", day_of_month="8-14")


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    idle = timedelta(seconds=settings.beat_interval_s) if settings.beat_interval_s else NIGHTLY_3AM
    return {
        "remind-idle-accounts": {"task": "celery_app.tasks.remind_idle_accounts", "schedule": idle},
        "monthly-summary": {
            "task": "celery_app.tasks.send_monthly_summary",
            "schedule": SECOND_TUESDAY_1AM,
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
