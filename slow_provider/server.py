"""SlowSmtpProvider: a real SMTP server that behaves like a slow, sometimes failing email provider.

It stands in for Gmail, SendGrid or Mailgun: the apps talk real SMTP to it. How slow and how
unreliable it is can be changed while it runs, through a small HTTP control API on loopback.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from contact_form.contact_email import SUBMITTED_AT_HEADER
from slow_provider.log import DeliveryLog

MODES = ("normal", "outage", "hang")
DISTRIBUTIONS = ("fixed", "uniform", "exponential")


@dataclass
class ProviderBehaviour:
    """How the provider answers. Every field can change while it runs."""

    delay_s: float = 2.0
    distribution: str = "fixed"  # fixed | uniform (0 to 2x delay) | exponential (mean delay)
    transient_failure_rate: float = 0.0  # answered 451 "try again later"
    permanent_failure_rate: float = 0.0  # answered 554 "rejected"
    fail_next: int = 0  # the next N messages get 451, whatever the rates: for exact tests
    mode: str = "normal"  # normal | outage (451 at once) | hang (never answers DATA)
    seed: int = 1

    def updated(self, changes: dict[str, object]) -> ProviderBehaviour:
        known = {f.name: f.type for f in fields(self)}
        unknown = set(changes) - set(known)
        if unknown:
            raise ValueError(f"unknown provider settings: {sorted(unknown)}")
        values = asdict(self)
        for name, value in changes.items():
            values[name] = type(getattr(self, name))(value)
        behaviour = ProviderBehaviour(**values)
        behaviour.check()
        return behaviour

    def check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}")
        if self.delay_s < 0 or self.fail_next < 0:
            raise ValueError("delay_s and fail_next must be >= 0")
        for rate in (self.transient_failure_rate, self.permanent_failure_rate):
            if not 0 <= rate <= 1:
                raise ValueError("failure rates must be between 0 and 1")

    def draw_delay(self, rng: random.Random) -> float:
        if self.distribution == "uniform":
            return rng.uniform(0, 2 * self.delay_s)
        if self.distribution == "exponential":
            return rng.expovariate(1 / self.delay_s) if self.delay_s > 0 else 0.0
        return self.delay_s


class SlowSmtpHandler:
    """aiosmtpd handler: waits, maybe fails, and records what it accepted."""

    def __init__(self, behaviour: ProviderBehaviour, log: DeliveryLog) -> None:
        self.behaviour = behaviour
        self.log = log
        self.rng = random.Random(behaviour.seed)
        self.in_flight = 0
        self._lock = threading.Lock()

    def set_behaviour(self, behaviour: ProviderBehaviour) -> None:
        with self._lock:
            if behaviour.seed != self.behaviour.seed:
                self.rng = random.Random(behaviour.seed)
            self.behaviour = behaviour

    def _decide(self) -> tuple[ProviderBehaviour, str | None, float]:
        """Under the lock: this message's fate (an error reply or None) and its delay."""
        with self._lock:
            behaviour = self.behaviour
            if behaviour.mode == "outage":
                return behaviour, "451 4.3.2 Provider outage, try again later", 0.0
            if behaviour.fail_next > 0:
                self.behaviour = behaviour.updated({"fail_next": behaviour.fail_next - 1})
                return behaviour, "451 4.3.0 Temporary failure, try again later", 0.0
            delay = behaviour.draw_delay(self.rng)
            draw = self.rng.random()
            if draw < behaviour.transient_failure_rate:
                return behaviour, "451 4.3.0 Temporary failure, try again later", delay
            if draw < behaviour.transient_failure_rate + behaviour.permanent_failure_rate:
                return behaviour, "554 5.7.1 Message rejected", delay
            return behaviour, None, delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        started = time.time()
        message = message_from_bytes(envelope.content, policy=policy.default)
        message_id = message.get("Message-ID")
        behaviour, failure, delay = self._decide()
        self.in_flight += 1
        try:
            if behaviour.mode == "hang":
                await asyncio.Event().wait()  # never set: the client must time out
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self.log.record_attempt(message_id, started, time.time(), "dropped")
            raise
        finally:
            self.in_flight -= 1
        finished = time.time()
        if failure:
            self.log.record_attempt(message_id, started, finished, failure[:3])
            return failure
        self.log.record_attempt(message_id, started, finished, "250")
        self.log.record_delivery(
            message_id,
            message.get(SUBMITTED_AT_HEADER),
            finished,
            envelope.mail_from,
            list(envelope.rcpt_tos),
            envelope.content.decode("utf-8", "replace"),
        )
        return "250 2.0.0 OK: queued"


class SlowSmtpProvider:
    """The SMTP server plus its control API; `serve_forever()` blocks until `shutdown()`."""

    def __init__(
        self,
        host: str,
        smtp_port: int,
        control_port: int,
        db_path: Path,
        behaviour: ProviderBehaviour,
    ) -> None:
        behaviour.check()
        self.log = DeliveryLog(db_path)
        self.handler = SlowSmtpHandler(behaviour, self.log)
        self.smtp = Controller(self.handler, hostname=host, port=smtp_port)
        self.control = ThreadingHTTPServer((host, control_port), _control_handler(self))
        self.control.daemon_threads = True

    def serve_forever(self) -> None:
        self.smtp.start()
        try:
            self.control.serve_forever(poll_interval=0.2)
        finally:
            self.control.server_close()
            self.smtp.stop()

    def shutdown(self) -> None:
        self.control.shutdown()

    def status(self) -> dict[str, object]:
        return {**self.log.stats(), "in_flight": self.handler.in_flight}


def _control_handler(provider: SlowSmtpProvider) -> type[BaseHTTPRequestHandler]:
    class ControlHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes = {
                "/healthz": lambda: {"status": "ok"},
                "/behaviour": lambda: asdict(provider.handler.behaviour),
                "/stats": provider.status,
                "/deliveries": lambda: provider.log.deliveries(include_raw=True),
                "/attempts": provider.log.attempts,
            }
            route = routes.get(self.path)
            if route is None:
                self._reply(404, {"error": f"no such endpoint {self.path}"})
                return
            self._reply(200, route())

        def do_POST(self) -> None:
            if self.path == "/reset":
                provider.log.clear()
                self._reply(200, provider.status())
                return
            if self.path != "/behaviour":
                self._reply(404, {"error": f"no such endpoint {self.path}"})
                return
            try:
                changes = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                behaviour = provider.handler.behaviour.updated(changes)
            except (ValueError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            provider.handler.set_behaviour(behaviour)
            self._reply(200, asdict(behaviour))

        def _reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the benchmark polls this API

    return ControlHandler
