"""The HTTP control endpoints every slow provider has, so tests and benches drive them alike.

GET /healthz, GET /behaviour, POST /behaviour (change it while it runs), POST /reset (clear the
log), plus each provider's own read-only routes (/stats and its log).

They answer only requests addressed to a loopback name (the Host header), and change something
only for a JSON body: a web page the student opens elsewhere can neither reach them under a
name of its own (DNS rebinding) nor send them a form or a text/plain POST (a browser sends
application/json across sites only after a preflight these endpoints never answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from slow_provider.behaviour import Faults

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]"}
MAX_BODY_BYTES = 64 * 1024  # a change of behaviour is a few hundred bytes of JSON


def loopback_host(value: str | None) -> bool:
    """A Host header (or an Origin) that names this machine by a loopback name, any port."""
    if not value:
        return False
    host = urlsplit(value if "//" in value else f"//{value}").hostname or ""
    return host in LOOPBACK_NAMES or f"[{host}]" in LOOPBACK_NAMES


class ControlHandler(BaseHTTPRequestHandler):
    faults: Faults  # set by each provider's subclass

    def routes(self) -> dict[str, Callable[[], object]]:
        """This provider's read-only endpoints."""
        return {}

    def reset(self) -> object:
        """Clear this provider's log; the answer to POST /reset."""
        raise NotImplementedError

    def refused(self, *, changes: bool) -> bool:
        """Refuse (403, and say so) a request from outside, or a change not sent as JSON."""
        origin = self.headers.get("Origin")
        reason = None
        if not loopback_host(self.headers.get("Host")):
            reason = "the control endpoints answer only on a loopback address"
        elif origin is not None and not loopback_host(origin):
            reason = f"requests from {origin} are not accepted"
        elif changes and self.headers.get_content_type() != "application/json":
            reason = "send the change as application/json"
        if reason is None:
            return False
        self.close_connection = True  # an unread body must not be taken for the next request
        self.reply(403, {"error": reason})
        return True

    def do_GET(self) -> None:
        if self.refused(changes=False):
            return
        path = urlsplit(self.path).path
        routes = {
            "/healthz": lambda: {"status": "ok"},
            "/behaviour": lambda: asdict(self.faults.behaviour),
            **self.routes(),
        }
        route = routes.get(path)
        if route is None:
            self.reply(404, {"error": f"no such endpoint {path}"})
            return
        self.reply(200, route())

    def do_POST(self) -> None:
        if self.refused(changes=True):
            return
        body = self.read_body()
        if body is None:
            return
        if self.path == "/reset":
            self.reply(200, self.reset())
            return
        if self.path != "/behaviour":
            self.reply(404, {"error": f"no such endpoint {self.path}"})
            return
        try:
            behaviour = self.faults.behaviour.updated(json.loads(body))
        except (ValueError, TypeError) as exc:
            self.reply(400, {"error": str(exc)})
            return
        self.faults.set_behaviour(behaviour)
        self.reply(200, asdict(behaviour))

    def read_body(self) -> bytes | None:
        """The request's body; None once a length that cannot be read is answered with 400 (a
        negative one would read until the client hangs up, holding this thread)."""
        length = self.headers.get("Content-Length", "0").strip()
        if not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the body, if any, must not be read as a request
            self.reply(400, {"error": f"Content-Length must be 0 to {MAX_BODY_BYTES}"})
            return None
        return self.rfile.read(int(length))

    def reply(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests and benchmarks poll these endpoints
