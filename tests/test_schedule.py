"""Use case 4: the schedules are what they say, and beat runs a job once however many servers."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from celery_app.schedule import NIGHTLY_3AM, SECOND_TUESDAY_1AM, beat_schedule, next_runs
from idle_accounts.job import remind_idle_accounts
from idle_accounts.store import IDLE_AFTER_S, AccountStore
from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT


def second_tuesday(year: int, month: int) -> datetime:
    first = datetime(year, month, 1, 1, 0, tzinfo=UTC)
    first_tuesday = first + timedelta(days=(1 - first.weekday()) % 7)
    return first_tuesday + timedelta(days=7)


def test_monthly_job_runs_at_1am_on_the_second_tuesday_for_two_years():
    runs = next_runs(SECOND_TUESDAY_1AM, datetime(2026, 11, 25, tzinfo=UTC), 24)

    months = [(2026 + (11 + i) // 12, (11 + i) % 12 + 1) for i in range(24)]  # Dec 2026 on
    assert runs == [second_tuesday(year, month) for year, month in months]
    assert runs[:3] == [
        datetime(2026, 12, 8, 1, 0, tzinfo=UTC),
        datetime(2027, 1, 12, 1, 0, tzinfo=UTC),
        datetime(2027, 2, 9, 1, 0, tzinfo=UTC),
    ]


def test_celery_ands_day_of_month_and_day_of_week_unlike_plain_cron():
    # Plain cron's `0 1 8-14 * 2` would also fire on 1 December 2026, a Tuesday outside 8-14.
    runs = next_runs(SECOND_TUESDAY_1AM, datetime(2026, 11, 30, tzinfo=UTC), 1)
    assert runs == [datetime(2026, 12, 8, 1, 0, tzinfo=UTC)]


def test_the_idle_account_job_runs_nightly_at_3am():
    runs = next_runs(NIGHTLY_3AM, datetime(2026, 11, 25, 12, 0, tzinfo=UTC), 3)
    assert runs == [datetime(2026, 11, day, 3, 0, tzinfo=UTC) for day in (26, 27, 28)]


def test_a_demo_interval_replaces_only_the_nightly_crontab():
    schedule = beat_schedule(Settings().replace(beat_interval_s=2.0))
    assert schedule["remind-idle-accounts"]["schedule"] == timedelta(seconds=2)
    assert schedule["monthly-summary"]["schedule"] is SECOND_TUESDAY_1AM


def test_seeded_accounts_have_the_promised_share_of_idle_ones(tmp_path):
    store = AccountStore(tmp_path / "accounts.sqlite3")
    store.seed(accounts=40, idle_share=0.25)
    assert store.counts() == {"accounts": 40, "idle": 10}
    due = store.due_for_reminder(datetime.now(UTC).timestamp())
    assert len(due) == 10
    assert all(a["last_login"] < datetime.now(UTC).timestamp() - IDLE_AFTER_S for a in due)


@pytest.mark.bench(queue=False)  # counts runs per tick: no worker to itself
def test_beat_runs_the_job_once_per_tick_where_cron_runs_it_per_server(tmp_path):
    out = tmp_path / "run_once.csv"
    finished = subprocess.run(
        [sys.executable, "-m", "loadtests.runners.run_once", "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    table = pd.read_csv(out).set_index("mode")

    beat = table.loc["beat"]
    assert beat["runs"] <= beat["ticks"]  # one scheduler: never a run per web server
    # Redeployed itself (and its worker) for 2.5 s of 1 s ticks, beat sends nothing meanwhile:
    # one scheduler is one process to deploy with care, not a guarantee.
    assert beat["ticks_without_a_run"] >= 1
    assert beat["accounts_reminded_more_than_once"] == 0
    assert beat["reminder_emails"] == beat["idle_accounts"]
    everywhere = table.loc["cron-everywhere"]
    assert everywhere["runs_per_tick"] > 1.5  # the job runs once per server: wasted work
    # ...but it claims each account before emailing it, so nobody gets two reminders.
    assert everywhere["accounts_reminded_more_than_once"] == 0
    one = table.loc["cron-one-server"]
    assert one["ticks_without_a_run"] >= 2  # its server was down for 2.5 s of 1 s ticks


def test_two_overlapping_runs_never_remind_one_account_twice(shared_stacks, tmp_path):
    stack = shared_stacks["sync"]
    stack.provider.reset()
    store = AccountStore(tmp_path / "accounts.sqlite3")
    store.seed()
    idle = store.counts()["idle"]

    runs = [
        threading.Thread(target=remind_idle_accounts, args=(store, stack.settings))
        for _ in range(2)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)
    recipients = [d["recipients"] for d in stack.provider.deliveries()]

    assert len(recipients) == idle > 0
    assert len(set(recipients)) == idle  # one reminder per idle account, however many runs
    assert sum(run["reminded"] for run in store.runs()) == idle
