"""Handing an email to the provider over SMTP: blocking (sync, Celery) or awaited (async app).

Also the one place that decides which failures are worth retrying and how long to wait.
"""

from __future__ import annotations

import asyncio
import logging
import random
import smtplib
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from lab_settings import Settings

# SMTP_TIMEOUT_S is one deadline for the whole send. smtplib's and aiosmtplib's timeouts apply to
# each step (connect, every command, every read): a provider that trickles each reply would hold
# the sender for many timeouts, past the web worker's own and the Celery claim's.


class _DeadlineSocket(socket.socket):
    """A socket whose every read and write gets only what is left of one deadline."""

    deadline: float

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the provider took longer than SMTP_TIMEOUT_S in all")
        return left

    def recv_into(self, *args: Any) -> int:
        self.settimeout(self._left())
        return super().recv_into(*args)

    def recv(self, *args: Any) -> bytes:
        self.settimeout(self._left())
        return super().recv(*args)

    def sendall(self, *args: Any) -> None:
        self.settimeout(self._left())
        super().sendall(*args)


class Unconfirmed(OSError):
    """The send failed after the message began to go out (the DATA command was sent, and no
    reply refused it): the provider may have it, and may deliver it later."""


class _DeadlineSMTP(smtplib.SMTP):
    data_began = False

    def __init__(self, timeout_s: float) -> None:
        self.deadline = time.monotonic() + timeout_s
        super().__init__(timeout=timeout_s)  # connects in send_email, inside its watch

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        self.data_began = True
        return super().data(msg)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        connected = super()._get_socket(host, port, timeout)
        sock = _DeadlineSocket(fileno=connected.detach())
        sock.deadline = self.deadline
        return sock


# The envelope, not the headers, decides who gets an email. Both senders name it themselves,
# the site owner unless told otherwise, so no header (an injected Bcc: among them) adds anyone.


class _AsyncSMTP(aiosmtplib.SMTP):
    data_began = False

    async def data(self, message: str | bytes, /, **options: Any) -> aiosmtplib.SMTPResponse:
        self.data_began = True
        return await super().data(message, **options)


@contextmanager
def _unconfirmed_after_data(smtp: _DeadlineSMTP | _AsyncSMTP) -> Iterator[None]:
    """A failure without a refusal (a timeout, a dropped connection) once DATA was sent becomes
    Unconfirmed; before DATA, or any reply code, means the provider has nothing to deliver."""
    try:
        yield
    except (OSError, smtplib.SMTPException, aiosmtplib.SMTPException) as exc:
        if smtp.data_began and smtp_code(exc) is None:
            raise Unconfirmed(describe_failure(exc)) from exc
        raise


def send_email(message: EmailMessage, settings: Settings, to: str | None = None) -> None:
    """Blocks until the provider has accepted the message for `to` (the owner), or raises
    (Unconfirmed if the provider may have it all the same)."""
    smtp = _DeadlineSMTP(settings.smtp_timeout_s)
    with _unconfirmed_after_data(smtp):
        smtp.connect(settings.smtp_host, settings.smtp_port)
        with smtp:
            smtp.send_message(message, settings.site_email, [to or settings.owner_email])


async def send_email_async(
    message: EmailMessage, settings: Settings, to: str | None = None
) -> None:
    """Awaits the provider's acceptance for `to` (the owner), the loop free meanwhile, or raises
    (Unconfirmed if the provider may have it all the same)."""
    smtp = _AsyncSMTP(
        hostname=settings.smtp_host, port=settings.smtp_port, timeout=settings.smtp_timeout_s
    )
    with _unconfirmed_after_data(smtp):
        async with asyncio.timeout(settings.smtp_timeout_s), smtp:
            await smtp.send_message(
                message, sender=settings.site_email, recipients=[to or settings.owner_email]
            )


def send_unwatched(message: EmailMessage, settings: Settings, logger: logging.Logger) -> None:
    """The shortcut's send, on a thread of the web process: the visitor has already been told
    it worked, so a failure reaches nobody but the log (no retry, no record)."""
    try:
        send_email(message, settings)
    except (OSError, smtplib.SMTPException) as exc:
        logger.error("contact email %s lost: %r", message["Message-ID"], exc)


async def send_unwatched_async(
    message: EmailMessage, settings: Settings, logger: logging.Logger
) -> None:
    """`send_unwatched` as an asyncio task of the web process's event loop."""
    try:
        await send_email_async(message, settings)
    except (OSError, aiosmtplib.SMTPException) as exc:
        logger.error("contact email %s lost: %r", message["Message-ID"], exc)


def smtp_code(exc: BaseException) -> int | None:
    """The SMTP reply code behind a failure, if the provider answered with one."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return max(codes) if codes else None
    code = getattr(exc, "smtp_code", None) or getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def is_transient(exc: BaseException) -> bool:
    """Worth trying again later: a 4xx answer, a refused or dropped connection, a timeout.

    A 5xx answer is permanent: the same message will be refused again, so it is never retried.
    """
    code = smtp_code(exc)
    if code is not None:
        return 400 <= code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, aiosmtplib.SMTPException, OSError))


def retry_countdown(retries_done: int, base_s: float, jitter: bool = False) -> float:
    """Exponential backoff: base, 2x base, 4x base... (4, 8, 16, 32, 64 s for base 4).

    With jitter, a random delay up to that bound ("full jitter"), so that many tasks failing
    together do not all come back at the same instant.
    """
    bound = base_s * 2**retries_done
    return random.uniform(0, bound) if jitter else bound


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, Unconfirmed):
        return str(exc)
    code = smtp_code(exc)
    if code is not None:
        return f"the provider answered {code}"
    if timed_out(exc):
        return "the provider did not answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "the provider refused the connection"
    return f"the provider could not be reached ({type(exc).__name__})"


def failure_status(exc: BaseException) -> int:
    """The HTTP status that tells the visitor the provider failed: 504 for a timeout, else 502."""
    return 504 if timed_out(exc) else 502


def timed_out(exc: BaseException) -> bool:
    # smtplib reports a read timeout as SMTPServerDisconnected raised while handling it, and
    # Unconfirmed is raised while handling either.
    while exc is not None:
        if isinstance(exc, TimeoutError):
            return True
        exc = exc.__context__
    return False
