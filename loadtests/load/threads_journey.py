"""A second load generator, without Locust: the same load on plain threads and `http.client`.

When a number is the headline, it is measured twice with different tools; agreement is evidence
that the number belongs to the app, not to the generator. This one shares nothing with Locust
(no gevent, no FastHttpUser, no spawning logic): each visitor is a thread running the journey of
`journey.py` (GET the form, POST it, follow the redirect, think 0.5-1.5 x LAB_THINK_S), started
evenly over LAB_RAMP_S; or, with LAB_ARRIVAL_RATE, visitors arrive as a Poisson process (the
schedule of `journey.poisson_arrivals`, seeded by LAB_ARRIVAL_SEED), each once, on a thread of its
own. The homepage probe sends GET / every 1/LAB_PROBE_RATE seconds on schedule, each on its own
thread. It reads the same LAB_* variables as the locustfile and
writes the same raw CSV and JSON, so the same analysis reads both.

    LAB_WINDOW_S=30 LAB_RAW_CSV=/tmp/run.csv python -m loadtests.load.threads_journey \\
        --host http://127.0.0.1:8000 --visitors 4
"""

from __future__ import annotations

import argparse
import http.client
import http.cookies
import itertools
import random
import threading
import time
import urllib.parse
from contextlib import contextmanager

from loadtests.load.journey import contact_fields, csrf_token_from, poisson_arrivals, write_raw
from loadtests.load.load_env import LoadConfig

TIMEOUT_S = 180.0  # the sync app can hold a request for tens of seconds: that is the measurement


class Run:
    """The schedule and the record of one run."""

    def __init__(self, host: str, visitors: int) -> None:
        parts = urllib.parse.urlsplit(host)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.visitors = visitors
        config = LoadConfig.from_env()
        if config.raw_csv is None or config.window_s is None:
            raise SystemExit("the threads generator needs LAB_RAW_CSV and LAB_WINDOW_S")
        self.probe_rate, self.think_s, self.ramp_s = (
            config.probe_rate,
            config.think_s,
            config.ramp_s,
        )
        self.arrival_rate, self.arrival_seed = config.arrival_rate, config.arrival_seed
        self.drain_max_s, self.raw_csv = config.drain_max_s, config.raw_csv
        self.t0 = time.time()
        self.window_start = self.t0 + config.warmup_s
        self.window_end = self.window_start + config.window_s
        self.lock = threading.Lock()
        self.rows: list[tuple[object, ...]] = []
        self.waiting: dict[int, tuple[float, str]] = {}  # key -> (start, endpoint)
        self.ids = itertools.count()

    @contextmanager
    def timed(self, endpoint: str, user: int):
        key, start, began = next(self.ids), time.time(), time.perf_counter()
        outcome: dict[str, object] = {"status": 0, "error": ""}
        with self.lock:
            self.waiting[key] = (start, endpoint)
        try:
            yield outcome
        except (OSError, http.client.HTTPException, ValueError) as error:
            outcome["error"] = f"{type(error).__name__}: {error}"
        finally:
            latency_ms = (time.perf_counter() - began) * 1000
            with self.lock:
                del self.waiting[key]
                self.rows.append(
                    (
                        endpoint,
                        user,
                        f"{start:.6f}",
                        f"{latency_ms:.3f}",
                        outcome["status"],
                        outcome["error"],
                    )
                )

    def fetch(
        self,
        endpoint: str,
        user: int,
        path: str,
        body: dict[str, str] | None = None,
        cookies: http.cookies.SimpleCookie | None = None,
    ) -> http.client.HTTPResponse | None:
        """One recorded request on a new connection (the gunicorn sync worker closes each),
        keeping the visitor's cookies (the form's CSRF token is tied to its session)."""
        headers = {}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
        with self.timed(endpoint, user) as outcome:
            connection = http.client.HTTPConnection(*self.address, timeout=TIMEOUT_S)
            try:
                if body is None:
                    connection.request("GET", path, headers=headers)
                else:
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                    data = urllib.parse.urlencode(body)
                    connection.request("POST", path, body=data, headers=headers)
                response = connection.getresponse()
                response.text = response.read().decode("utf-8", errors="replace")
            finally:
                connection.close()
            outcome["status"] = response.status
            if cookies is not None:
                for header in response.headers.get_all("Set-Cookie") or []:
                    cookies.load(header)
            return response
        return None

    def journey(self, user: int, sequence: int, cookies: http.cookies.SimpleCookie) -> bool:
        """Form, POST (message `sequence`), thank-you page; whether the form was sent."""
        form = self.fetch("contact_form", user, "/contact", cookies=cookies)
        if form is None or form.status != 200:
            return False
        fields = {**contact_fields(user, sequence), "csrf_token": csrf_token_from(form.text)}
        posted = self.fetch("contact_post", user, "/contact", fields, cookies)
        if posted is not None and posted.status == 302:
            location = urllib.parse.urlsplit(posted.getheader("Location", "/"))
            self.fetch("thanks", user, location.path or "/", cookies=cookies)
        return True

    def visitor(self, user: int, start_at: float) -> None:
        time.sleep(max(0.0, start_at - time.time()))
        rng, sent, cookies = random.Random(user), 0, http.cookies.SimpleCookie()
        while time.time() < self.window_end:
            if self.journey(user, sent + 1, cookies):
                sent += 1
            time.sleep(self.think_s * rng.uniform(0.5, 1.5))

    def arrivals(self, first_user: int) -> None:
        until = self.window_end - self.t0
        for user, at in enumerate(poisson_arrivals(self.arrival_rate, until, self.arrival_seed)):
            time.sleep(max(0.0, self.t0 + at - time.time()))
            cookies = http.cookies.SimpleCookie()  # a new visitor, a session of its own
            threading.Thread(
                target=self.journey, args=(first_user + user, 1, cookies), daemon=True
            ).start()

    def probe(self) -> None:
        for k in itertools.count():
            due = self.t0 + k / self.probe_rate
            if due >= self.window_end:
                return
            time.sleep(max(0.0, due - time.time()))
            threading.Thread(target=self.fetch, args=("home", 0, "/"), daemon=True).start()

    def run(self) -> None:
        threads = [threading.Thread(target=self.probe, daemon=True)]
        if self.arrival_rate > 0:
            threads.append(
                threading.Thread(target=self.arrivals, args=(self.visitors + 1,), daemon=True)
            )
        for v in range(self.visitors):
            start_at = self.t0 + (v + 1) * self.ramp_s / (self.visitors + 1)
            threads.append(
                threading.Thread(target=self.visitor, args=(v + 1, start_at), daemon=True)
            )
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, self.window_end - time.time()))
        deadline = time.time() + self.drain_max_s
        while time.time() < deadline:
            with self.lock:
                if not any(s < self.window_end for s, _ in self.waiting.values()):
                    break
            time.sleep(0.05)
        self.write()

    def write(self) -> None:
        with self.lock:
            rows = list(self.rows)
            still = [w for w in self.waiting.values() if w[0] < self.window_end]
        meta = {
            "t0": self.t0,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "still_waiting": len(still),
            "burst": 0,
            "burst_at": None,
            "burst_drained_at": None,
            "cpu_warnings": [],
        }
        write_raw(self.raw_csv, rows, still, meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.load.threads_journey")
    parser.add_argument("--host", required=True, help="the app's base URL")
    parser.add_argument(
        "--visitors", type=int, required=True, help="looping visitors (0 with LAB_ARRIVAL_RATE)"
    )
    args = parser.parse_args(argv)
    Run(args.host, args.visitors).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
