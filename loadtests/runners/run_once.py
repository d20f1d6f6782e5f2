"""`make run-once`: a scheduled job with three web servers, run by beat or by cron, counted.

Three modes, each with three web servers of the same app and a rolling deploy during the run
(one server at a time is down for a while; with beat, the deploy then restarts the Celery
worker and beat itself too, as a real deploy does), and the idle-account job due every tick:

- `beat`: Celery beat sends the job to the worker; the web servers have no scheduler at all.
- `cron-everywhere`: every web server runs the job itself on the tick (cron in each container).
- `cron-one-server`: only the first web server does (the "special server" workaround).

For every tick it counts the job's runs (the `job_runs` table) and, at the provider, the
reminder emails each idle account received. Writes `results/run_once.csv` and `.json`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from idle_accounts.job import JOB
from idle_accounts.store import AccountStore
from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT, Stack, with_free_ports
from loadtests.analysis.results import RESULTS_DIR
from loadtests.load.cli import exit_status, runner_parser, until_interrupted
from loadtests.publishing.records import run_record, write_table

TICK_S = 1.0
TICKS = 16
WEB_SERVERS = 3
ACCOUNTS = 40
IDLE_SHARE = 0.25
RESTART_AT_TICKS = (2, 5, 8)  # web, web2, web3: one at a time
# With beat, the deploy goes on to the Celery worker and to beat: what a scheduler loses while
# it is itself redeployed is part of the comparison, not something the setup rules out.
BEAT_RESTARTS = (("worker", 11), ("beat", 13))
DEPLOY_DOWN_S = 2.5  # how long each server is down while it is redeployed
SETTINGS = {
    "provider_delay_s": 0.02,  # a run reminds 10 accounts well within one tick
    "rate_limit_s": 0.0,
    "prices_rate_limit_s": 0.0,
    "report_rate_limit_s": 0.0,
    "data_dir": "var/run-once",
}
MODES = ("beat", "cron-everywhere", "cron-one-server")


def build_stack(mode: str, base: Settings, db: Path) -> Stack:
    settings = with_free_ports(base.replace(**SETTINGS, accounts_db=str(db)))
    if mode == "beat":
        return Stack(
            "celery", settings.replace(beat_interval_s=TICK_S), beat=True, web_servers=WEB_SERVERS
        )
    stack = Stack("sync", settings.replace(cron_in_web_s=TICK_S), web_servers=WEB_SERVERS)
    if mode == "cron-one-server":
        for n in range(2, WEB_SERVERS + 1):
            stack.processes[f"web{n}"].env["CRON_IN_WEB_S"] = "0"
    return stack


def run_mode(mode: str, base: Settings) -> dict[str, object]:
    db = PROJECT_ROOT / SETTINGS["data_dir"] / f"{mode}-accounts.sqlite3"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    store = AccountStore(db)
    store.seed(ACCOUNTS, IDLE_SHARE)
    idle = store.counts()["idle"]
    stack = build_stack(mode, base, db)
    with stack:
        # Count whole ticks only: from the first tick boundary after everything is up.
        first = math.ceil(time.time() / TICK_S + 1) * TICK_S
        # Start from a clean slate just before that tick: every idle account due, nothing sent.
        time.sleep(max(0.0, first - TICK_S / 2 - time.time()))
        store.reset_reminders()
        stack.provider.reset()
        webs = ["web"] + [f"web{n}" for n in range(2, WEB_SERVERS + 1)]
        restarts = list(zip(webs, RESTART_AT_TICKS, strict=True))
        if mode == "beat":
            restarts += BEAT_RESTARTS
        for name, tick in restarts:
            time.sleep(max(0.0, first + tick * TICK_S + 0.3 - time.time()))
            # A rolling deploy: one server at a time goes down, gets its new version, comes back.
            stack.processes[name].stop()
            time.sleep(DEPLOY_DOWN_S)
            stack.processes[name].start()
        last = first + TICKS * TICK_S
        time.sleep(max(0.0, last + 1.0 - time.time()))  # let the last tick's run finish
        deliveries = stack.provider.deliveries()
    runs = [r for r in store.runs(JOB) if first <= r["started_at"] < last]
    per_tick = Counter(int((r["started_at"] - first) // TICK_S) for r in runs)
    emails = Counter(d["recipients"] for d in deliveries)
    return {
        "mode": mode,
        "web_servers": WEB_SERVERS,
        "ticks": TICKS,
        "runs": len(runs),
        "runs_per_tick": round(len(runs) / TICKS, 2),
        "ticks_without_a_run": sum(per_tick.get(t, 0) == 0 for t in range(TICKS)),
        "ticks_with_several_runs": sum(per_tick.get(t, 0) > 1 for t in range(TICKS)),
        "idle_accounts": idle,
        "reminder_emails": sum(emails.values()),
        "accounts_reminded_more_than_once": sum(n > 1 for n in emails.values()),
        "runs_by_process": len({r["runner"] for r in runs}),
    }


def run_mode_and_say(mode: str, base: Settings) -> dict[str, object]:
    row = run_mode(mode, base)
    print(
        f"{mode:16} {row['runs']:3} runs in {row['ticks']} ticks "
        f"({row['runs_per_tick']:.2f} per tick), {row['ticks_without_a_run']} ticks "
        f"missed, {row['accounts_reminded_more_than_once']} of {row['idle_accounts']} "
        f"idle accounts emailed more than once"
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = runner_parser(__spec__.name, __doc__)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "run_once.csv")
    args = parser.parse_args(argv)
    base = Settings.from_env()
    started = time.time()
    rows = until_interrupted(lambda: [run_mode_and_say(mode, base) for mode in MODES])
    record = run_record(
        started,
        base.replace(**SETTINGS),
        tick_s=TICK_S,
        ticks=TICKS,
        restart_at_ticks=RESTART_AT_TICKS,
        beat_mode_also_restarts=dict(BEAT_RESTARTS),
        deploy_down_s=DEPLOY_DOWN_S,
        accounts=ACCOUNTS,
    )
    write_table(pd.DataFrame(rows), args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
