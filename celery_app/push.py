"""The Celery app's push service: a task's updates to the browser, by websocket or long polling.

A small async process beside the Flask web server. A browser waiting for news holds a connection
open for seconds or minutes; under gunicorn's sync workers every such connection would be a
worker serving nobody else, while one event loop holds thousands. Started by the stack runner
as `uvicorn --factory celery_app.push:create_push_app`.
"""

from __future__ import annotations

import json
from contextlib import aclosing

import redis.asyncio
from quart import Quart, abort, request, websocket

from celery_app.updates import TASK_ID, next_update, updates_after
from contact_form.settings import Settings

LONG_POLL_S = 20.0
# The page is served by the web server's origin, so its long polls are cross-origin. What they
# read is not secret beyond the unguessable task id in the address, so any origin may read it.
POLL_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}


def create_push_app(settings: Settings | None = None) -> Quart:
    settings = settings or Settings.from_env()
    app = Quart(__name__)
    client = redis.asyncio.Redis.from_url(settings.effective_redis_url)

    @app.websocket("/updates/<task_id>")
    async def updates_socket(task_id: str) -> None:
        if not TASK_ID.match(task_id):
            await websocket.close(1008)
            return
        await websocket.accept()
        async with aclosing(updates_after(client, task_id, since=0.0)) as updates:
            async for update in updates:
                await websocket.send(json.dumps(update))
        await websocket.close(1000)

    @app.get("/updates/<task_id>")
    async def updates_poll(task_id: str) -> tuple[object, int, dict[str, str]]:
        if not TASK_ID.match(task_id):
            abort(404)
        try:
            since = float(request.args.get("since", "0"))
        except ValueError:
            abort(400)
        update = await next_update(client, task_id, since, LONG_POLL_S)
        if update is None:
            return "", 204, POLL_HEADERS  # no news yet: the page asks again
        return update, 200, POLL_HEADERS

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.after_serving
    async def close_redis() -> None:
        await client.aclose()

    return app
