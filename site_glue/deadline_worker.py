"""gunicorn's sync and threaded workers with one deadline for the whole request, headers and body.

The sync worker reads a request with no deadline of its own: it relies on killing a worker stuck
for WEB_TIMEOUT_S (minutes). A timeout per recv() would not do either: a client that sends one
byte just before each expires holds the only worker for as long as it likes. Here every recv()
gets only what is left of REQUEST_BODY_TIMEOUT_S, counted from when the connection was taken.
In production a buffering reverse proxy (nginx) does this job and more: it reads the whole
request before handing it to the app, so a slow client holds one of its cheap connections,
never an app worker.
"""

from __future__ import annotations

import socket
import time

from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import TConn, ThreadWorker
from gunicorn.workers.sync import SyncWorker


class RequestTooSlow(NoMoreData, TimeoutError):
    """The deadline passed. gunicorn closes the connection quietly (as for a client gone
    mid-request); while the app reads the body, it is a TimeoutError the app answers with 408."""

    def __init__(self) -> None:
        super().__init__(b"")


class DeadlineSocket:
    """A client socket whose reads share one deadline; writes block as gunicorn expects."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._sock = sock
        self.seconds = seconds
        self.restart()

    def restart(self) -> None:
        """The next request on a kept-alive connection gets a whole deadline of its own."""
        self.deadline = time.monotonic() + self.seconds

    def recv(self, size: int, *flags: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTooSlow()
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError as exc:
            raise RequestTooSlow() from exc

    def sendall(self, data: bytes, *flags: int) -> None:
        self._sock.settimeout(None)
        self._sock.sendall(data, *flags)

    def send(self, data: bytes, *flags: int) -> int:
        self._sock.settimeout(None)
        return self._sock.send(data, *flags)

    def sendfile(self, file: object, offset: int = 0, count: int | None = None) -> int:
        self._sock.settimeout(None)
        return self._sock.sendfile(file, offset, count)

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def deadline_sync_worker(seconds: float) -> type[SyncWorker]:
    """The sync worker class for gunicorn's `worker_class`, with this deadline per request."""

    class DeadlineSyncWorker(SyncWorker):
        def handle(self, listener: socket.socket, client: socket.socket, addr: object) -> None:
            super().handle(listener, DeadlineSocket(client, seconds), addr)

    return DeadlineSyncWorker


def deadline_thread_worker(seconds: float) -> type[ThreadWorker]:
    """gunicorn's threaded worker (gthread) with this deadline per request. A connection's socket
    is wrapped once, before gthread builds its parser on it; an answered request restarts the
    clock for the next one. gthread also hands a connection back to its poller after 5 s without
    a byte and to a thread again when one comes: that must not restart it."""

    class DeadlineThreadWorker(ThreadWorker):
        def handle(self, conn: TConn) -> object:
            if not isinstance(conn.sock, DeadlineSocket):
                conn.sock = DeadlineSocket(conn.sock, seconds)
            keep_alive = super().handle(conn)
            if keep_alive is True:  # answered, and the connection stays open for another
                conn.sock.restart()
            return keep_alive

    return DeadlineThreadWorker
