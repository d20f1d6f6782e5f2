"""Use case 3, long-running work: a report that takes about two minutes (REPORT_DURATION_S).

The work is the same in all three apps; only who waits for it differs. `ReportBuilder` does it
in STEPS slices, each standing for the slow part of a real report (a big query, an export from
a third party) that takes REPORT_DURATION_S / STEPS seconds; the caller waits out each slice
its own way (the sync app blocks, the async app awaits, the Celery task blocks a worker and
publishes its progress). The rows are real: the accounts table, with how long each is idle.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime

from idle_accounts.store import DAY_S, AccountStore
from lab_settings import Settings

STEPS = 20


class ReportBuilder:
    def __init__(self, settings: Settings) -> None:
        store = AccountStore(settings.accounts_db_path)
        if store.counts()["accounts"] == 0:
            store.seed()
        self.rows = store.all_accounts()
        self.now = time.time()
        self.total = STEPS
        self.slice_s = settings.report_duration_s / STEPS
        self._out = io.StringIO()
        self._writer = csv.writer(self._out)
        self._writer.writerow(["email", "last_login_utc", "idle_days"])
        self._per_step = max(1, -(-len(self.rows) // STEPS))

    def step(self, index: int) -> None:
        """The rows of slice `index` (0 to STEPS - 1)."""
        for row in self.rows[index * self._per_step : (index + 1) * self._per_step]:
            last = datetime.fromtimestamp(row["last_login"], UTC)
            self._writer.writerow(
                [
                    row["email"],
                    last.isoformat(timespec="seconds"),
                    int((self.now - row["last_login"]) // DAY_S),
                ]
            )

    def text(self) -> str:
        return self._out.getvalue()


def generate(settings: Settings) -> str:
    """The whole report, blocking until it is done (the sync app's way): the CSV text."""
    builder = ReportBuilder(settings)
    for index in range(builder.total):
        time.sleep(builder.slice_s)
        builder.step(index)
    return builder.text()


async def generate_async(settings: Settings) -> str:
    """The whole report, awaiting each slice (the async app's way): the CSV text."""
    builder = ReportBuilder(settings)
    for index in range(builder.total):
        await asyncio.sleep(builder.slice_s)
        builder.step(index)
    return builder.text()


def filename() -> str:
    return f"accounts-report-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.csv"


def duration_text(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 90 else f"{seconds:g} seconds"
