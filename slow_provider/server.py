"""SlowSmtpProvider: a real SMTP server that behaves like a slow, sometimes failing email provider.

It stands in for Gmail, SendGrid or Mailgun: the apps talk real SMTP to it. How slow and how
unreliable it is can be changed while it runs, through a small HTTP control API on loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from slow_provider.behaviour import Fate, Faults, ProviderBehaviour
from slow_provider.control import ControlHandler
from slow_provider.log import DeliveryLog

REPLIES = {
    Fate.TRANSIENT: "451 4.3.0 Temporary failure, try again later",
    Fate.PERMANENT: "554 5.7.1 Message rejected",
    Fate.OUTAGE: "451 4.3.2 Provider unavailable, try again later",
}

# The header the lab's apps stamp on each email with the moment they accepted the form; a
# provider records it beside its own arrival time, so the lab can time every email end to end.
# (A stand-in for a third party imports nothing from the lab: the name is agreed, not shared.)
SUBMITTED_AT_HEADER = "X-Submitted-At"


class SlowSmtpHandler:
    """aiosmtpd handler: waits, maybe fails, and records what it accepted."""

    def __init__(self, faults: Faults, log: DeliveryLog) -> None:
        self.faults = faults
        self.log = log
        self.in_flight = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        started = time.time()
        fate, delay = self.faults.decide()
        answer = asyncio.ensure_future(self._answer(envelope, started, fate, delay))
        if self.faults.behaviour.finish_after_client_leaves and fate is not Fate.HANG:
            return await asyncio.shield(answer)  # aiosmtpd cancels this when the client leaves
        return await answer

    async def _answer(self, envelope: Envelope, started: float, fate: Fate, delay: float) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        message_id = message.get("Message-ID")
        self.in_flight += 1
        try:
            if fate is Fate.HANG:
                await asyncio.Event().wait()  # never set: the client must time out
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self.log.record_attempt(message_id, started, time.time(), "dropped")
            raise
        finally:
            self.in_flight -= 1
        finished = time.time()
        if fate is not Fate.OK:
            reply = REPLIES[fate]
            self.log.record_attempt(message_id, started, finished, reply[:3])
            return reply
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
        self.faults = Faults(behaviour)
        self.log = DeliveryLog(db_path)
        self.handler = SlowSmtpHandler(self.faults, self.log)
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
    class SmtpProviderControl(ControlHandler):
        faults = provider.faults

        def routes(self) -> dict[str, Callable[[], object]]:
            return {
                "/stats": provider.status,
                "/deliveries": lambda: provider.log.deliveries(include_raw=True),
                "/attempts": provider.log.attempts,
            }

        def reset(self) -> object:
            provider.log.clear()
            return provider.status()

    return SmtpProviderControl
