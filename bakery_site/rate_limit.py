"""One action per visitor per window (a contact email every RATE_LIMIT_S seconds, a price
lookup, a report), keyed by the action and the client IP, kept in Redis.

Redis, not the web process's memory, so the limit holds across gunicorn workers and across
servers. `SET key NX PX window` claims the window atomically: of two requests racing from the
same visitor, exactly one wins. The Flask apps use `RateLimit`, the Quart app its awaitable
twin `AsyncRateLimit`; both answer with the same numbers.

Each claim holds a random token, and a release deletes the key only while it still holds that
token: a send that failed after its window ran out must not wipe the visitor's next claim.
When Redis is down the limit fails open: the email matters more than the limit, and the
visitor's form is not lost to a store that only counts. The log says so on every request.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass

import redis
import redis.asyncio

logger = logging.getLogger(__name__)

# Compare-and-delete in one step: GET then DEL from Python would race with a new claim.
RELEASE_OWN_CLAIM = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Claim:
    """A visitor's turn: granted (`wait_s` None, `token` what to release) or refused."""

    visitor: str
    token: str | None = None
    wait_s: float | None = None

    @property
    def refused(self) -> bool:
        return self.wait_s is not None


def _key(name: str, visitor: str) -> str:
    return f"{name}-rate:{visitor}"


def retry_after_header(wait_s: float) -> str:
    """Whole seconds for the Retry-After header, never 0 while the visitor must still wait."""
    return str(max(1, math.ceil(wait_s)))


class RateLimit:
    def __init__(self, client: redis.Redis | None, window_s: float, name: str = "contact") -> None:
        self.client = client
        self.window_ms = int(window_s * 1000)
        self.name = name
        self._release = client.register_script(RELEASE_OWN_CLAIM) if client else None

    def claim(self, visitor: str) -> Claim:
        """The visitor's turn to send now, or a refusal that says how long to wait."""
        if self.client is None or self.window_ms <= 0:
            return Claim(visitor)
        token = secrets.token_hex(8)
        try:
            key = _key(self.name, visitor)
            if self.client.set(key, token, nx=True, px=self.window_ms):
                return Claim(visitor, token)
            return Claim(visitor, wait_s=max(self.client.pttl(key), 1) / 1000)
        except redis.RedisError as exc:
            logger.warning("rate limit not checked (fails open), Redis failed: %r", exc)
            return Claim(visitor)

    def release(self, claim: Claim) -> None:
        """The email was not sent after all: that attempt does not count against the visitor."""
        if self._release is None or claim.token is None:
            return
        try:
            self._release(keys=[_key(self.name, claim.visitor)], args=[claim.token])
        except redis.RedisError as exc:
            logger.warning("rate limit not released, Redis failed: %r", exc)


class AsyncRateLimit:
    def __init__(
        self, client: redis.asyncio.Redis | None, window_s: float, name: str = "contact"
    ) -> None:
        self.client = client
        self.window_ms = int(window_s * 1000)
        self.name = name
        self._release = client.register_script(RELEASE_OWN_CLAIM) if client else None

    async def claim(self, visitor: str) -> Claim:
        if self.client is None or self.window_ms <= 0:
            return Claim(visitor)
        token = secrets.token_hex(8)
        try:
            key = _key(self.name, visitor)
            if await self.client.set(key, token, nx=True, px=self.window_ms):
                return Claim(visitor, token)
            return Claim(visitor, wait_s=max(await self.client.pttl(key), 1) / 1000)
        except redis.RedisError as exc:
            logger.warning("rate limit not checked (fails open), Redis failed: %r", exc)
            return Claim(visitor)

    async def release(self, claim: Claim) -> None:
        if self._release is None or claim.token is None:
            return
        try:
            await self._release(keys=[_key(self.name, claim.visitor)], args=[claim.token])
        except redis.RedisError as exc:
            logger.warning("rate limit not released, Redis failed: %r", exc)
