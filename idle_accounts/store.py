"""The accounts table and the log of job runs, in one SQLite file shared by every process."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    last_login REAL NOT NULL,       -- Unix time
    reminded_at REAL                -- Unix time of the last reminder, NULL if never
);
CREATE TABLE IF NOT EXISTS job_runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    runner TEXT NOT NULL,           -- which process ran it: a hostname and pid
    started_at REAL NOT NULL,
    reminded INTEGER NOT NULL
);
"""
DAY_S = 24 * 3600
IDLE_AFTER_S = 182 * DAY_S  # six months
REMIND_EVERY_S = 30 * DAY_S  # an idle account is reminded at most once a month


class AccountStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.row_factory = sqlite3.Row
        return db

    def seed(self, accounts: int = 200, idle_share: float = 0.2, seed: int = 1) -> None:
        """Fake accounts, a fixed share of them idle for more than six months."""
        rng = random.Random(seed)
        now = time.time()
        rows = []
        for i in range(accounts):
            idle = i < accounts * idle_share
            days = rng.uniform(183, 900) if idle else rng.uniform(0, 170)
            rows.append((f"member{i:04d}@example.com", now - days * DAY_S))
        with self._connect() as db:
            db.execute("DELETE FROM accounts")
            db.execute("DELETE FROM job_runs")
            db.executemany("INSERT INTO accounts (email, last_login) VALUES (?, ?)", rows)

    def due_for_reminder(self, now: float) -> list[sqlite3.Row]:
        with self._connect() as db:
            return db.execute(
                "SELECT id, email, last_login, reminded_at FROM accounts WHERE last_login < ? "
                "AND (reminded_at IS NULL OR reminded_at < ?) ORDER BY id",
                (now - IDLE_AFTER_S, now - REMIND_EVERY_S),
            ).fetchall()

    def claim_reminder(self, account_id: int, now: float) -> bool:
        """Mark the account reminded now, if it is still due: one UPDATE, so of two runs that
        both found it due, exactly one gets True and sends the email."""
        with self._connect() as db:
            claimed = db.execute(
                "UPDATE accounts SET reminded_at = ? WHERE id = ? "
                "AND (reminded_at IS NULL OR reminded_at < ?)",
                (now, account_id, now - REMIND_EVERY_S),
            )
            return claimed.rowcount == 1

    def release_reminder(self, account_id: int, claimed_at: float, before: float | None) -> None:
        """The email failed: the account is due again (unless another run changed it since)."""
        with self._connect() as db:
            db.execute(
                "UPDATE accounts SET reminded_at = ? WHERE id = ? AND reminded_at = ?",
                (before, account_id, claimed_at),
            )

    def record_run(self, job: str, runner: str, started_at: float, reminded: int) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO job_runs (job, runner, started_at, reminded) VALUES (?, ?, ?, ?)",
                (job, runner, started_at, reminded),
            )

    def runs(self, job: str | None = None) -> list[dict[str, object]]:
        query = "SELECT job, runner, started_at, reminded FROM job_runs"
        args: tuple[object, ...] = ()
        if job:
            query += " WHERE job = ?"
            args = (job,)
        with self._connect() as db:
            return [dict(r) for r in db.execute(query + " ORDER BY id", args)]

    def all_accounts(self) -> list[sqlite3.Row]:
        with self._connect() as db:
            return db.execute("SELECT id, email, last_login FROM accounts ORDER BY id").fetchall()

    def reset_reminders(self) -> None:
        with self._connect() as db:
            db.execute("UPDATE accounts SET reminded_at = NULL")

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            total, idle = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(last_login < ?), 0) FROM accounts",
                (time.time() - IDLE_AFTER_S,),
            ).fetchone()
        return {"accounts": total, "idle": idle}
