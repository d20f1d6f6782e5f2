"""`make soak`: the Celery app under steady visitors for minutes, with a provider slower than them.

The web app keeps answering while the queue grows by (arrival rate - sending rate); nothing is
lost; the memory of every process stays flat (the backlog lives in Redis, not in the web app or
the worker); and once the visitors stop, the queue drains. Writes `results/soak.csv` (one sample
every two seconds) and `results/soak.json` (the accounting).

    python -m loadtests.runners.soak                 # 3 minutes of load, then the drain
    python -m loadtests.runners.soak --minutes 10
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import redis

from contact_form.settings import Settings
from lab_stack.processes import sigterm_like_ctrl_c
from lab_stack.stack import PROJECT_ROOT, Stack, with_free_ports
from loadtests.analysis.results import (
    RESULTS_DIR,
    Point,
    message_ref,
    posts_with_messages,
    requests_frame,
)
from loadtests.load.drive import Load, generate, warm_up
from loadtests.publishing.records import machine_record, settings_record, write_table

SOAK_SETTINGS = {
    "provider_delay_s": 2.0,
    "celery_concurrency": 4,  # sends 4 / 2 s = 2 emails a second
    "rate_limit_s": 0.0,  # every Locust visitor comes from 127.0.0.1
    "prices_rate_limit_s": 0.0,
    "report_rate_limit_s": 0.0,
    "data_dir": "var/soak",
}
VISITORS = 3  # each sends about one form a second: ~3 a second arrive, 2 leave
PERIOD_S = 2.0


def memory_mb(stack: Stack) -> dict[str, float]:
    """Resident memory of each part of the stack, children (gunicorn, Celery pool) included."""
    usage = {}
    for name, managed in stack.processes.items():
        if managed.pid is None:
            continue
        try:
            leader = psutil.Process(managed.pid)
            family = [leader, *leader.children(recursive=True)]
            usage[name] = sum(p.memory_info().rss for p in family) / 2**20
        except psutil.Error:
            usage[name] = float("nan")
    return usage


class Sampler(threading.Thread):
    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.client = redis.Redis.from_url(stack.settings.effective_redis_url, socket_timeout=2)
        self.rows: list[dict[str, float]] = []
        self.done = threading.Event()
        self.started = time.time()

    def sample(self) -> dict[str, float]:
        stats = self.stack.provider.stats()
        row = {
            "t_s": time.time() - self.started,
            "queued": self.client.llen("celery") + self.client.hlen("unacked"),
            "delivered": stats["delivered"],
        }
        row.update({f"rss_{k}_mb": v for k, v in memory_mb(self.stack).items()})
        return row

    def run(self) -> None:
        while not self.done.wait(PERIOD_S):
            try:
                self.rows.append(self.sample())
            except (redis.RedisError, OSError):
                continue

    def stop(self) -> pd.DataFrame:
        self.done.set()
        self.join()
        return pd.DataFrame(self.rows)


def run(minutes: float, out: Path) -> dict[str, object]:
    started = time.time()
    settings = with_free_ports(Settings.from_env().replace(**SOAK_SETTINGS))
    point = Point("celery", VISITORS, settings.provider_delay_s, 1, 1, settings.celery_concurrency)
    scratch = PROJECT_ROOT / "var" / "soak"
    scratch.mkdir(parents=True, exist_ok=True)
    with Stack("celery", settings) as stack:
        warm_up(stack.url)
        sampler = Sampler(stack)
        sampler.start()
        print(f"load: {VISITORS} visitors for {minutes:g} minutes ...", flush=True)
        load = Load(("HomepageProbe", "Visitor"), VISITORS + 1, think_s=1.0, probe_rate=2.0,
                    window_s=minutes * 60, drain_max_s=30)  # fmt: skip
        meta = generate("locust", stack.url, load, scratch / "soak.csv", scratch / "soak.log")
        load_end = time.time() - sampler.started
        print("load stopped; waiting for the queue to drain ...", flush=True)
        deadline = time.monotonic() + 15 * 60
        while time.monotonic() < deadline:
            queue_empty = bool(sampler.rows) and sampler.rows[-1]["queued"] == 0
            if queue_empty and stack.provider.stats()["in_flight"] == 0:
                break
            time.sleep(PERIOD_S)
        drained_at = time.time() - sampler.started
        samples = sampler.stop()
        deliveries = stack.provider.deliveries()
    requests = requests_frame(scratch / "soak.csv", meta, point)
    posted = posts_with_messages(requests)
    accepted_refs = set(
        zip(posted[posted["ok"]]["user"], posted[posted["ok"]]["sequence"], strict=True)
    )
    arrived = [message_ref(str(d["raw"])) for d in deliveries]
    message_ids = [d["message_id"] for d in deliveries]
    home = requests[(requests["endpoint"] == "home") & requests["ok"]]
    loaded = samples[samples["t_s"] <= load_end]
    rss_columns = [c for c in samples.columns if c.startswith("rss_")]
    first, last = loaded.iloc[min(5, len(loaded) - 1)], loaded.iloc[-1]  # after 10 s of warm-up
    summary = {
        **machine_record(started, settings),
        "minutes_of_load": minutes,
        "visitors": VISITORS,
        "settings": settings_record(settings),
        "accepted": len(accepted_refs),
        "delivered": len(set(message_ids)),
        "lost": len(accepted_refs - {r for r in arrived if r}),
        "duplicates": len(message_ids) - len(set(message_ids)),
        "post_errors": int((~posted["ok"]).sum()),
        "max_backlog": int(samples["queued"].max()),
        "backlog_when_load_stopped": int(loaded["queued"].iloc[-1]),
        "drain_s": round(drained_at - load_end, 1),
        "homepage_p50_ms": round(float(home["latency_ms"].median()), 2),
        "homepage_max_ms": round(float(home["latency_ms"].max()), 2),
        "rss_mb_after_warmup": {c[4:-3]: round(float(first[c]), 1) for c in rss_columns},
        "rss_mb_when_load_stopped": {c[4:-3]: round(float(last[c]), 1) for c in rss_columns},
    }
    write_table(samples.assign(load=samples["t_s"] <= load_end), out, summary, float_format="%.2f")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.runners.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "soak.csv")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    sigterm_like_ctrl_c()
    try:
        s = run(args.minutes, args.out)
    except KeyboardInterrupt:
        print("\nSoak interrupted; its stack has been stopped.", file=sys.stderr)
        return 130
    print(
        f"accepted {s['accepted']}, delivered {s['delivered']}, lost {s['lost']}, duplicates "
        f"{s['duplicates']}; backlog peaked at {s['max_backlog']} and drained in "
        f"{s['drain_s']} s; homepage p50 {s['homepage_p50_ms']} ms during the load"
    )
    for name, before in s["rss_mb_after_warmup"].items():
        print(f"  {name:9} RSS {before:7.1f} MB -> {s['rss_mb_when_load_stopped'][name]:7.1f} MB")
    return 0 if s["lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
