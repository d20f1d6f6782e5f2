"""Use case 3, long-running work: a report that takes about two minutes (REPORT_DURATION_S).

The work is the same in all three apps; only who waits for it differs. `ReportBuilder` does it
in STEPS slices, each standing for the slow part of a real report that takes REPORT_DURATION_S /
STEPS seconds. With REPORT_WORK=wait (the default) that part happens elsewhere (a big query, an
export from a third party) and the caller waits it out its own way: the sync app blocks, the
async app awaits, the Celery task blocks a worker and publishes its progress. With
REPORT_WORK=compute it is Python computing on this CPU, which no caller can await: it holds the
interpreter for the whole slice, in an event loop as anywhere else. The rows are real: the
accounts table, with how long each is idle.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
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
        self.computes = settings.report_work == "compute"
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

    def work(self) -> None:
        """One slice, blocking the caller: computed here, or waited out."""
        if self.computes:
            self.compute()
        else:
            time.sleep(self.slice_s)

    def compute(self) -> None:
        """One slice of CPU work: hashing, for slice_s seconds of this thread's CPU time."""
        digest, until = b"report", time.thread_time() + self.slice_s
        while time.thread_time() < until:
            for _ in range(1000):
                digest = hashlib.sha256(digest).digest()


def generate(settings: Settings) -> str:
    """The whole report, blocking until it is done (the sync app's way): the CSV text."""
    builder = ReportBuilder(settings)
    for index in range(builder.total):
        builder.work()
        builder.step(index)
    return builder.text()


async def generate_async(settings: Settings) -> str:
    """The whole report, awaiting each slice (the async app's way): the CSV text."""
    builder = ReportBuilder(settings)
    for index in range(builder.total):
        if builder.computes:
            builder.compute()  # nothing to await: the loop serves no one meanwhile
        else:
            await asyncio.sleep(builder.slice_s)
        builder.step(index)
    return builder.text()


def filename() -> str:
    return f"accounts-report-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.csv"


def duration_text(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 90 else f"{seconds:g} seconds"
