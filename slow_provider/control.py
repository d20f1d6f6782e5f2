"""The HTTP control endpoints every slow provider has, so tests and benches drive them alike.

GET /healthz, GET /behaviour, POST /behaviour (change it while it runs), POST /reset (clear the
log), plus each provider's own read-only routes (/stats and its log).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from slow_provider.behaviour import Faults


class ControlHandler(BaseHTTPRequestHandler):
    faults: Faults  # set by each provider's subclass

    def routes(self) -> dict[str, Callable[[], object]]:
        """This provider's read-only endpoints."""
        return {}

    def reset(self) -> object:
        """Clear this provider's log; the answer to POST /reset."""
        raise NotImplementedError

    def do_GET(self) -> None:
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
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
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
