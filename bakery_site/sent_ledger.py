"""Which contact emails are being sent or were sent, kept in Redis: one email leaves at most once.

Each email's Message-ID comes from its form (`ContactForm.send_key`), so a second press of send,
a resend after a page that could not confirm, or a Celery task that runs twice all name the same
email. Before sending, a sender claims the Message-ID in one atomic step; a second sender finds
it "busy", "sent" or "unsure" and sends nothing. The claim expires after `hold_s`, so a sender
that dies mid-send does not keep the email from a later one. The Flask apps and the Celery
worker use `SentLedger`, the Quart app its awaitable twin `AsyncSentLedger`.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
import redis
import redis.asyncio

from bakery_site.rate_limit import RELEASE_OWN_CLAIM
from contact_email.delivery import (
    Unconfirmed,
    describe_failure,
    failure_status,
    send_email,
    send_email_async,
)
from lab_settings import Settings

logger = logging.getLogger(__name__)

CLAIMED, SENT, BUSY, NOT_SENT = "claimed", "sent", "busy", "not sent"
# The send failed after the message began to go out: the provider may deliver it, so it counts
# as sent. A resend then sends nothing: at worst the email is lost, never sent twice.
UNSURE = "unsure"
KEEP_S = 7 * 24 * 3600

# Claim for ARGV[1] unless someone else holds it (the same holder takes it over: a Celery task's
# own earlier run that died mid-send); else say who holds it.
CLAIM = """
local holder = redis.call("get", KEYS[1])
if not holder or holder == ARGV[1] then
    redis.call("set", KEYS[1], ARGV[1], "EX", ARGV[2])
    return "claimed"
end
if holder == "sent" or holder == "unsure" then
    return holder
end
return "busy"
"""


def send_hold_s(settings: Settings) -> float:
    """How long a claim holds: one send's whole deadline (SMTP_TIMEOUT_S), and a margin for
    recording what came of it."""
    return settings.smtp_timeout_s + 5


def _key(message_id: str) -> str:
    return f"sent-email:{message_id}"


def _hold(hold_s: float) -> int:
    return max(1, math.ceil(hold_s))


def _log_unchecked(message_id: str, exc: redis.RedisError) -> None:
    logger.warning("%s sent without the ledger (fails open), Redis failed: %r", message_id, exc)


class SentLedger:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE_OWN_CLAIM)

    def claim(self, message_id: str, token: str, hold_s: float, *, fails_open: bool = False) -> str:
        """ "claimed" (send it now), "sent" or "unsure" (it left, or may have), "busy".

        `fails_open`: if Redis fails, "claimed" (the web apps: the email matters more than the
        protection against sending it twice, lost only while Redis is down), else raise."""
        try:
            return self._claim(keys=[_key(message_id)], args=[token, _hold(hold_s)]).decode()
        except redis.RedisError as exc:
            if not fails_open:
                raise
            _log_unchecked(message_id, exc)
            return CLAIMED

    def mark(self, message_id: str, outcome: str = SENT) -> bool:
        """Record what came of the send; False if Redis failed. The email has gone or may have,
        so a failure here is logged, not raised: the claim expires and a resend would send."""
        try:
            self.client.set(_key(message_id), outcome, ex=KEEP_S)
        except redis.RedisError as exc:
            logger.error("%s (%s) not recorded, Redis failed: %r", message_id, outcome, exc)
            return False
        return True

    def release(self, message_id: str, token: str) -> None:
        """Nothing left: let the next try claim it (only if this sender's claim still holds)."""
        try:
            self._release(keys=[_key(message_id)], args=[token])
        except redis.RedisError as exc:
            logger.warning("%s not released, Redis failed: %r", message_id, exc)


class AsyncSentLedger:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE_OWN_CLAIM)

    async def claim(
        self, message_id: str, token: str, hold_s: float, *, fails_open: bool = False
    ) -> str:
        try:
            claim = await self._claim(keys=[_key(message_id)], args=[token, _hold(hold_s)])
        except redis.RedisError as exc:
            if not fails_open:
                raise
            _log_unchecked(message_id, exc)
            return CLAIMED
        return claim.decode()

    async def mark(self, message_id: str, outcome: str = SENT) -> bool:
        try:
            await self.client.set(_key(message_id), outcome, ex=KEEP_S)
        except redis.RedisError as exc:
            logger.error("%s (%s) not recorded, Redis failed: %r", message_id, outcome, exc)
            return False
        return True

    async def release(self, message_id: str, token: str) -> None:
        try:
            await self._release(keys=[_key(message_id)], args=[token])
        except redis.RedisError as exc:
            logger.warning("%s not released, Redis failed: %r", message_id, exc)


@dataclass(frozen=True)
class Outcome:
    """What the visitor is told of one press of send: SENT, UNSURE or NOT_SENT (may resend);
    `recognised`: whether a resend of the same form would be recognised and send nothing."""

    delivery: str
    reason: str = ""
    status: int = 200
    recognised: bool = True


EARLIER = {
    SENT: Outcome(SENT),
    UNSURE: Outcome(UNSURE, "it was sent once already and the provider did not confirm it", 202),
    BUSY: Outcome(UNSURE, "an earlier press of send is still sending it", 202),
}


def send_once(message: EmailMessage, settings: Settings, ledger: SentLedger) -> Outcome:
    """Send the email now, unless its form was sent before; blocks until the provider answers.
    If Redis fails, the ledger fails open, as the rate limit does."""
    message_id, sender = message["Message-ID"], secrets.token_hex(8)
    earlier = ledger.claim(message_id, sender, send_hold_s(settings), fails_open=True)
    if earlier != CLAIMED:
        return EARLIER[earlier]
    try:
        send_email(message, settings)
    except Unconfirmed as exc:
        return _unconfirmed(message_id, exc, recorded=ledger.mark(message_id, UNSURE))
    except OSError as exc:  # smtplib's errors are OSErrors
        ledger.release(message_id, sender)
        return _not_sent(message_id, exc)
    ledger.mark(message_id)
    return Outcome(SENT)


async def send_once_async(
    message: EmailMessage, settings: Settings, ledger: AsyncSentLedger
) -> Outcome:
    """`send_once`, awaiting the provider with the event loop free meanwhile."""
    message_id, sender = message["Message-ID"], secrets.token_hex(8)
    earlier = await ledger.claim(message_id, sender, send_hold_s(settings), fails_open=True)
    if earlier != CLAIMED:
        return EARLIER[earlier]
    try:
        await send_email_async(message, settings)
    except Unconfirmed as exc:
        return _unconfirmed(message_id, exc, recorded=await ledger.mark(message_id, UNSURE))
    except (OSError, aiosmtplib.SMTPException) as exc:
        await ledger.release(message_id, sender)
        return _not_sent(message_id, exc)
    await ledger.mark(message_id)
    return Outcome(SENT)


def _unconfirmed(message_id: str, exc: Unconfirmed, *, recorded: bool) -> Outcome:
    logger.warning("contact email %s may have left: %s", message_id, exc)
    return Outcome(UNSURE, str(exc), failure_status(exc), recognised=recorded)


def _not_sent(message_id: str, exc: Exception) -> Outcome:
    logger.warning("contact email %s not sent: %r", message_id, exc)
    return Outcome(NOT_SENT, describe_failure(exc), failure_status(exc))
