"""`make bench-progress`: what a visitor sees while a long report is built (use case 3).

For each app, one visitor presses "Generate report" (a REPORT_S-second report) while a probe
opens the homepage every PROBE_S. The sync and async apps answer the POST with the finished file,
so the tab shows nothing until then; the Celery app answers at once with a page that follows
the task, and the push service hands it each progress update (read here by long polling, as the
page does without websockets). Every event is timed from the press of the button. Writes
`results/report_progress.csv` (one row per event) and `.json` (the machine, the settings, and
the homepage probes' figures per app, every probe counted: one that got no answer at what it
had waited, a lower bound).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import requests

from lab_settings import Settings
from lab_stack.stack import APPS, open_stack, with_free_ports
from loadtests.analysis.results import RESULTS_DIR, percentile
from loadtests.load.cli import exit_status, runner_parser, until_interrupted
from loadtests.load.journey import csrf_token_from, watch_token_from
from loadtests.publishing.records import measured_on, publish, run_record

REPORT_S = 12.0
PROBE_S = 0.25
SETTINGS = {
    "report_duration_s": REPORT_S,
    "rate_limit_s": 0.0,
    "prices_rate_limit_s": 0.0,
    "report_rate_limit_s": 0.0,
    "data_dir": "var/bench-progress",
}
DEFAULT_OUT = RESULTS_DIR / "report_progress.csv"
COMPUTE_OUT = RESULTS_DIR / "report_progress-compute.csv"  # --work compute


class Probe(threading.Thread):
    """Opens the homepage every PROBE_S, whether or not the last one came back. A probe with no
    answer counts too: at the time it had waited when it failed or was given up on (a lower
    bound), and in `unanswered`."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.latencies_ms: list[float] = []
        self.unanswered = 0
        self._lock = threading.Lock()
        self._waiting: dict[int, float] = {}  # probe number -> when it was sent

    def _one(self, number: int) -> None:
        began = time.time()
        with self._lock:
            self._waiting[number] = began
        try:
            requests.get(self.url + "/", timeout=REPORT_S + 30)
            answered = True
        except requests.RequestException:
            answered = False
        with self._lock:
            if self._waiting.pop(number, None) is not None:
                self.latencies_ms.append((time.time() - began) * 1000)
                self.unanswered += not answered

    def run(self) -> None:
        shots = []
        while not self.stop.wait(PROBE_S):
            shot = threading.Thread(target=self._one, args=(len(shots),), daemon=True)
            shot.start()
            shots.append(shot)
        for shot in shots:
            shot.join(REPORT_S + 30)
        with self._lock:  # still waiting after that: given up on, counted at what it waited
            now = time.time()
            self.latencies_ms += [(now - began) * 1000 for began in self._waiting.values()]
            self.unanswered += len(self._waiting)
            self._waiting.clear()


def follow(
    push_url: str, task_id: str, watch: str | None, pressed: float
) -> list[dict[str, object]]:
    """Every update of the task, by long polling as the page does, until the final one."""
    events, since = [], 0.0
    deadline = time.time() + REPORT_S + 60
    while time.time() < deadline:
        answer = requests.get(
            f"{push_url}/updates/{task_id}", params={"watch": watch, "since": since}, timeout=30
        )
        if answer.status_code == 204:
            continue
        answer.raise_for_status()
        update = answer.json()
        since = float(update["at"])
        events.append(
            {
                "event": "progress",
                "t_s": time.time() - pressed,
                "percent": update.get("percent"),
                "state": update.get("state"),
            }
        )
        if update.get("final"):
            events[-1]["event"] = "ready"
            break
    return events


