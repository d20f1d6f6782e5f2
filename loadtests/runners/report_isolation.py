"""`make bench-reports`: do contact emails wait behind long reports? (use cases 1 and 3 together)

The Celery app, 4 email worker processes, a REPORT_S-second report. For each way of queueing
the reports (REPORT_QUEUE: `reports`, their own queue and worker; `celery`, the emails' queue and
worker, as before), EMAILS contact emails are sent first with no report running, then again
while REPORTS reports run. Every accepted email is counted: its delay is from the press of the
button to the provider's acceptance; one not delivered within WAIT_S is reported as still
waiting, never left out. Writes `results/report_isolation.csv` and `.json`.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import requests

from lab_settings import Settings
from lab_stack.stack import Stack, with_free_ports
from loadtests.analysis.results import RESULTS_DIR
from loadtests.load.cli import exit_status, runner_parser, until_interrupted
from loadtests.load.journey import contact_fields, csrf_token_from
from loadtests.publishing.records import measured_on, publish, run_record

EMAILS = 8
REPORTS = 4
REPORT_S = 20.0
WAIT_S = 60.0
SETTINGS = {
    "celery_concurrency": 4,
    "provider_delay_s": 0.5,
    "report_duration_s": REPORT_S,
    "rate_limit_s": 0.0,  # every visitor here comes from 127.0.0.1
    "prices_rate_limit_s": 0.0,
    "report_rate_limit_s": 0.0,
    "data_dir": "var/bench-reports",
}
DEFAULT_OUT = RESULTS_DIR / "report_isolation.csv"


def post_form(session: requests.Session, url: str, path: str, fields: dict[str, str]) -> int:
    token = csrf_token_from(session.get(url + path, timeout=30).text)
    answer = session.post(
        url + path, data={**fields, "csrf_token": token}, allow_redirects=False, timeout=30
    )
    return answer.status_code


def email_delays(stack: Stack, accepted: int, before: int) -> tuple[list[float], int]:
    """Delays (s) of this phase's emails, and how many were still waiting after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if stack.provider.stats()["delivered"] >= before + accepted:
            break
        time.sleep(0.2)
    delivered = stack.provider.deliveries()[before:]
    delays = [
        d["arrived_at"] - datetime.fromisoformat(str(d["submitted_at"])).timestamp()
        for d in delivered
    ]
    return delays, accepted - len(delivered)


def run_phase(stack: Stack, reports: int) -> dict[str, object]:
    session = requests.Session()
    for _ in range(reports):
        assert post_form(session, stack.url, "/reports", {}) == 303
    if reports:
        time.sleep(1.0)  # the reports have started: every slot they can take is taken
    before = stack.provider.stats()["delivered"]
    accepted = sum(
        post_form(session, stack.url, "/contact", contact_fields(n, reports)) == 302
        for n in range(EMAILS)
    )
    delays, waiting = email_delays(stack, accepted, before)
    series = pd.Series(delays, dtype=float)
    return {
        "reports_running": reports,
        "emails_accepted": accepted,
        "delivered": len(delays),
        "still_waiting": waiting,
        "delay_p50_s": round(float(series.median()), 2) if waiting == 0 else None,
        "delay_max_s": round(float(series.max()), 2) if waiting == 0 else None,
        "delay_at_least_s": WAIT_S if waiting else None,
    }


def run(base: Settings) -> list[dict[str, object]]:
    rows = []
    for queue in ("reports", "celery"):
        settings = with_free_ports(base.replace(**SETTINGS, report_queue=queue))
        with Stack("celery", settings) as stack:
            for reports in (0, REPORTS):
                row = {"report_queue": queue, **run_phase(stack, reports)}
                rows.append(row)
                print(describe(row), flush=True)
    return rows


def describe(row: dict[str, object]) -> str:
    where = "own queue" if row["report_queue"] == "reports" else "emails' queue"
    delay = (
        f"p50 {row['delay_p50_s']:.2f} s, max {row['delay_max_s']:.2f} s"
        if row["still_waiting"] == 0
        else f"{row['still_waiting']} still waiting after {WAIT_S:g} s"
    )
    return (
        f"reports on the {where:13} {row['reports_running']} running: "
        f"{row['delivered']} of {row['emails_accepted']} emails delivered, delay {delay}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = runner_parser(__spec__.name, __doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    base = Settings.from_env()
    started = time.time()
    rows = until_interrupted(lambda: run(base))
    record = run_record(
        started,
        base.replace(**SETTINGS),
        emails_per_phase=EMAILS,
        reports=REPORTS,
        wait_s=WAIT_S,
    )
    publish(pd.DataFrame(rows), args.out, DEFAULT_OUT, record, "report-isolation", readme_table)
    return 0


def readme_table(table: pd.DataFrame, record: dict[str, object]) -> str:
    """The README's table of a stored run: contact email delay per report queue."""
    lines = [
        measured_on(record) + f": {record['emails_per_phase']} emails "
        f"per row, a {record['settings']['report_duration_s']:g} s report, 4 email worker "
        f"processes, provider delay {record['settings']['provider_delay_s']:g} s "
        f"(`results/report_isolation.csv`).",
        "",
        "| reports go to | reports running | emails delivered | email delay p50 | max |",
        "|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        where = "their own queue" if row.report_queue == "reports" else "the emails' queue"
        if row.still_waiting:
            delay = f"{row.still_waiting} still waiting after {row.delay_at_least_s:g} s", "-"
        else:
            delay = f"{row.delay_p50_s:.2f} s", f"{row.delay_max_s:.2f} s"
        lines.append(
            f"| {where} | {row.reports_running} | {row.delivered} of {row.emails_accepted} "
            f"| {delay[0]} | {delay[1]} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
