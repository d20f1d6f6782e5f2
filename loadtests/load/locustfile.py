"""The load: contact-form visitors plus an open-model homepage probe (and the burst).

Run by `loadtests.runners.bench` (headless, one Locust process per point) and by `make demo`
(web UI).
User classes:

- `Visitor`: the article's journey in a loop: GET /contact (read the CSRF token), POST it, follow
  the redirect to the thank-you page, think for LAB_THINK_S seconds on average.
- `HomepageProbe`: GET / every 1/LAB_PROBE_RATE seconds *on schedule*, each probe in its own
  greenlet, whether or not the earlier probes have returned: a stalled server cannot make the
  probe wait before asking (coordinated omission), so its stall shows up as latency.
- `BurstVisitor`: the article's picture: opens the form, then every one of them presses send at
  the same instant (one second into the window), once.
- `ArrivingVisitors`: open arrivals: visitors arrive as a Poisson process at LAB_ARRIVAL_RATE
  per second (seeded by LAB_ARRIVAL_SEED), each with a session of its own, make the journey
  once and leave; an arrival never waits for an earlier visitor's answer.

In a benchmark run (LAB_WINDOW_S set) every request is written to LAB_RAW_CSV, and a small JSON
next to it says when the measured window was and whether Locust's CPU warning fired. The run
ends by itself once every request started in the window has returned (or LAB_DRAIN_MAX_S passed).
`loadtests/load/threads_journey.py` runs the same load without Locust, for a second opinion.
"""

from __future__ import annotations

import itertools
import time

import gevent
import locust.runners
from gevent.pool import Group
from locust import FastHttpUser, between, constant, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.exception import StopUser

from loadtests.load.journey import contact_fields, csrf_token_from, poisson_arrivals
from loadtests.load.load_env import LoadConfig
from loadtests.load.recorder import Recorder

# Locust samples its own CPU every 10 s; a benchmark window is about that long, so sample often
# enough that a saturated load generator is noticed within the run.
locust.runners.CPU_MONITOR_INTERVAL = 1.0


CONFIG = LoadConfig.from_env()
RECORDER = Recorder(CONFIG)
USER_IDS = itertools.count(1)


@events.test_start.add_listener
def _start_clock(environment, **_kwargs) -> None:
    RECORDER.t0 = time.time()
    if CONFIG.window_s is not None:
        gevent.spawn(_end_run_when_drained, environment)


@events.cpu_warning.add_listener
def _note_cpu_warning(environment, cpu_usage, **_kwargs) -> None:
    RECORDER.cpu_warnings.append(round(cpu_usage, 1))


def _end_run_when_drained(environment) -> None:
    while time.time() < RECORDER.window_end:  # a burst's window can close early
        gevent.sleep(0.05)
    deadline = time.time() + CONFIG.drain_max_s
    while not RECORDER.window_drained() and time.time() < deadline:
        gevent.sleep(0.05)
    RECORDER.write({k: w for k, w in RECORDER.waiting.items() if w[0] < RECORDER.window_end})
    environment.runner.quit()


class LabUser(FastHttpUser):
    abstract = True
    # The sync app can hold a request for tens of seconds; that is the measurement, not an error.
    network_timeout = 180.0
    connection_timeout = 180.0

    def on_start(self) -> None:
        self.user_id = next(USER_IDS)

    def finish_if_window_over(self) -> None:
        if not RECORDER.measuring():
            # The window is over: stop making new requests and let the queue drain.
            while True:
                gevent.sleep(3600)

    def fetch(
        self,
        endpoint: str,
        path: str,
        expect: int,
        *,
        user: int | None = None,
        client: FastHttpSession | None = None,
        **kwargs: object,
    ) -> object | None:
        """One recorded request (by `client`, the user's own by default, for visitor `user`);
        the response if it had the expected status, else None."""
        method = kwargs.pop("method", "GET")
        client = client or self.client
        with (
            RECORDER.request(endpoint, user or self.user_id) as outcome,
            client.request(method, path, name=endpoint, catch_response=True, **kwargs) as response,
        ):
            outcome["status"] = response.status_code
            if response.status_code == expect:
                return response
            reason = getattr(response, "error", None) or f"HTTP {response.status_code}"
            outcome["error"] = str(reason)
            response.failure(f"expected {expect}: {reason}")
        return None

    def journey(self, user: int, sequence: int, client: FastHttpSession | None = None) -> bool:
        """Open the form, send it (message `sequence` of visitor `user`), read the thank-you
        page; an unexpected answer ends the journey there (it is recorded as an error).
        Whether the form was sent: a visitor's n-th POST carries its message n."""
        form = self.fetch("contact_form", "/contact", 200, user=user, client=client)
        if form is None:
            return False
        fields = {**contact_fields(user, sequence), "csrf_token": csrf_token_from(form.text)}
        posted = self.fetch(
            "contact_post",
            "/contact",
            302,
            user=user,
            client=client,
            method="POST",
            data=fields,
            allow_redirects=False,
        )
        if posted is not None:
            self.fetch("thanks", posted.headers["Location"], 200, user=user, client=client)
        return True


