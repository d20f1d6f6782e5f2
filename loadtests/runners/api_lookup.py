"""`make bench-api`: use case 2 measured. Visitors look up prices while a probe times the homepage.

For each app, VISITORS visitors each ask for the prices in a currency again and again (open the
page, choose, press the button, wait until the prices are on their screen, think 0.5 s) while
the rates API takes RATES_API_DELAY_S to answer, and a probe opens the homepage 5 times a second
on a fixed schedule. Measured: how long the button press takes to answer, how long until the
prices are there (for the Celery app: the push, read here by long polling as the page's fallback
does), and the homepage. Writes `results/api_lookup.csv` and `.json`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import pandas as pd
import requests

from lab_settings import Settings
from lab_stack.stack import APPS, Stack, with_free_ports
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR, percentile
from loadtests.load.cli import exit_status, runner_parser, until_interrupted
from loadtests.load.journey import csrf_token_from, final_update, watch_token_from
from loadtests.publishing.records import publish, run_record, update_section

VISITORS = 4
WINDOW_S = 20.0
THINK_S = 0.5
PROBE_PER_S = 5.0
SETTINGS = {  # every visitor here comes from 127.0.0.1: no rate limit
    "rate_limit_s": 0.0,
    "prices_rate_limit_s": 0.0,
    "report_rate_limit_s": 0.0,
    "data_dir": "var/bench-api",
}
DEFAULT_OUT = RESULTS_DIR / "api_lookup.csv"


def look_up_once(stack: Stack, session: requests.Session, currency: str) -> dict[str, float]:
    """One visitor's lookup: seconds until the page answered, until the prices were there, ok."""
    token = csrf_token_from(session.get(f"{stack.url}/prices", timeout=60).text)
    pressed = time.monotonic()
    answer = session.post(
        f"{stack.url}/prices",
        data={"csrf_token": token, "currency": currency},
        allow_redirects=False,
        timeout=120,
    )
    answered = time.monotonic()
    if answer.status_code == 303:  # the Celery app: follow the task until its final update
        page = session.get(stack.url + answer.headers["Location"], timeout=60).text  # as a browser
        task_id, watch = answer.headers["Location"].rsplit("/", 1)[1], watch_token_from(page)
        if watch is None:  # over before the page was asked for: it shows the outcome itself
            ok = 'id="price-table"' in page
        else:
            ok = final_update(stack.settings.push_url, task_id, watch)["state"] == "SUCCESS"
    else:
        ok = answer.status_code == 200 and 'id="price-table"' in answer.text
    return {"answer_s": answered - pressed, "prices_s": time.monotonic() - pressed, "ok": ok}


def visitor(stack: Stack, number: int, until: float, out: list[dict[str, float]]) -> None:
    session = requests.Session()
    currencies = ["USD", "GBP", "CHF", "JPY"]
    while time.monotonic() < until:
        out.append(look_up_once(stack, session, currencies[number % len(currencies)]))
        time.sleep(THINK_S)


