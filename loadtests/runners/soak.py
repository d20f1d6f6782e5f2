"""`make soak`: a hand-off that answers before the email is sent, under steady visitors for
minutes, with a provider slower than them.

With a queue (the Celery app) the web app keeps answering while the queue grows by (arrival rate
- sending rate); nothing is lost; the memory of every process stays flat (the backlog lives in
Redis, not in the web app or the worker). When the visitors stop, the web server is restarted the
way a deploy does it (SIGTERM, then a new one), and the queue drains. An in-process shortcut
meets the same load with its backlog in the web process's memory, and the restart decides its
fate. Writes `results/soak.csv` (one sample every two seconds) and `results/soak.json` (the
accounting) for the default, `results/soak-<hand-off>.*` for the others.

    python -m loadtests.runners.soak                 # 2 minutes of load, a restart, the drain
    python -m loadtests.runners.soak --app NAME      # another hand-off (`--help` lists them)
    python -m loadtests.runners.soak --every         # each of them in turn (`make soak`)
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import redis

from lab_hand_offs import hand_off, names
from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT, Stack, open_stack, with_free_ports
from loadtests.analysis.results import (
    RESULTS_DIR,
    Point,
    message_ref,
    posts_with_messages,
    requests_frame,
)
from loadtests.load.cli import exit_status, runner_parser, until_interrupted
from loadtests.load.drive import Load, generate, memory_mb, wait_for_drain, warm_up
from loadtests.publishing.records import machine_record, settings_record, write_table

SOAK_SETTINGS = {
    "provider_delay_s": 2.0,
    "celery_concurrency": 4,  # sends 4 / 2 s = 2 emails a second
    "rate_limit_s": 0.0,  # every Locust visitor comes from 127.0.0.1
    "prices_rate_limit_s": 0.0,
    "report_rate_limit_s": 0.0,
    "data_dir": "var/soak",
}
# Each visitor sends about one form a second: ~4 a second arrive; 2 leave through Celery's 4
# processes, 3 through the shortcut's thread pool (its default size on 2 cores: 6 threads), as
# many as arrive through the async shortcut's tasks (no pool: every email in flight at once).
VISITORS = 4
PERIOD_S = 2.0


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
            "delivered": stats["delivered"],
        }
        if self.stack.has_queue:  # a shortcut's queue is inside the web process
            row["queued"] = self.client.llen("celery") + self.client.hlen("unacked")
        row.update({f"rss_{k}_mb": v for k, v in memory_mb(self.stack, measure="RSS").items()})
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


def backlog(samples: pd.DataFrame, posted: pd.DataFrame, t0: float) -> pd.Series:
    """Emails accepted (their 302 received) but not yet at the provider, at each sample."""
    ok = posted[posted["ok"]]
    answered = sorted(ok["start"] + ok["latency_ms"] / 1000 - t0)
    accepted = pd.Series(answered).searchsorted(samples["t_s"], side="right")
    return pd.Series(accepted, index=samples.index) - samples["delivered"]


def run(minutes: float, out: Path, app: str) -> dict[str, object]:
    started = time.time()
    settings = with_free_ports(Settings.from_env().replace(**SOAK_SETTINGS))
    point = Point.one_worker(app, VISITORS, settings.provider_delay_s, settings.celery_concurrency)
    scratch = PROJECT_ROOT / "var" / "soak"
    scratch.mkdir(parents=True, exist_ok=True)
    with open_stack(app, settings) as stack:
        warm_up(stack.url)
        sampler = Sampler(stack)
        sampler.start()
        print(f"load: {VISITORS} visitors for {minutes:g} minutes ...", flush=True)
        load = Load(
            ("HomepageProbe", "Visitor"),
            VISITORS + 1,
            think_s=1.0,
            probe_rate=2.0,
            window_s=minutes * 60,
            drain_max_s=30,
        )
        meta = generate("locust", stack.url, load, scratch / "soak.csv", scratch / "soak.log")
        load_end = time.time() - sampler.started
        print("load stopped; a deploy restarts the web server, then the queue drains ...")
        stack.restart("web")  # SIGTERM: gunicorn finishes what it can in its graceful timeout
        restarted_at = time.time() - sampler.started
        wait_for_drain(stack, quiet_s=5.0, timeout_s=15 * 60)
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
    samples["backlog"] = backlog(samples, posted, sampler.started)
    loaded = samples[samples["t_s"] <= load_end]
    rss_columns = [c for c in samples.columns if c.startswith("rss_")]
    first, last = loaded.iloc[min(5, len(loaded) - 1)], loaded.iloc[-1]  # after 10 s of warm-up
    summary = {
        **machine_record(started, settings),
        "app": app,
        "minutes_of_load": minutes,
        "visitors": VISITORS,
        "settings": settings_record(settings),
        "accepted": len(accepted_refs),
        "delivered": len(set(message_ids)),
        "lost": len(accepted_refs - {r for r in arrived if r}),
        "duplicates": len(message_ids) - len(set(message_ids)),
        "post_errors": int((~posted["ok"]).sum()),
        "max_backlog": int(samples["backlog"].max()),
        "backlog_when_load_stopped": int(loaded["backlog"].iloc[-1]),
        "restart_s": round(restarted_at - load_end, 1),
        "drain_s": round(drained_at - load_end, 1),
        "homepage_p50_ms": round(float(home["latency_ms"].median()), 2),
        "homepage_max_ms": round(float(home["latency_ms"].max()), 2),
        "rss_mb_after_warmup": {c[4:-3]: round(float(first[c]), 1) for c in rss_columns},
        "rss_mb_when_load_stopped": {c[4:-3]: round(float(last[c]), 1) for c in rss_columns},
    }
    write_table(samples.assign(load=samples["t_s"] <= load_end), out, summary, float_format="%.2f")
    return summary


def soaked() -> tuple[str, ...]:
    """The hand-offs a soak measures: those that answer before the email is sent, so that a
    backlog builds somewhere; the first with a queue outside the web process first."""
    backlogged = [name for name in names() if not hand_off(name).post_waits_for_email]
    return tuple(sorted(backlogged, key=lambda name: not hand_off(name).has_queue))


def main(argv: list[str] | None = None) -> int:
    parser = runner_parser(__spec__.name, __doc__)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--app", default=soaked()[0], choices=soaked())
    parser.add_argument("--every", action="store_true", help=f"each of {', '.join(soaked())}")
    parser.add_argument("--out", type=Path, help="default results/soak.csv, or soak-<app>.csv")
    args = parser.parse_args(argv)
    if args.every:
        return max(soak(args.minutes, default_out(name), name) for name in soaked())
    return soak(args.minutes, args.out or default_out(args.app), args.app)


def default_out(name: str) -> Path:
    return RESULTS_DIR / ("soak.csv" if name == soaked()[0] else f"soak-{name}.csv")


def soak(minutes: float, out: Path, name: str) -> int:
    """Soak one hand-off; 1 when a hand-off with a queue lost an email."""
    s = until_interrupted(lambda: run(minutes, out, name))
    print(
        f"accepted {s['accepted']}, delivered {s['delivered']}, lost {s['lost']}, duplicates "
        f"{s['duplicates']}; backlog peaked at {s['max_backlog']}, {s['backlog_when_load_stopped']}"
        f" when the load stopped; restart and drain took {s['drain_s']} s; homepage p50 "
        f"{s['homepage_p50_ms']} ms during the load"
    )
    for part, before in s["rss_mb_after_warmup"].items():
        print(f"  {part:9} RSS {before:7.1f} MB -> {s['rss_mb_when_load_stopped'][part]:7.1f} MB")
    return 0 if s["lost"] == 0 or not hand_off(name).has_queue else 1


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
