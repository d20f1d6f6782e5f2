"""The provider's durable record of every delivery attempt and every accepted message (SQLite)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    message_id TEXT,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    outcome TEXT NOT NULL          -- the SMTP code sent back, or 'dropped' if the client left
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    message_id TEXT,
    submitted_at TEXT,             -- the app's X-Submitted-At header, ISO 8601
    arrived_at REAL NOT NULL,      -- Unix time the provider accepted the message
    mail_from TEXT NOT NULL,
    recipients TEXT NOT NULL,      -- comma separated envelope recipients
    raw TEXT NOT NULL
);
"""


class DeliveryLog:
    """One SQLite file, safe to use from the SMTP thread and the control thread at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10)
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    def record_attempt(
        self, message_id: str | None, started_at: float, finished_at: float, outcome: str
    ) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO attempts (message_id, started_at, finished_at, outcome)"
                " VALUES (?, ?, ?, ?)",
                (message_id, started_at, finished_at, outcome),
            )

    def record_delivery(
        self,
        message_id: str | None,
        submitted_at: str | None,
        arrived_at: float,
        mail_from: str,
        recipients: list[str],
        raw: str,
    ) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO deliveries"
                " (message_id, submitted_at, arrived_at, mail_from, recipients, raw)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (message_id, submitted_at, arrived_at, mail_from, ",".join(recipients), raw),
            )

    def stats(self) -> dict[str, int]:
        db = self._connect()
        delivered, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM deliveries"
        ).fetchone()
        attempts, refused = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(outcome != '250'), 0) FROM attempts"
        ).fetchone()
        return {
            "delivered": delivered,
            "distinct_message_ids": distinct,
            "attempts": attempts,
            "failed_attempts": refused,
        }

    def deliveries(self, include_raw: bool = False) -> list[dict[str, object]]:
        columns = "message_id, submitted_at, arrived_at, mail_from, recipients"
        if include_raw:
            columns += ", raw"
        rows = self._connect().execute(f"SELECT {columns} FROM deliveries ORDER BY id")
        return [dict(row) for row in rows]

    def attempts(self) -> list[dict[str, object]]:
        rows = self._connect().execute(
            "SELECT message_id, started_at, finished_at, outcome FROM attempts ORDER BY id"
        )
        return [dict(row) for row in rows]

    def clear(self) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM attempts")
            db.execute("DELETE FROM deliveries")