def homepage_probe(stack: Stack, until: float, out: list[float | None]) -> None:
    """Open the homepage PROBE_PER_S times a second, each in its own thread (an open model:
    a slow answer does not delay the next probe); an unanswered probe stays None."""

    def probe(slot: int) -> None:
        started = time.monotonic()
        try:
            requests.get(f"{stack.url}/", timeout=60).raise_for_status()
        except requests.RequestException:
            return
        out[slot] = time.monotonic() - started

    start, threads = time.monotonic(), []
    while True:
        at = start + len(threads) / PROBE_PER_S
        if at >= until:
            break
        time.sleep(max(0.0, at - time.monotonic()))
        out.append(None)
        thread = threading.Thread(target=probe, args=(len(out) - 1,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=60)


def run_app(app: str, base: Settings, visitors: int, window_s: float) -> dict[str, object]:
    with Stack(app, with_free_ports(base.replace(**SETTINGS))) as stack:
        look_up_once(stack, requests.Session(), "USD")  # warm up: imports, connections
        stack.rates_api.reset()
        lookups: list[dict[str, float]] = []
        probes: list[float | None] = []
        until = time.monotonic() + window_s
        threads = [threading.Thread(target=homepage_probe, args=(stack, until, probes))]
        threads += [
            threading.Thread(target=visitor, args=(stack, n, until, lookups))
            for n in range(visitors)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        api = stack.rates_api.stats()
    frame = pd.DataFrame(lookups)
    homepage = pd.Series([p for p in probes if p is not None], dtype=float)
    return {
        "app": app,
        "visitors": visitors,
        "rates_api_delay_s": base.rates_api_delay_s,
        "lookups": len(frame),
        "lookups_failed": int((~frame["ok"]).sum()),
        "answer_p50_ms": round(1000 * percentile(frame["answer_s"], 50), 1),
        "prices_p50_s": round(percentile(frame["prices_s"], 50), 2),
        "prices_p95_s": round(percentile(frame["prices_s"], 95), 2),
        "homepage_p50_ms": round(1000 * percentile(homepage, 50), 1),
        "homepage_p95_ms": round(1000 * percentile(homepage, 95), 1),
        "homepage_probes": len(probes),
        "homepage_unanswered": sum(p is None for p in probes),
        "api_calls": api["calls"],
    }


def readme_table(table: pd.DataFrame, record: dict[str, object]) -> str:
    """The README's use-case-2 table, from results/api_lookup.csv and .json."""
    lines = [
        f"{int(table['visitors'].iloc[0])} visitors looking up prices for "
        f"{record['window_s']:g} s per app, rates API answering in "
        f"{table['rates_api_delay_s'].iloc[0]:g} s (`make bench-api` on "
        f"{record['machine']['cores']} cores, {record['machine']['cpu_model']}, "
        f"{record['date'][:10]}; machine and versions in `results/api_lookup.json`):",
        "",
        "| app | lookups | button answers (p50) | prices on screen (p50 / p95) "
        "| homepage meanwhile (p50 / p95) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.app} | {row.lookups} | {fmt_ms(row.answer_p50_ms)} "
            f"| {fmt_ms(1000 * row.prices_p50_s)} / {fmt_ms(1000 * row.prices_p95_s)} "
            f"| {fmt_ms(row.homepage_p50_ms)} / {fmt_ms(row.homepage_p95_ms)} |"
        )
    return "\n".join(lines) + "\n"


def run_app_and_say(app: str, base: Settings, args: argparse.Namespace) -> dict[str, object]:
    row = run_app(app, base, args.visitors, args.window)
    print(
        f"{app:8} {row['lookups']:3} lookups by {row['visitors']} visitors: "
        f"button answered in {fmt_ms(row['answer_p50_ms'])}, prices on screen after "
        f"{fmt_ms(1000 * row['prices_p50_s'])} (p50); meanwhile homepage p50 "
        f"{fmt_ms(row['homepage_p50_ms'])}, p95 {fmt_ms(row['homepage_p95_ms'])}"
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = runner_parser(__spec__.name, __doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--readme",
        action="store_true",
        help="only rewrite the README's table from the stored results",
    )
    parser.add_argument("--visitors", type=int, default=VISITORS)
    parser.add_argument("--window", type=float, default=WINDOW_S, help="seconds per app")
    parser.add_argument("--delay", type=float, help="rates API delay (default RATES_API_DELAY_S)")
    args = parser.parse_args(argv)
    if args.readme:
        record = json.loads(DEFAULT_OUT.with_suffix(".json").read_text())
        update_section(readme_table(pd.read_csv(DEFAULT_OUT), record), marker="api-lookup")
        return 0
    base = Settings.from_env()
    if args.delay is not None:
        base = base.replace(rates_api_delay_s=args.delay)
    started = time.time()
    rows = until_interrupted(lambda: [run_app_and_say(app, base, args) for app in APPS])
    record = run_record(
        started,
        base.replace(**SETTINGS),
        visitors=args.visitors,
        window_s=args.window,
        think_s=THINK_S,
        probe_per_s=PROBE_PER_S,
        push_read_by="long polling",
    )
    publish(pd.DataFrame(rows), args.out, DEFAULT_OUT, record, "api-lookup", readme_table)
    return 0


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
