"""uvicorn with the two bounds it lacks, for the async app and the Celery app's push service.

A flood of sockets that send half a request and stop: uvicorn waits for ever for the rest of a
request's head, and accepts connections until the process runs out of file descriptors. There,
asyncio's accept loop logs "socket.accept() out of system resource" for every connection
waiting in the listen backlog, again and again (130 MB of log in a minute), and the process
answers nobody. So:

- a request's head (its request line and headers) must arrive within REQUEST_BODY_TIMEOUT_S of
  the connection, or of the previous answer on a kept-alive connection; the body has the app's
  own deadline (408);
- past WEB_MAX_CONNECTIONS open connections, the one that has waited longest for its request
  (its head, or the body its head announced) is closed to make room (or, if every one is busy
  with a whole request, the new one), and that cap is
  kept below the process's file limit (raised to fit where the system allows), so accept()
  never fails for want of a descriptor;
- asyncio's and uvicorn's log lines are rate limited (`site_glue.log_limit`), whatever floods.

The async app runs under gunicorn with `GuardedUvicornWorker`; the push service with
`uvicorn --http site_glue.guarded_uvicorn:GuardedH11Protocol`.
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

from lab_settings import Settings
from site_glue.log_limit import limit_log_floods

# Descriptors the process needs besides its clients' connections: logs, Redis and SMTP pools,
# the listening socket, the event loop's own.
OTHER_FILES = 128


@dataclass(frozen=True)
class Limits:
    head_deadline_s: float
    max_connections: int


def fit_file_limit(wanted: int) -> int:
    """Raise this process's open-file limit to `wanted` + OTHER_FILES where the system lets it;
    the number of client connections that fit under the limit it ends with."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + OTHER_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # macOS caps it below an "unlimited" hard limit
            pass
    room = wanted if soft == resource.RLIM_INFINITY else soft - OTHER_FILES
    return max(1, min(wanted, room))


def limits_from(settings: Settings) -> Limits:
    return Limits(settings.request_body_timeout_s, fit_file_limit(settings.web_max_connections))


_limits: Limits | None = None


def limits() -> Limits:
    """Read once per process, on its first connection (after gunicorn forked it)."""
    global _limits
    if _limits is None:
        _limits = limits_from(Settings.from_env())
        limit_log_floods()
    return _limits


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's head and a cap on the
    connections one process holds. When full, the connection that has waited longest for its
    request makes room: a visitor who sends a whole request at once still gets in during a flood
    of half-sent ones, heads or bodies."""

    # This process's connections still waiting for a whole request, the longest-waiting first.
    waiting_for_request: ClassVar[dict[GuardedH11Protocol, None]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None
        self.cycle_before: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > limits().max_connections and not self._evict_oldest():
            transport.abort()  # every connection is busy with a request: refuse this one
            return
        self._wait_for_head()

    def _evict_oldest(self) -> bool:
        for oldest in self.waiting_for_request:
            oldest._stop_waiting()
            oldest.transport.abort()  # its descriptor is free again at once
            return True
        return False

    def _wait_for_head(self) -> None:
        self.cycle_before = self.cycle  # a head makes a new cycle
        self.waiting_for_request[self] = None
        self.head_timer = self.loop.call_later(limits().head_deadline_s, self._too_slow)

    def _stop_waiting(self) -> None:
        self.waiting_for_request.pop(self, None)
        self._stop_head_timer()

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_came(self) -> bool:
        return self.cycle is not self.cycle_before

    def _too_slow(self) -> None:
        self._stop_waiting()
        if not self._head_came():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self not in self.waiting_for_request or not self._head_came():
            return
        if self.cycle.more_body:
            # The body has the app's own deadline (408); until it is all here the connection
            # stays evictable, or heads announcing bodies they never send would fill the cap.
            self._stop_head_timer()
        else:
            self._stop_waiting()

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._stop_waiting()  # the websocket protocol takes the connection over
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already have read the next, pipelined head
        self._stop_waiting()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._wait_for_head()  # the next request on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)


class GuardedUvicornWorker(UvicornWorker):
    """gunicorn's worker class for the async app: uvicorn on asyncio's loop, with the guard."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "asyncio",
        "http": "site_glue.guarded_uvicorn:GuardedH11Protocol",
    }

    def init_process(self) -> None:
        limits()  # the file limit raised and the logs gated before the first connection
        super().init_process()
