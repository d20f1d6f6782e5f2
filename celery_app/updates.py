"""What a page following a task is told: each task's latest update in Redis, announced on a channel.

The worker writes (`TaskUpdates.publish`); the push service reads (`updates_after`) and hands
each update to the browser. The latest is written before it is announced, so a reader that
subscribes first and then reads the latest misses nothing, however the two race.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

import redis
import redis.asyncio
from flask import abort, current_app

TASK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # fullmatch
TTL_S = 24 * 3600


def _key(task_id: str) -> str:
    return f"task-update:{task_id}"


def _channel(task_id: str) -> str:
    return f"task-updates:{task_id}"


class TaskUpdates:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def publish(
        self, task_id: str, state: str, text: str, *, final: bool = False, **extra: object
    ) -> dict[str, object]:
        update = {"state": state, "text": text, "final": final, "at": time.time(), **extra}
        data = json.dumps(update)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(_key(task_id), data, ex=TTL_S)
            pipe.publish(_channel(task_id), data)
            pipe.execute()
        return update

    def latest(self, task_id: str) -> dict[str, object] | None:
        data = self.client.get(_key(task_id))
        return None if data is None else json.loads(data)


def task_updates() -> TaskUpdates:
    """The Celery app's TaskUpdates, in its web requests and its tasks alike."""
    return current_app.extensions["task_updates"]


def known_update(task_id: str) -> dict[str, object]:
    """The latest update of a task this app started; 404 for any other address."""
    update = task_updates().latest(task_id) if TASK_ID.fullmatch(task_id) else None
    if update is None:
        abort(404)
    return update


async def is_known(client: redis.asyncio.Redis, task_id: str) -> bool:
    """A task id of the right shape that this app has published updates for."""
    return bool(TASK_ID.fullmatch(task_id) and await client.exists(_key(task_id)))


async def updates_after(
    client: redis.asyncio.Redis, task_id: str, since: float, wait_s: float | None = None
) -> AsyncIterator[dict[str, object]]:
    """Each update newer than `since` as it comes, up to the final one; with `wait_s`, stop
    early after that many seconds without news (one long poll)."""
    async with client.pubsub() as pubsub:
        await pubsub.subscribe(_channel(task_id))
        await pubsub.get_message(timeout=5)  # the confirmation: subscribed from here on
        data = await client.get(_key(task_id))
        while True:
            if data is not None:
                update = json.loads(data)
                if update["at"] > since:
                    since = update["at"]
                    yield update
                    if update["final"]:
                        return
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=wait_s if wait_s is not None else 15.0
            )
            if message is None and wait_s is not None:
                return
            data = None if message is None else message["data"]


async def next_update(
    client: redis.asyncio.Redis, task_id: str, since: float, wait_s: float
) -> dict[str, object] | None:
    """The first update newer than `since`, waiting at most `wait_s` for it."""
    async with aclosing(updates_after(client, task_id, since, wait_s)) as updates:
        async for update in updates:
            return update
    return None
