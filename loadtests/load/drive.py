"""Driving a load against a running stack: Locust or the threads generator, as a subprocess.

Both generators run the same `Load` (the journey of `journey.py`, the open-model homepage probe)
and write the same raw CSV plus a JSON of the window, so one analysis reads either. Runners call
`generate`; they never start a generator themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import pandas as pd
import psutil
import redis

from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT, Stack, with_free_ports
from loadtests.load.load_env import LoadConfig

GENERATORS = ("locust", "threads")


@dataclass(frozen=True)
class Load:
    """What a generator runs, in seconds from its start (t0).

    Visitors start spread evenly over `ramp_s` (0: all at once); the measured window opens at
    `warmup_s` and lasts `window_s`; afterwards no new request starts and the run ends once every
    request started in the window has returned (at most `drain_max_s` later). With `burst`, each
    of that many visitors opens the form, then all POST it at `warmup_s + 1` (the window opens a
    second before) and stop; the window closes one second after the last of those POSTs is
    answered (at most `window_s`). With `arrival_rate` (users "HomepageProbe" and
    "ArrivingVisitors"), visitors arrive as a Poisson process of that rate per second instead,
    each once: open arrivals, the same schedule for every app (seeded by `arrival_seed`).
    """

    users: tuple[str, ...]
    count: int
    _: KW_ONLY
    think_s: float = 1.0
    probe_rate: float = 5.0
    warmup_s: float = 0.0
    window_s: float = 10.0
    ramp_s: float = 0.0
    drain_max_s: float = 60.0
    burst: int = 0
    arrival_rate: float = 0.0
    arrival_seed: int = 1

    def env(self, raw_csv: Path) -> dict[str, str]:
        return LoadConfig(
            probe_rate=self.probe_rate,
            think_s=self.think_s,
            warmup_s=self.warmup_s,
            window_s=self.window_s,
            ramp_s=self.ramp_s,
            drain_max_s=self.drain_max_s,
            raw_csv=raw_csv,
            burst=self.burst,
            arrival_rate=self.arrival_rate,
            arrival_seed=self.arrival_seed,
        ).to_env()

    @property
    def time_limit_s(self) -> float:
        return self.warmup_s + self.window_s + self.drain_max_s + 60


def _locust_argv(url: str, load: Load) -> list[str]:
    # Locust spawns the fixed-count probe first, then the visitors at this rate.
    rate = load.count / load.ramp_s if load.ramp_s > 0 else 1000
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(PROJECT_ROOT / "loadtests" / "load" / "locustfile.py"),
        "--headless",
        "--host",
        url,
        "--users",
        str(load.count),
        "--spawn-rate",
        str(rate),
        "--only-summary",
        "--exit-code-on-error",
        "0",  # failed requests are data (counted in `errors`)
        "--loglevel",
        "WARNING",
        *load.users,
    ]


OPEN_USERS = ("HomepageProbe", "ArrivingVisitors")


def _threads_argv(url: str, load: Load) -> list[str]:
    if load.burst or load.users not in (("HomepageProbe", "Visitor"), OPEN_USERS):
        raise ValueError("the threads generator runs the sustained journey or open arrivals")
    visitors = "0" if load.users == OPEN_USERS else str(load.count - 1)
    return [
        sys.executable,
        "-m",
        "loadtests.load.threads_journey",
        "--host",
        url,
        "--visitors",
        visitors,
    ]


def generate(generator: str, url: str, load: Load, raw_csv: Path, log: Path) -> dict[str, object]:
    """Run one generator against `url` until its window has drained; return the window's
    metadata (the JSON it wrote beside `raw_csv`)."""
    argv = (_locust_argv if generator == "locust" else _threads_argv)(url, load)
    env = {**os.environ, **load.env(raw_csv)}
    raw_csv.unlink(missing_ok=True)
    with log.open("w") as out:
        finished = subprocess.run(
            argv,
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=load.time_limit_s,
            check=False,
        )
    if finished.returncode != 0 or not raw_csv.exists():
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(
            f"{generator} failed (exit {finished.returncode}); its log ends:\n{tail}"
        )
    meta = json.loads(raw_csv.with_suffix(".json").read_text())
    meta["generator"] = generator
    return meta


def wait_for_emails(
    stack: Stack,
    refs: set[tuple[int, int]],
    bound_s: float,
    ref_of: Callable[[str], tuple[int, int] | None],
) -> float:
    """Wait until every accepted email (`ref_of` a raw email gives its (visitor, sequence)) has
    reached the provider, or `bound_s` has passed; return the moment the wait ended (emails
    still queued then are censored at it)."""
    deadline = time.time() + bound_s
    while refs and time.time() < deadline:
        arrived = {ref_of(str(d["raw"])) for d in stack.provider.deliveries()}
        if refs <= arrived:
            break
        time.sleep(1.0)
    return time.time()


def bench_settings(base: Settings, **changes: object) -> Settings:
    """A benchmark stack's settings: free ports, no rate limits (every simulated visitor comes
    from 127.0.0.1, so a limit would refuse all but one), its own data folder."""
    unlimited = {"rate_limit_s": 0.0, "prices_rate_limit_s": 0.0, "report_rate_limit_s": 0.0}
    return with_free_ports(base.replace(**{**unlimited, "data_dir": "var/bench", **changes}))


def warm_up(url: str, rounds: int = 10) -> float:
    """Request each page a few times, so nothing measured pays a first-request cost; return the
    idle homepage's median time in seconds (what a cheap request costs this web tier)."""
    times = []
    for _ in range(rounds):
        for path in ("/", "/contact"):
            began = time.perf_counter()
            with urllib.request.urlopen(f"{url}{path}", timeout=10) as response:
                response.read()
            if path == "/":
                times.append(time.perf_counter() - began)
    return sorted(times)[len(times) // 2]


class BacklogSampler(threading.Thread):
    """Samples the Celery queue (waiting + taken but unacknowledged) while a point runs."""

    def __init__(self, redis_url: str, period_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2)
        self.period_s = period_s
        self.samples: list[tuple[float, int, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.period_s):
            try:
                pipe = self.client.pipeline()
                pipe.llen("celery")
                pipe.hlen("unacked")
                queued, unacked = pipe.execute()
            except redis.RedisError:
                continue
            self.samples.append((time.time(), queued, unacked))

    def stop(self) -> pd.DataFrame:
        self.done.set()
        self.join()
        return pd.DataFrame(self.samples, columns=["time", "queued", "unacked"])


def queue_empty(stack: Stack) -> bool:
    if not stack.has_queue:
        return True
    try:
        client = redis.Redis.from_url(stack.settings.effective_redis_url, socket_timeout=2)
        return client.llen("celery") == 0 and client.hlen("unacked") == 0
    except redis.RedisError:
        return False


def wait_for_drain(stack: Stack, quiet_s: float = 2.0, timeout_s: float = 90.0) -> float:
    """Seconds until nothing is queued (Celery's queue in Redis), in flight at the provider, or
    still arriving there (nothing new for `quiet_s`); NaN if that takes over `timeout_s`. An
    in-process queue (the shortcut's) is seen only through what keeps arriving."""
    started = time.monotonic()
    last, steady_since = -1, time.monotonic()
    while time.monotonic() - started < timeout_s:
        stats = stack.provider.stats()
        if stats["delivered"] != last:
            last, steady_since = stats["delivered"], time.monotonic()
        idle = stats["in_flight"] == 0 and queue_empty(stack)
        if idle and time.monotonic() - steady_since > quiet_s:
            return time.monotonic() - started
        time.sleep(0.2)
    return float("nan")


def memory_measure() -> str:
    """What `memory_mb` sums: "PSS" where the system reports it (Linux), else "RSS"."""
    return "PSS" if hasattr(psutil.Process().memory_full_info(), "pss") else "RSS"


def memory_mb(stack: Stack, measure: str | None = None) -> dict[str, float]:
    """Memory of each part of the stack, its children (gunicorn, the Celery pool) included, as
    `memory_measure()`. A prefork pool's children share most of their pages with the parent:
    the proportional set size (PSS) counts a page shared by k processes 1/k in each, so the sum
    is what the family costs; resident sets (RSS, macOS) count it in every one of them.
    `measure="RSS"` asks for resident sets everywhere."""
    usage = {}
    pss = (measure or memory_measure()) == "PSS"
    for name, managed in stack.processes.items():
        if managed.pid is None:
            continue
        try:
            leader = psutil.Process(managed.pid)
            family = [leader, *leader.children(recursive=True)]
            sizes = [p.memory_full_info().pss if pss else p.memory_info().rss for p in family]
            usage[name] = sum(sizes) / 2**20
        except psutil.Error:
            usage[name] = float("nan")
    return usage
