"""SlowRatesApi: a fake third-party exchange-rate API over real HTTP, slow and sometimes failing.

It stands in for any API you do not control (rates, weather, payments): use case 2. The same
`ProviderBehaviour` as the email provider sets its delay and failures, changed while it runs
through the same control endpoints (/behaviour, /stats, /reset) on its own port.
Run it alone with `python -m slow_provider.rates_api --port 8027 --delay 2`.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from slow_provider.behaviour import Fate, Faults, ProviderBehaviour
from slow_provider.control import ControlHandler

# Made-up rates: euros are worth this much of each currency. The point is the wait, not the data.
RATES_PER_EUR = {
    "USD": 1.0812,
    "GBP": 0.8567,
    "CHF": 0.9403,
    "JPY": 163.52,
    "SEK": 11.487,
    "DKK": 7.4601,
    "PLN": 4.3125,
    "CAD": 1.5104,
}
STATUS = {Fate.TRANSIENT: 503, Fate.OUTAGE: 503, Fate.PERMANENT: 403}  # 403: "key refused"


class CallLog:
    """Every API call: when it started and ended and what it answered (for tests and benches)."""

    def __init__(self) -> None:
        self._calls: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self.in_flight = 0

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def finished(self, started: float, status: int, symbol: str) -> None:
        call = {"started": started, "finished": time.time(), "status": status, "symbol": symbol}
        with self._lock:
            self.in_flight -= 1
            self._calls.append(call)

    def calls(self) -> list[dict[str, object]]:
        with self._lock:
            return list(self._calls)

    def stats(self) -> dict[str, int]:
        with self._lock:
            answered = sum(1 for call in self._calls if call["status"] == 200)
            return {
                "calls": len(self._calls) + self.in_flight,
                "answered": answered,
                "failed": len(self._calls) - answered,
                "in_flight": self.in_flight,
            }

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


class SlowRatesApi:
    """The API and its control endpoints on one port; `serve_forever()` runs it."""

    def __init__(self, host: str, port: int, behaviour: ProviderBehaviour) -> None:
        self.faults = Faults(behaviour)
        self.log = CallLog()
        # What it answers; POST /rates changes it (an API may send nonsense), /reset restores it.
        self.rates: dict[str, object] = dict(RATES_PER_EUR)
        self.closing = threading.Event()  # ends the calls that hang
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            self.server.server_close()

    def shutdown(self) -> None:
        self.closing.set()
        self.server.shutdown()

    def rate(self, symbol: str) -> tuple[int, dict[str, object]]:
        """Answer one call for EUR -> symbol, after the behaviour's delay: (status, body)."""
        if symbol not in RATES_PER_EUR:
            return 422, {"error": f"unknown currency {symbol!r}", "known": sorted(RATES_PER_EUR)}
        started = time.time()
        self.log.started()
        fate, delay = self.faults.decide()
        status = 200
        try:
            if fate is Fate.HANG:
                self.closing.wait()
                status = 0  # never answered
                return status, {}
            time.sleep(delay)
            if fate is not Fate.OK:
                status = STATUS[fate]
                return status, {"error": f"{fate.value} failure, try again later"}
            today = datetime.now(UTC).date().isoformat()
            return status, {"base": "EUR", "date": today, "rates": {symbol: self.rates[symbol]}}
        finally:
            self.log.finished(started, status, symbol)


def _handler(api: SlowRatesApi) -> type[BaseHTTPRequestHandler]:
    class RatesApiHandler(ControlHandler):
        protocol_version = "HTTP/1.1"
        faults = api.faults

        def routes(self) -> dict[str, Callable[[], object]]:
            return {"/stats": api.log.stats, "/calls": api.log.calls}

        def reset(self) -> object:
            api.log.clear()
            api.rates = dict(RATES_PER_EUR)
            return api.log.stats()

        def do_POST(self) -> None:
            if self.path != "/rates":
                super().do_POST()  # /behaviour, /reset
                return
            if self.refused(changes=True):
                return
            body = self.read_body()
            if body is None:
                return
            changes = json.loads(body or b"{}")  # NaN and Infinity allowed
            unknown = set(changes) - set(RATES_PER_EUR)
            if unknown:
                self.reply(400, {"error": f"unknown currencies {sorted(unknown)}"})
                return
            api.rates.update(changes)
            self.reply(200, api.rates)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/v1/rates":
                super().do_GET()  # the control endpoints
                return
            symbol = parse_qs(url.query).get("symbols", [""])[0].upper()
            status, body = api.rate(symbol)
            if status:
                self.reply(status, body, {"Retry-After": "1"} if status == 503 else None)

    return RatesApiHandler


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m slow_provider.rates_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8027)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds before answering")
    parser.add_argument("--transient-failure-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    behaviour = ProviderBehaviour(
        delay_s=args.delay, transient_failure_rate=args.transient_failure_rate, seed=args.seed
    )
    api = SlowRatesApi(args.host, args.port, behaviour)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return, so it must not run on the same thread.
        threading.Thread(target=api.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"slow rates API: http://{args.host}:{args.port}/v1/rates, delay {args.delay}s", flush=True
    )
    api.serve_forever()


if __name__ == "__main__":
    main()
