"""The push service cannot be exhausted: unknown ids close at once, connections are capped and
have a lifetime, client frames are dropped, and the site stays fast while it is full."""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import time
import uuid

import pytest
import redis
import requests
import websocket

from celery_app.push import TaskUpdates, watch_token
from loadtests.load.journey import contact_fields
from tests.conftest import Visitor, loopback_alias

CAP = 40
PER_CLIENT = 5
LIFETIME_S = 2.0


@pytest.fixture(scope="module")
def push_stack(start_stack):
    return start_stack(
        "celery",
        push_max_connections=CAP,
        push_max_per_client=PER_CLIENT,
        push_max_connection_s=LIFETIME_S,
        rate_limit_s=0.5,
    )


def pending_task(stack) -> str:
    """A task id with an update that never becomes final: a page would wait on it."""
    task_id = str(uuid.uuid4())
    updates = TaskUpdates(redis.Redis.from_url(stack.settings.effective_redis_url))
    updates.publish(task_id, "PENDING", "Working on it...")
    return task_id


def closed_by_the_service(ws: websocket.WebSocket) -> bool:
    """Whether the next thing on the socket is its end (a close frame, or the connection gone)."""
    try:
        return ws.recv() == ""
    except (websocket.WebSocketConnectionClosedException, OSError):
        return True


def updates_path(stack, task_id: str) -> str:
    """The push address of a task as its page asks for it (with its watch token)."""
    return f"/updates/{task_id}?watch={watch_token(stack.settings.secret_key, task_id)}"


def ws_url(stack, task_id: str) -> str:
    return (
        f"ws://{stack.settings.web_host}:{stack.settings.push_port}{updates_path(stack, task_id)}"
    )


# Fixed ids: the test's name carries them, and every pytest worker must collect the same names.
UNKNOWN_TASK = "5f0c7a52-8a41-4d3e-9b6e-2f5d0c1e7a93"


@pytest.mark.parametrize("task_id", [UNKNOWN_TASK, f"{UNKNOWN_TASK}%0A", "not-a-task"])
def test_an_unknown_task_id_is_refused_at_once(push_stack, task_id):
    started = time.monotonic()
    poll = requests.get(f"{push_stack.settings.push_url}/updates/{task_id}", timeout=5)
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(ws_url(push_stack, task_id), timeout=5)

    assert poll.status_code == 404
    assert time.monotonic() - started < 1


def test_a_websocket_is_closed_after_its_lifetime(push_stack):
    ws = websocket.create_connection(ws_url(push_stack, pending_task(push_stack)), timeout=10)
    started = time.monotonic()

    assert '"PENDING"' in ws.recv()
    assert closed_by_the_service(ws)  # nothing more comes until the service closes it
    assert LIFETIME_S - 0.5 < time.monotonic() - started < LIFETIME_S + 2


def test_client_frames_are_dropped_and_an_oversized_one_closes_the_socket(push_stack):
    task_id = pending_task(push_stack)
    ws = websocket.create_connection(ws_url(push_stack, task_id), timeout=10)
    ws.recv()  # the pending update

    ws.send("hello")  # dropped; the socket still carries the next update
    TaskUpdates(redis.Redis.from_url(push_stack.settings.effective_redis_url)).publish(
        task_id, "SUCCESS", "Done.", final=True
    )
    assert '"SUCCESS"' in ws.recv()

    big = websocket.create_connection(ws_url(push_stack, pending_task(push_stack)), timeout=10)
    big.recv()
    big.send("x" * 10_000)
    assert closed_by_the_service(big)


async def _hold(
    stack, task_id: str, as_websocket: bool, source: str = "127.0.0.1", forwarded_for: str = ""
) -> str:
    """Open one connection from `source` (claiming to forward for `forwarded_for`, if given) and
    leave it idle; its status line, or "held" if none came yet."""
    host, port = stack.settings.web_host, stack.settings.push_port
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    if as_websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        upgrade = (
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
        )
        request = f"GET {updates_path(stack, task_id)} HTTP/1.1\r\nHost: {host}\r\n{upgrade}\r\n"
    else:
        claim = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
        request = (
            f"GET {updates_path(stack, task_id)}&since={time.time()} HTTP/1.1\r\n"
            f"Host: {host}\r\n{claim}\r\n"
        )
    writer.write(request.encode())
    await writer.drain()
    try:
        status = (await asyncio.wait_for(reader.readline(), 4)).decode()
    except TimeoutError:
        status = "held"  # a long poll waiting for news
    HELD.append(writer)
    return status.split(" ")[1] if status.startswith("HTTP/") else status


