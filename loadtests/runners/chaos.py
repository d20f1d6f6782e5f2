"""`make chaos`: break one part of a stack in the middle of a burst of contact forms, and count.

Each scenario starts a fresh stack, lets visitors send the form back to back, injects one fault
a few seconds in, recovers, lets the queue drain, and then counts from both ends: what the
visitors were told (302 accepted, an error page, or no answer at all) and what reached the
provider (matched message by message). An email is **lost** if its visitor got the thank-you
page and it never arrived; a **duplicate** is a Message-ID the provider received twice.

    python -m loadtests.runners.chaos                  # every scenario, into results/chaos.csv
    python -m loadtests.runners.chaos --only web-killed --apps sync+thread celery
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import requests

from lab_hand_offs import hand_off, names
from lab_settings import Settings
from lab_stack.stack import open_stack
from loadtests.analysis.results import RESULTS_DIR, message_ref
from loadtests.load.cli import exit_status, runner_parser, until_interrupted
from loadtests.load.drive import bench_settings, wait_for_drain
from loadtests.load.journey import contact_fields, csrf_token_from
from loadtests.publishing.records import measured_on, publish, run_record
from loadtests.runners.chaos_faults import FAULTS, Fault

# The rate limits are off as in every benchmark (`bench_settings`): all visitors are 127.0.0.1.
CHAOS_SETTINGS = {
    "provider_delay_s": 0.5,
    "celery_concurrency": 8,
    "retry_base_s": 0.5,
    "data_dir": "var/chaos",
}


FAULT_AT_S = 2.0
OUTAGE_S = {"provider-outage": 4.0, "redis-stalled": 4.0}
DOWN_S = 1.0
BURST_S = 7.0
VISITORS = 8
THINK_S = 0.4


@dataclass
class Submission:
    visitor: int
    sequence: int
    outcome: str  # "accepted", "refused" (an error page) or "no answer"
    status: int
    waited_s: float  # from sending the form to the answer (or to giving up on one)


def visitor_loop(
    url: str, visitor: int, stop: threading.Event, out: list[Submission], lock: threading.Lock
) -> None:
    session = requests.Session()
    token = None
    for sequence in itertools.count(1):
        if stop.is_set():
            return
        try:
            if token is None:
                token = csrf_token_from(session.get(f"{url}/contact", timeout=15).text)
        except (requests.RequestException, ValueError):
            time.sleep(0.2)  # the site is down: try again, as a person would
            continue
        fields = {**contact_fields(visitor, sequence), "csrf_token": token}
        sent = time.monotonic()
        try:
            response = session.post(
                f"{url}/contact", data=fields, allow_redirects=False, timeout=15
            )
            outcome = "accepted" if response.status_code == 302 else "refused"
            status = response.status_code
        except requests.RequestException:
            outcome, status = "no answer", 0
        with lock:
            out.append(Submission(visitor, sequence, outcome, status, time.monotonic() - sent))
        time.sleep(THINK_S)


def run_scenario(fault: Fault, app: str, base: Settings) -> dict[str, object]:
    settings = bench_settings(base, **{**CHAOS_SETTINGS, **fault.settings})
    submissions: list[Submission] = []
    lock = threading.Lock()
    stop = threading.Event()
    with open_stack(app, settings) as stack:
        visitors = [
            threading.Thread(
                target=visitor_loop, args=(stack.url, v, stop, submissions, lock), daemon=True
            )
            for v in range(1, VISITORS + 1)
        ]
        for thread in visitors:
            thread.start()
        time.sleep(FAULT_AT_S)
        # Inject once an email is certainly mid-SMTP, however long the stack took to warm up: a
        # fresh clone compiles and imports on its first requests, and a fault at a fixed second
        # could find every visitor still waiting for its first page.
        in_flight_at_fault = stack.provider.wait_for("in_flight", 1, timeout_s=30)["in_flight"]
        fault.inject(stack)
        time.sleep(OUTAGE_S.get(fault.name, DOWN_S))
        fault.recover(stack)
        time.sleep(max(0.0, BURST_S - FAULT_AT_S - OUTAGE_S.get(fault.name, DOWN_S)))
        stop.set()
        for thread in visitors:
            thread.join(timeout=30)
        drain_s = wait_for_drain(stack)
        deliveries = stack.provider.deliveries()
        attempts = stack.provider.attempts()
    row = count(fault, app, submissions, deliveries, attempts, drain_s)
    return {**row, "in_flight_at_fault": in_flight_at_fault}


def count(
    fault: Fault,
    app: str,
    submissions: list[Submission],
    deliveries: list[dict[str, object]],
    attempts: list[dict[str, object]],
    drain_s: float,
) -> dict[str, object]:
    arrived: set[tuple[int, int]] = set()
    for delivery in deliveries:
        ref = message_ref(str(delivery["raw"]))
        if ref:
            arrived.add(ref)
    by_outcome = {"accepted": 0, "refused": 0, "no answer": 0}
    lost = delivered_unannounced = 0
    for s in submissions:
        by_outcome[s.outcome] += 1
        got = (s.visitor, s.sequence) in arrived
        if s.outcome == "accepted" and not got:
            lost += 1
        if s.outcome != "accepted" and got:
            delivered_unannounced += 1
    message_ids = [d["message_id"] for d in deliveries]
    return {
        "scenario": fault.name,
        "app": app,
        "submitted": len(submissions),
        "accepted": by_outcome["accepted"],
        "error_page": by_outcome["refused"],
        "no_answer": by_outcome["no answer"],
        "delivered": len(set(message_ids)),
        "lost": lost,
        "sent_but_visitor_saw_error": delivered_unannounced,
        "duplicates": len(message_ids) - len(set(message_ids)),
        "dropped_mid_smtp": sum(a["outcome"] == "dropped" for a in attempts),
        "slowest_answer_s": round(max((s.waited_s for s in submissions), default=0.0), 2),
        "drain_s": round(drain_s, 1),
        "fault": fault.what,
    }


def run_and_say(fault: Fault, app: str, base: Settings) -> dict[str, object]:
    row = run_scenario(fault, app, base)
    print(
        f"{fault.name:16} {app:12} submitted {row['submitted']:4}  accepted "
        f"{row['accepted']:4}  delivered {row['delivered']:4}  lost {row['lost']:3}"
        f"  duplicates {row['duplicates']:2}  visitor saw an error "
        f"{row['error_page'] + row['no_answer']:3} (of which sent anyway "
        f"{row['sent_but_visitor_saw_error']})"
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = runner_parser(__spec__.name, __doc__)
    parser.add_argument("--only", nargs="+", choices=[f.name for f in FAULTS])
    parser.add_argument("--apps", nargs="+", choices=names(), help="default: all")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "chaos.csv")
    args = parser.parse_args(argv)
    base = Settings.from_env()
    started = time.time()
    chosen = [
        (fault, app)
        for fault in FAULTS
        if not args.only or fault.name in args.only
        for app in fault.apps
        if not args.apps or app in args.apps
    ]
    rows = until_interrupted(lambda: [run_and_say(fault, app, base) for fault, app in chosen])
    record = run_record(
        started,
        bench_settings(base, **CHAOS_SETTINGS),
        wall_time_s=round(time.time() - started, 1),
        burst={
            "visitors": VISITORS,
            "think_s": THINK_S,
            "burst_s": BURST_S,
            "fault_at_s": FAULT_AT_S,
            "down_s": DOWN_S,
            "outage_s": OUTAGE_S,
        },
        faults={f.name: {"what": f.what, "settings": f.settings} for f in FAULTS},
    )
    table = pd.DataFrame(rows)
    publish(table, args.out, RESULTS_DIR / "chaos.csv", record, "redis-faults", readme_section)
    print(f"{len(rows)} scenarios, {(time.time() - started) / 60:.1f} minutes.")
    for name in (n for n in names() if len(table) and n in set(table["app"])):
        if hand_off(name).has_queue:  # the hand-offs that promise to lose nothing
            lost = table[table["app"] == name]["lost"].sum()
            print(f"{name}: {lost} accepted emails lost over every scenario.")
    return 0


def readme_section(table: pd.DataFrame, record: dict[str, object]) -> str:
    """The README's table of what the Celery app's visitors got while Redis failed."""
    redis_rows = table[table["scenario"].str.startswith("redis-")]
    lines = [
        measured_on(record) + f": {record['burst']['visitors']} visitors sending the form back "
        f"to back, REDIS_TIMEOUT_S {record['settings']['redis_timeout_s']:g} s "
        "(`results/chaos.csv`).",
        "",
        "| Redis | forms sent | accepted | error page | no answer | slowest answer "
        "| accepted, then lost | sent twice |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in redis_rows.itertuples():
        lines.append(
            f"| {row.scenario.removeprefix('redis-')} | {row.submitted} | {row.accepted} "
            f"| {row.error_page} | {row.no_answer} | {row.slowest_answer_s:.1f} s | {row.lost} "
            f"| {row.duplicates} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