def press(app: str, base: Settings) -> tuple[list[dict[str, object]], list[float], int]:
    settings = with_free_ports(base.replace(**SETTINGS))
    with open_stack(app, settings) as stack:
        session = requests.Session()
        token = csrf_token_from(session.get(stack.url + "/reports", timeout=30).text)
        pressed = time.time()
        probe = Probe(stack.url)
        probe.start()
        answer = session.post(
            stack.url + "/reports",
            data={"csrf_token": token},
            allow_redirects=False,
            timeout=REPORT_S + 30,
        )
        answered = time.time() - pressed
        events = [
            {"event": "answer", "t_s": answered, "percent": None, "state": str(answer.status_code)}
        ]
        if answer.status_code == 200:  # the file itself: the report was built in the request
            events.append({"event": "ready", "t_s": answered, "percent": 100, "state": "file"})
        elif answer.status_code == 303:  # a page that follows the task
            task_id = answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            page = session.get(stack.url + answer.headers["Location"], timeout=30)  # as a browser
            events += follow(stack.settings.push_url, task_id, watch_token_from(page.text), pressed)
        else:
            raise RuntimeError(f"{app}: POST /reports answered {answer.status_code}")
        time.sleep(PROBE_S)
        probe.stop.set()
        probe.join(REPORT_S + 30)
    return [{"app": app, **e} for e in events], probe.latencies_ms, probe.unanswered


def press_and_say(app: str, base: Settings) -> tuple[list[dict], dict[str, object]]:
    """One app's events, and what its homepage probes got meanwhile."""
    events, latencies, unanswered = press(app, base)
    series = pd.Series(latencies, dtype=float)
    homepage = {
        "probes": len(series),
        "unanswered": unanswered,
        "p50_ms": round(percentile(series, 50), 1),
        "max_ms": round(float(series.max()), 1),
    }
    answer, ready = events[0]["t_s"], events[-1]["t_s"]
    updates = sum(e["event"] == "progress" for e in events)
    print(
        f"{app}: POST answered after {answer:.2f} s, report ready after {ready:.1f} s, "
        f"{updates} progress updates on the page; homepage meanwhile p50 "
        f"{homepage['p50_ms']:g} ms, max {homepage['max_ms']:g} ms, "
        f"{unanswered} of {len(series)} probes unanswered"
    )
    return events, homepage


def main(argv: list[str] | None = None) -> int:
    parser = runner_parser(__spec__.name, __doc__)
    parser.add_argument("--out", type=Path, help="default: results/report_progress[-compute].csv")
    parser.add_argument(
        "--work",
        choices=("wait", "compute"),
        default="wait",
        help="the report's slices wait for work done elsewhere, or compute on this CPU",
    )
    args = parser.parse_args(argv)
    base = Settings.from_env().replace(report_work=args.work)
    reference, marker = (
        (DEFAULT_OUT, "report-progress")
        if args.work == "wait"
        else (COMPUTE_OUT, "report-progress-compute")
    )
    started = time.time()
    pressed = until_interrupted(lambda: {app: press_and_say(app, base) for app in APPS})
    rows = [event for events, _ in pressed.values() for event in events]
    homepage = {app: probes for app, (_, probes) in pressed.items()}
    record = run_record(
        started,
        base.replace(**SETTINGS),
        report_s=REPORT_S,
        report_work=args.work,
        probe_every_s=PROBE_S,
        homepage=homepage,
    )
    publish(pd.DataFrame(rows), args.out or reference, reference, record, marker, readme_table)
    return 0


def _stored_name(record: dict[str, object]) -> str:
    reference = COMPUTE_OUT if record.get("report_work") == "compute" else DEFAULT_OUT
    return reference.name


def readme_table(events: pd.DataFrame, record: dict[str, object]) -> str:
    """The README's table of a stored run: what each app's visitor saw, and when."""
    lines = [
        measured_on(record)
        + f": a {record['report_s']:g} s report whose slices "
        + (
            "compute on this CPU"
            if record.get("report_work") == "compute"
            else "wait for work done elsewhere"
        )
        + f", the homepage probed every {record['probe_every_s']:g} s "
        f"(`results/{_stored_name(record)}`).",
        "",
        "| app | the POST answered | progress updates on the page | report ready | homepage "
        "meanwhile, p50 / max | homepage probes unanswered |",
        "|---|---|---|---|---|---|",
    ]
    for app, rows in events.groupby("app", sort=False):
        answer = rows.loc[rows["event"] == "answer", "t_s"].iloc[0]
        ready = rows.loc[rows["event"] == "ready", "t_s"].iloc[0]
        home = record["homepage"][app]
        lines.append(
            f"| {app} | after {answer:.2f} s | {int((rows['event'] == 'progress').sum())} "
            f"| after {ready:.1f} s | {home['p50_ms']:g} ms / {home['max_ms']:g} ms "
            f"| {home['unanswered']} of {home['probes']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
