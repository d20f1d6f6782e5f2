"""ProviderClient: what tests, benchmarks and the stack runner ask a slow provider over HTTP.

The email provider's control API and the rates API's share their endpoints (/behaviour, /stats,
/reset); /deliveries and /attempts are the email provider's, /calls the rates API's.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request


class ProviderClient:
    def __init__(self, control_url: str, timeout_s: float = 5.0) -> None:
        self.control_url = control_url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, path: str, body: dict[str, object] | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.control_url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return json.load(response)

    def is_up(self) -> bool:
        try:
            return self._call("/healthz") == {"status": "ok"}
        except (OSError, ValueError):
            return False

    def configure(self, **changes: object) -> dict[str, object]:
        """Change how the provider behaves (delay_s, mode, fail_next, ...), effective at once."""
        return self._call("/behaviour", changes)

    def behaviour(self) -> dict[str, object]:
        return self._call("/behaviour")

    def set_rates(self, **rates: object) -> dict[str, object]:
        """The rates API only: answer these rates from now on (until /reset)."""
        return self._call("/rates", rates)

    def stats(self) -> dict[str, int]:
        """delivered, distinct_message_ids, attempts, failed_attempts, in_flight."""
        return self._call("/stats")

    def deliveries(self) -> list[dict[str, object]]:
        return self._call("/deliveries")

    def attempts(self) -> list[dict[str, object]]:
        return self._call("/attempts")

    def calls(self) -> list[dict[str, object]]:
        """The rates API's answered calls: started, finished, status, symbol."""
        return self._call("/calls")

    def reset(self) -> None:
        self._call("/reset", {})

    def wait_for(self, key: str, at_least: int, timeout_s: float) -> dict[str, int]:
        """Poll stats until stats[key] >= at_least; the last stats either way."""
        deadline = time.monotonic() + timeout_s
        while True:
            stats = self.stats()
            if stats[key] >= at_least or time.monotonic() > deadline:
                return stats
            time.sleep(0.05)
