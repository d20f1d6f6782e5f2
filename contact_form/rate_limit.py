"""One contact email per visitor per RATE_LIMIT_S seconds, keyed by client IP, kept in Redis.

Redis, not the web process's memory, so the limit holds across gunicorn workers and across
servers. `SET key NX PX window` claims the window atomically: of two requests racing from the
same visitor, exactly one wins. The Flask apps use `RateLimit`, the Quart app its awaitable
twin `AsyncRateLimit`; both answer with the same numbers.
"""

from __future__ import annotations

import logging
import math

import redis
import redis.asyncio

logger = logging.getLogger(__name__)


def _key(visitor: str) -> str:
    return f"contact-rate:{visitor}"


def retry_after_header(wait_s: float) -> str:
    """Whole seconds for the Retry-After header, never 0 while the visitor must still wait."""
    return str(max(1, math.ceil(wait_s)))


class RateLimit:
    def __init__(self, client: redis.Redis | None, window_s: float) -> None:
        self.client = client
        self.window_ms = int(window_s * 1000)

    def claim(self, visitor: str) -> float | None:
        """None if the visitor may send now (their window starts), else the seconds to wait."""
        if self.client is None or self.window_ms <= 0:
            return None
        try:
            if self.client.set(_key(visitor), 1, nx=True, px=self.window_ms):
                return None
            return max(self.client.pttl(_key(visitor)), 1) / 1000
        except redis.RedisError as exc:
            # The email matters more than the limit: let it through and say so in the log.
            logger.warning("rate limit not checked, Redis failed: %r", exc)
            return None

    def release(self, visitor: str) -> None:
        """The email was not sent after all: that attempt does not count against the visitor."""
        if self.client is None or self.window_ms <= 0:
            return
        try:
            self.client.delete(_key(visitor))
        except redis.RedisError as exc:
            logger.warning("rate limit not released, Redis failed: %r", exc)


class AsyncRateLimit:
    def __init__(self, client: redis.asyncio.Redis | None, window_s: float) -> None:
        self.client = client
        self.window_ms = int(window_s * 1000)

    async def claim(self, visitor: str) -> float | None:
        if self.client is None or self.window_ms <= 0:
            return None
        try:
            if await self.client.set(_key(visitor), 1, nx=True, px=self.window_ms):
                return None
            return max(await self.client.pttl(_key(visitor)), 1) / 1000
        except redis.RedisError as exc:
            logger.warning("rate limit not checked, Redis failed: %r", exc)
            return None

    async def release(self, visitor: str) -> None:
        if self.client is None or self.window_ms <= 0:
            return
        try:
            await self.client.delete(_key(visitor))
        except redis.RedisError as exc:
            logger.warning("rate limit not released, Redis failed: %r", exc)
