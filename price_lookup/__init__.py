"""Use case 2, a third-party API: the bakery's prices in the visitor's currency.

The rate comes from an exchange-rate service the shop does not control (the lab's slow fake,
`slow_provider.rates_api`). Asking it is the same in all three apps; only who waits differs:
`fetch_rate` blocks (the sync app and the Celery task), `fetch_rate_async` awaits (async app).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import httpx

from bakery_site.catalogue import PRICES_EUR
from lab_settings import Settings

NO_MINOR_UNIT = {"JPY"}
# A rate outside these bounds is the service's mistake, not a price to show: no currency trades
# at less than a ten-thousandth of a euro or more than a million units to it.
PLAUSIBLE_RATES = (Decimal("0.0001"), Decimal("1000000"))


@dataclass(frozen=True)
class RateQuote:
    """How many units of `currency` one euro buys, as the rate service said on `date`."""

    currency: str
    rate: Decimal
    date: str


class RateLookupError(Exception):
    """The rate service failed; `transient` says whether asking again later may work."""

    def __init__(self, reason: str, *, transient: bool, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.timed_out = timed_out

    @property
    def status(self) -> int:
        """The HTTP status that tells the visitor: 504 for a timeout, else 502."""
        return 504 if self.timed_out else 502


def fetch_rate(settings: Settings, currency: str) -> RateQuote:
    """Blocks until the rate service answers, or raises RateLookupError."""
    try:
        response = httpx.get(
            f"{settings.rates_api_url}/v1/rates",
            params={"base": "EUR", "symbols": currency},
            timeout=settings.rates_api_timeout_s,
        )
    except httpx.HTTPError as exc:
        raise _lookup_error(exc) from exc
    return _quote_from(response, currency)


async def fetch_rate_async(settings: Settings, currency: str) -> RateQuote:
    """Awaits the rate service's answer without blocking the event loop, or raises."""
    try:
        async with httpx.AsyncClient(timeout=settings.rates_api_timeout_s) as client:
            response = await client.get(
                f"{settings.rates_api_url}/v1/rates", params={"base": "EUR", "symbols": currency}
            )
    except httpx.HTTPError as exc:
        raise _lookup_error(exc) from exc
    return _quote_from(response, currency)


def _lookup_error(exc: httpx.HTTPError) -> RateLookupError:
    if isinstance(exc, httpx.TimeoutException):
        return RateLookupError(
            "the exchange-rate service did not answer in time", transient=True, timed_out=True
        )
    return RateLookupError(
        f"the exchange-rate service could not be reached ({type(exc).__name__})", transient=True
    )


def _quote_from(response: httpx.Response, currency: str) -> RateQuote:
    if response.status_code != 200:
        # 429 and 5xx may pass; any other answer will be the same next time.
        transient = response.status_code == 429 or response.status_code >= 500
        raise RateLookupError(
            f"the exchange-rate service answered {response.status_code}", transient=transient
        )
    try:
        body = response.json()
        rate = Decimal(str(body["rates"][currency]))
        day = date.fromisoformat(str(body["date"])).isoformat()
    except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
        raise RateLookupError(
            "the exchange-rate service sent an answer we could not read", transient=False
        ) from exc
    low, high = PLAUSIBLE_RATES
    if not (rate.is_finite() and low <= rate <= high):
        raise RateLookupError(
            f"the exchange-rate service sent a rate we cannot use ({rate})", transient=False
        )
    return RateQuote(currency, rate, day)


def price_rows(quote: RateQuote) -> list[dict[str, str]]:
    """Each loaf's price in euros and in the quoted currency, ready to show."""
    unit = Decimal("1") if quote.currency in NO_MINOR_UNIT else Decimal("0.01")
    return [
        {
            "loaf": loaf,
            "eur": f"{eur:.2f}",
            "local": f"{(eur * quote.rate).quantize(unit, rounding=ROUND_HALF_UP):,}",
        }
        for loaf, eur in PRICES_EUR.items()
    ]
