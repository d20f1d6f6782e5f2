"""Failure tracking: what happened to each contact-email task, kept in Redis for /admin/tasks.

Celery's result backend keeps a task's last state; the page also needs its tries and the
reason of its last failure, so the task writes them here on every try.
"""

from __future__ import annotations

import time

import redis

KEY = "task-log"
KEEP = 200  # the most recent tasks shown; older entries are dropped


class TaskLog:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def record(
        self, task_id: str, message_id: str, state: str, tries: int, error: str = ""
    ) -> None:
        now = time.time()
        entry = f"{KEY}:{task_id}"
        pipe = self.client.pipeline()
        pipe.hset(
            entry,
            mapping={
                "task_id": task_id,
                "message_id": message_id,
                "state": state,
                "tries": tries,
                "error": error,
                "updated": now,
            },
        )
        pipe.hsetnx(entry, "created", now)
        pipe.expire(entry, 7 * 24 * 3600)
        pipe.zadd(KEY, {task_id: now})
        pipe.zremrangebyrank(KEY, 0, -KEEP - 1)
        pipe.execute()

    def recent(self, limit: int = 50) -> list[dict[str, str]]:
        ids = self.client.zrevrange(KEY, 0, limit - 1)
        pipe = self.client.pipeline()
        for task_id in ids:
            pipe.hgetall(f"{KEY}:{task_id.decode()}")
        rows = []
        for raw in pipe.execute():
            if raw:
                rows.append({k.decode(): v.decode() for k, v in raw.items()})
        return rows
