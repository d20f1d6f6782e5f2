"""A task's updates, pushed to the page that follows it (use cases 2 and 3).

Two halves. The worker writes each task's latest update in Redis and announces it on a channel
(`TaskUpdates.publish`); the latest is written before it is announced, so a reader that
subscribes first and then reads the latest misses nothing, however the two race. The push
service (`create_push_app`) hands each update to the browser, by websocket or long polling:
a small async process beside the Flask web server. A browser waiting for news holds a
connection open for seconds or minutes; under gunicorn's sync workers every such connection
would be a worker serving nobody else, while one event loop holds thousands. Started by the
stack runner as `uvicorn --factory celery_app.push:create_push_app`. It holds at most
PUSH_MAX_CONNECTIONS at once, PUSH_MAX_PER_CLIENT of them from one client address (beyond, a
503 with Retry-After; connections of any kind are capped by the guard's WEB_MAX_CONNECTIONS,
`site_glue.guarded_uvicorn`) and uvicorn's small `--ws-max-size` closes a socket on a large
frame, so idle or hostile clients cannot take every Redis connection the broker and the rate
limit need: each open connection holds one.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager

import redis
import redis.asyncio
from flask import abort as flask_abort
from flask import current_app
from quart import Quart, Response, abort, request, websocket

from bakery_site.signing import signature, signed_by_us
from lab_settings import Settings

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


def watch_token(secret_key: str, task_id: str) -> str:
    """What the push service asks of a page that follows a task. Only the task's page carries
    it (shown to the session that started a lookup, to staff for a report), not its address:
    an id read in a log, a browser history or a Referer is not enough to follow the task."""
    return signature(secret_key, "watch-task", task_id)


def task_updates() -> TaskUpdates:
    """The Celery app's TaskUpdates, in its web requests and its tasks alike."""
    return current_app.extensions["task_updates"]


def known_update(task_id: str) -> dict[str, object]:
    """The latest update of a task this app started; 404 for any other address."""
    update = task_updates().latest(task_id) if TASK_ID.fullmatch(task_id) else None
    if update is None:
        flask_abort(404)  # a page of the Flask app; the service below is Quart's
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


# The push service

LONG_POLL_S = 20.0
# The page is served by the web server's origin, so its long polls are cross-origin. What they
# read is not secret beyond the task id and its watch token, so any origin may read it.
POLL_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
TOO_MANY = "Too many pages are following tasks right now; try again in a few seconds."
STORE_UNAVAILABLE = "Updates are not available right now; try again in a few seconds."
BUSY_HEADERS = {"Retry-After": "5"}


def create_push_app(settings: Settings | None = None) -> Quart:
    settings = settings or Settings.from_env()
    app = Quart(__name__)
    # One Redis connection per open page, and a few for the quick look-ups: a bounded pool that
    # makes a request wait for a free connection rather than open one more.
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.effective_redis_url,
        max_connections=settings.push_max_connections + 10,
        timeout=5,
        **settings.redis_timeouts,
    )
    client = redis.asyncio.Redis(connection_pool=pool)

    open_now = 0  # connections held at this moment (uvicorn's own limit skips websockets)
    held_by: Counter[str] = Counter()  # and by each client address

    @contextmanager
    def counted(address: str | None) -> Iterator[bool]:
        """Whether there is room for one more connection, in all and for its client (one client
        must not take every slot from the others); it counts until the block ends."""
        nonlocal open_now
        key = address or "unknown"
        full = open_now >= settings.push_max_connections
        if full or held_by[key] >= settings.push_max_per_client:
            yield False
            return
        open_now += 1
        held_by[key] += 1
        try:
            yield True
        finally:
            open_now -= 1
            held_by[key] -= 1
            if not held_by[key]:
                del held_by[key]

    async def may_follow(task_id: str, token: str | None) -> bool:
        """A task this app started, asked for by its page (its watch token)."""
        known = await is_known(client, task_id)
        return known and signed_by_us(settings.secret_key, "watch-task", task_id, token)

    @app.websocket("/updates/<task_id>")
    async def updates_socket(task_id: str) -> Response | None:
        if not await may_follow(task_id, websocket.args.get("watch")):
            await websocket.close(1008)  # at once: an unknown id must not hold a connection
            return None
        with counted(websocket.remote_addr) as room:
            if not room:
                return Response(TOO_MANY, 503, BUSY_HEADERS)  # refuses the handshake
            await follow(task_id)
        return None

    async def follow(task_id: str) -> None:
        await websocket.accept()
        discarding = asyncio.create_task(discard_client_frames())
        try:
            # Past its lifetime the socket closes; the page follows the task by long polling.
            async with asyncio.timeout(settings.push_max_connection_s):
                async with aclosing(updates_after(client, task_id, since=0.0)) as updates:
                    async for update in updates:
                        await websocket.send(json.dumps(update))
        except TimeoutError:
            pass
        finally:
            discarding.cancel()
        await websocket.close(1000)

    async def discard_client_frames() -> None:
        """The page sends nothing; whatever a client sends is read and dropped, so it cannot
        pile up (uvicorn's --ws-max-size closes the socket on an oversized frame)."""
        while True:
            await websocket.receive()

    @app.get("/updates/<task_id>")
    async def updates_poll(task_id: str) -> tuple[object, int, dict[str, str]]:
        if not await may_follow(task_id, request.args.get("watch")):
            abort(404)
        try:
            since = float(request.args.get("since", "0"))
        except ValueError:
            abort(400)
        with counted(request.remote_addr) as room:
            if not room:
                return TOO_MANY, 503, {**POLL_HEADERS, **BUSY_HEADERS}
            update = await next_update(client, task_id, since, LONG_POLL_S)
        if update is None:
            return "", 204, POLL_HEADERS  # no news yet: the page asks again
        return update, 200, POLL_HEADERS

    @app.errorhandler(redis.RedisError)
    async def store_unavailable(exc: redis.RedisError) -> tuple[str, int, dict[str, str]]:
        # Redis refused or stalled: the page asks again after Retry-After.
        return STORE_UNAVAILABLE, 503, {**POLL_HEADERS, **BUSY_HEADERS}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.after_serving
    async def close_redis() -> None:
        await client.aclose()
        await pool.disconnect()

    return app
