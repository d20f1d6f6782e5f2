"""The slow fake rates API, asked through the apps' own client (price_lookup)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from lab_settings import Settings
from lab_stack.processes import free_port
from price_lookup import RateLookupError, fetch_rate, fetch_rate_async, price_rows
from slow_provider.behaviour import ProviderBehaviour
from slow_provider.client import ProviderClient
from slow_provider.rates_api import RATES_PER_EUR, SlowRatesApi


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[Settings, ProviderClient]]:
    port = free_port()
    server = SlowRatesApi("127.0.0.1", port, ProviderBehaviour(delay_s=0.2))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = Settings().replace(rates_api_port=port, rates_api_timeout_s=1.0)
    control = ProviderClient(settings.rates_api_url)
    yield settings, control
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def rates(api: tuple[Settings, ProviderClient]) -> tuple[Settings, ProviderClient]:
    settings, control = api
    control.configure(delay_s=0.2, mode="normal", fail_next=0, permanent_failure_rate=0.0)
    control.reset()
    return settings, control


def test_the_rate_arrives_after_the_delay(rates):
    settings, control = rates
    started = time.monotonic()

    quote = fetch_rate(settings, "USD")

    assert time.monotonic() - started >= 0.2
    assert str(quote.rate) == str(RATES_PER_EUR["USD"])
    assert quote.currency == "USD"
    assert control.stats() == {"calls": 1, "answered": 1, "failed": 0, "in_flight": 0}


def test_the_async_client_gets_the_same_answer(rates):
    settings, _ = rates
    assert asyncio.run(fetch_rate_async(settings, "JPY")) == fetch_rate(settings, "JPY")


def test_calls_wait_side_by_side_not_one_after_another(rates):
    settings, control = rates
    # Long enough that no busy machine takes this long to start the four calls.
    control.configure(delay_s=1.0)
    settings = settings.replace(rates_api_timeout_s=5.0)

    async def four_at_once() -> None:
        await asyncio.gather(*(fetch_rate_async(settings, "GBP") for _ in range(4)))

    asyncio.run(four_at_once())
    calls = control.calls()

    # A real service answers callers concurrently: every call started before any ended.
    assert len(calls) == 4 and all(call["status"] == 200 for call in calls)
    assert max(call["started"] for call in calls) < min(call["finished"] for call in calls)


def test_a_transient_failure_is_a_503_worth_retrying(rates):
    settings, control = rates
    control.configure(fail_next=1)

    answer = httpx.get(f"{settings.rates_api_url}/v1/rates", params={"symbols": "USD"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    control.configure(fail_next=1)
    with pytest.raises(RateLookupError) as failure:
        fetch_rate(settings, "USD")
    assert failure.value.transient
    assert failure.value.status == 502
    assert fetch_rate(settings, "USD").currency == "USD"  # the next call is answered


def test_a_permanent_failure_is_not_worth_retrying(rates):
    settings, control = rates
    control.configure(permanent_failure_rate=1.0)

    with pytest.raises(RateLookupError) as failure:
        fetch_rate(settings, "USD")

    assert not failure.value.transient
    assert failure.value.reason == "the exchange-rate service answered 403"


def test_a_hanging_service_times_out_with_504(rates):
    settings, control = rates
    control.configure(mode="hang")

    with pytest.raises(RateLookupError) as failure:
        asyncio.run(fetch_rate_async(settings, "USD"))

    assert failure.value.timed_out and failure.value.transient
    assert failure.value.status == 504
    assert control.stats()["in_flight"] == 1


def test_an_unknown_currency_is_refused_at_once(rates):
    settings, _ = rates

    answer = httpx.get(f"{settings.rates_api_url}/v1/rates", params={"symbols": "XXX"})

    assert answer.status_code == 422
    assert "USD" in answer.json()["known"]
    with pytest.raises(RateLookupError) as failure:
        fetch_rate(settings, "XXX")
    assert not failure.value.transient


def test_the_control_api_refuses_unknown_settings(rates):
    settings, _ = rates
    answer = httpx.post(f"{settings.rates_api_url}/behaviour", json={"speed": "fast"})
    assert answer.status_code == 400
    assert "speed" in answer.json()["error"]


def test_prices_are_converted_and_rounded_per_currency(rates):
    settings, _ = rates
    yen = price_rows(fetch_rate(settings, "JPY"))
    dollars = price_rows(fetch_rate(settings, "USD"))

    assert yen[0] == {"loaf": "Country sourdough", "eur": "6.40", "local": "1,047"}  # 6.40 x 163.52
    assert dollars[4] == {"loaf": "Baguette tradition", "eur": "1.50", "local": "1.62"}  # x 1.0812


def test_the_control_endpoints_refuse_what_another_site_could_send(rates):
    """Both fakes share these endpoints: a page elsewhere must not switch them to an outage or
    read the mail they logged, by a simple cross-site POST or under a rebound DNS name."""
    settings, control = rates
    url = settings.rates_api_url
    outage = '{"mode": "outage"}'

    cross_site = httpx.post(
        f"{url}/behaviour",
        content=outage,
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
    )
    not_json = httpx.post(
        f"{url}/behaviour", content=outage, headers={"Content-Type": "text/plain"}
    )
    rebound = httpx.get(f"{url}/calls", headers={"Host": "rebind.evil.example:8027"})
    json_from_elsewhere = httpx.post(
        f"{url}/reset", json={}, headers={"Origin": "http://evil.example"}
    )

    assert [r.status_code for r in (cross_site, not_json, rebound, json_from_elsewhere)] == [
        403
    ] * 4
    assert control.behaviour()["mode"] == "normal"
    # The rates API itself answers whoever calls it, under any name (compose calls it rates-api).
    quote = httpx.get(f"{url}/v1/rates", params={"symbols": "USD"}, headers={"Host": "rates-api"})
    assert quote.status_code == 200


@pytest.mark.parametrize("length", ["-1", "abc", "99999999999"])
@pytest.mark.parametrize("path", ["/behaviour", "/rates"])
def test_a_control_request_with_a_bad_content_length_is_answered_not_left_hanging(
    rates, path, length
):
    """A negative length would read until the client hangs up (the handler thread held for
    good), a huge one fill memory: 400 at once, and the connection closed."""
    settings, control = rates
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n{{}}"
    ).encode()
    with socket.create_connection(("127.0.0.1", settings.rates_api_port), timeout=5) as client:
        client.sendall(request)
        answer = client.recv(4096)

    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert control.behaviour()["mode"] == "normal"