class Visitor(LabUser):
    """Opens the contact form, sends it, reads the thank-you page, thinks, and again."""

    # Spread around the mean, as people are: visitors who all pressed 'send' at the same moment
    # drift apart instead of queueing in lockstep forever.
    wait_time = between(0.5 * CONFIG.think_s, 1.5 * CONFIG.think_s)

    def on_start(self) -> None:
        super().on_start()
        self.sent = 0

    @task
    def contact_journey(self) -> None:
        self.finish_if_window_over()
        if self.journey(self.user_id, self.sent + 1):
            self.sent += 1


class ArrivingVisitors(LabUser):
    """Visitors who arrive on a Poisson schedule, whatever the site answers, each once."""

    fixed_count = 1
    wait_time = constant(0)

    @task
    def arrive_on_schedule(self) -> None:
        journeys = Group()
        until = CONFIG.warmup_s + (CONFIG.window_s or 0.0)
        for at in poisson_arrivals(CONFIG.arrival_rate, until, CONFIG.arrival_seed):
            due = RECORDER.t0 + at
            if due >= RECORDER.window_end:
                break
            gevent.sleep(max(0.0, due - time.time()))
            journeys.spawn(self.arrive, next(USER_IDS))
        journeys.join()
        raise StopUser()

    def arrive(self, user: int) -> None:
        """A new visitor: a browser session of its own (its cookies, its connections)."""
        client = FastHttpSession(
            base_url=self.host,
            request_event=self.environment.events.request,
            user=self,
            network_timeout=self.network_timeout,
            connection_timeout=self.connection_timeout,
        )
        self.journey(user, 1, client)


class HomepageProbe(LabUser):
    """GET / on a fixed schedule, each probe on its own greenlet: an open-model probe."""

    fixed_count = 1
    concurrency = 1000  # the client's connection pool must never hold a probe back
    wait_time = constant(0)

    @task
    def probe_on_schedule(self) -> None:
        probes = Group()
        interval = 1.0 / CONFIG.probe_rate
        for k in itertools.count():
            due = RECORDER.t0 + k * interval
            if due >= RECORDER.window_end:
                break
            gevent.sleep(max(0.0, due - time.time()))
            probes.spawn(self.fetch, "home", "/", 200)
        probes.join()
        raise StopUser()


class BurstVisitor(LabUser):
    """Opens the form, waits for the moment every visitor presses send, POSTs it once."""

    wait_time = constant(0)

    @task
    def press_send_with_the_others(self) -> None:
        form = self.fetch("contact_form", "/contact", 200)
        gevent.sleep(max(0.0, RECORDER.burst_at - time.time()))
        fields = {"csrf_token": csrf_token_from(form.text) if form is not None else ""}
        fields.update(contact_fields(self.user_id, 1))
        posted = self.fetch(
            "contact_post", "/contact", 302, method="POST", data=fields, allow_redirects=False
        )
        RECORDER.burst_post_answered()
        if posted is not None:
            self.fetch("thanks", posted.headers["Location"], 200)
        while True:  # once is the scenario
            gevent.sleep(3600)