HELD: list[asyncio.StreamWriter] = []


def release_held(loop: asyncio.AbstractEventLoop) -> None:
    """Close every held connection for real before the loop goes: a transport closes its socket
    only when its loop runs again, so a bare close() would leave them open (and counted by the
    service) into the next test."""

    async def close_all() -> None:
        for writer in HELD:
            writer.close()
        await asyncio.gather(*(writer.wait_closed() for writer in HELD), return_exceptions=True)

    loop.run_until_complete(close_all())
    loop.close()
    HELD.clear()


def test_500_idle_connections_are_capped_and_the_contact_form_stays_fast(push_stack):
    task_id = pending_task(push_stack)

    async def flood() -> list[str]:
        return await asyncio.gather(*(_hold(push_stack, task_id, n % 2 == 0) for n in range(500)))

    loop = asyncio.new_event_loop()
    try:
        answers = loop.run_until_complete(flood())
        visitor = Visitor(push_stack.url)
        timings = []
        for n in range(3):  # through the rate limit (Redis) and onto the queue (Redis)
            started = time.monotonic()
            status = visitor.submit(contact_fields(n, 1)).status_code
            timings.append((status, time.monotonic() - started))
            time.sleep(0.6)  # past the rate limit's window
        delivered = push_stack.provider.wait_for("delivered", 3, timeout_s=15)["delivered"]
    finally:
        release_held(loop)

    accepted = sum(answer in ("101", "held") for answer in answers)
    assert accepted <= CAP
    assert answers.count("503") >= 500 - CAP  # refused at once, with a clear status
    assert all(status == 302 and took < 1.0 for status, took in timings), timings
    assert delivered == 3


def test_one_client_cannot_take_every_slot_from_the_others(push_stack):
    """One address holding long polls gets PER_CLIENT of them; a visitor from another address
    still has its page followed. The whole 127/8 is this machine: the hog is 127.0.0.3, which no
    other test uses, and the visitor 127.0.0.2."""
    hog_address, visitor_address = loopback_alias("127.0.0.3"), loopback_alias("127.0.0.2")
    waiting, done = pending_task(push_stack), pending_task(push_stack)
    TaskUpdates(redis.Redis.from_url(push_stack.settings.effective_redis_url)).publish(
        done, "SUCCESS", "Done.", final=True
    )

    async def hog() -> list[str]:
        return await asyncio.gather(
            *(_hold(push_stack, waiting, False, source=hog_address) for _ in range(4 * PER_CLIENT))
        )

    loop = asyncio.new_event_loop()
    try:
        answers = loop.run_until_complete(hog())
        other = http.client.HTTPConnection(
            push_stack.settings.web_host,
            push_stack.settings.push_port,
            timeout=10,
            source_address=(visitor_address, 0),
        )
        other.request("GET", f"{updates_path(push_stack, done)}&since=0")
        answer = other.getresponse()
        body = answer.read().decode()
    finally:
        release_held(loop)

    assert answers.count("held") == PER_CLIENT
    assert answers.count("503") == 3 * PER_CLIENT
    assert answer.status == 200 and '"SUCCESS"' in body


def test_a_client_on_loopback_cannot_buy_more_slots_with_forwarded_for(push_stack):
    """By default the push service believes nobody's X-Forwarded-For, 127.0.0.1's included
    (uvicorn's own default would): each fake address a client names buys it nothing."""
    waiting = pending_task(push_stack)

    async def hog() -> list[str]:
        return await asyncio.gather(
            *(
                _hold(push_stack, waiting, False, forwarded_for=f"198.51.100.{n}")
                for n in range(4 * PER_CLIENT)
            )
        )

    loop = asyncio.new_event_loop()
    try:
        answers = loop.run_until_complete(hog())
    finally:
        release_held(loop)

    assert answers.count("held") == PER_CLIENT
    assert answers.count("503") == 3 * PER_CLIENT
