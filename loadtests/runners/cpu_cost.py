"""`make bench-cpu`: what one request costs the web process in CPU time, read on the server side.

Throughput measured on a 2-core machine is shared with the load generator; the CPU time the
gunicorn worker itself spends per request is not. The Celery app's stack, one worker x one
thread: REQUESTS homepage GETs, then REQUESTS contact POSTs (validation and enqueue; the
CSRF token fetched once, as a browser's session keeps it), one after another, the worker's CPU
time (psutil, user + system) read before and after each batch. Then where a POST's CPU goes:
the same app in this process under cProfile, its time summed by package and by step.
Writes `results/cpu_per_request.csv` and `.json`.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from pathlib import Path

import pandas as pd
import psutil
import requests

from celery_app import create_app as create_celery_app
from lab_settings import Settings
from lab_stack.stack import Stack, with_free_ports
from loadtests.analysis.results import RESULTS_DIR
from loadtests.load.cli import exit_status, runner_parser, until_interrupted
from loadtests.load.journey import contact_fields, csrf_token_from
from loadtests.publishing.records import measured_on, publish, run_record

REQUESTS = 300
PROFILED = 200
SETTINGS = {  # every request here comes from 127.0.0.1: no rate limit
    "rate_limit_s": 0.0,
    "prices_rate_limit_s": 0.0,
    "report_rate_limit_s": 0.0,
    "provider_delay_s": 0.05,
    "data_dir": "var/bench-cpu",
}
DEFAULT_OUT = RESULTS_DIR / "cpu_per_request.csv"


def web_worker(stack: Stack) -> psutil.Process:
    """The gunicorn worker that serves every request (the web tier is one worker, one thread)."""
    [worker] = psutil.Process(stack.processes["web"].pid).children()
    return worker


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def cpu_per_request(worker: psutil.Process, send: object, count: int) -> float:
    """Milliseconds of the worker's CPU time per request, over `count` requests sent in turn."""
    before = cpu_s(worker)
    for n in range(count):
        send(n)
    return 1000 * (cpu_s(worker) - before) / count


def measure(stack: Stack) -> list[dict[str, object]]:
    session = requests.Session()
    token = csrf_token_from(session.get(f"{stack.url}/contact", timeout=10).text)

    def home(_: int) -> None:
        assert session.get(f"{stack.url}/", timeout=10).status_code == 200

    def post(n: int) -> None:
        answer = session.post(
            f"{stack.url}/contact",
            data={**contact_fields(n, 1), "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.status_code

    for n in range(20):  # compiled templates, warm connections: no first-request costs
        home(n)
        post(n)
    worker = web_worker(stack)
    home_ms = cpu_per_request(worker, home, REQUESTS)
    post_ms = cpu_per_request(worker, post, REQUESTS)
    return [
        {"endpoint": "home", "requests": REQUESTS, "cpu_ms_per_request": round(home_ms, 3)},
        {"endpoint": "contact_post", "requests": REQUESTS, "cpu_ms_per_request": round(post_ms, 3)},
    ]


def package_of(filename: str, function: str) -> str:
    """Where a function's own time is spent: 'celery' (.../site-packages/celery/app/task.py),
    'contact_form' (the lab's own), 'stdlib socket', or 'C _socket' for a built-in method."""
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if filename == "~":  # a built-in: "<method 'recv' of '_socket.socket' objects>"
        owner = function.split(" of '")[-1].split(".")[0].strip("'>") if " of '" in function else ""
        return f"C {owner or 'built-ins'}"
    stdlib = [p for p in parts if p.startswith("python3.")]
    if stdlib:
        return f"stdlib {parts[parts.index(stdlib[0]) + 1].removesuffix('.py')}"
    if filename.startswith("<"):
        return "C built-ins"
    return parts[-2] if len(parts) > 1 else filename


# The POST's steps, each a function whose cumulative time the profile reports.
STAGES = {
    "the enqueue (Celery's .delay)": ("celery/app/task.py", "delay"),
    "the form (parse, CSRF, validate)": ("site_glue/flask_site.py", "bound_form"),
}


def stage_shares(stats: dict, total: float) -> dict[str, float]:
    """Each of STAGES' share of the profiled time (cumulative: its callees included)."""
    shares = {}
    for stage, (suffix, function) in STAGES.items():
        spent = sum(
            cumtime
            for (filename, _, name), (_, _, _, cumtime, _) in stats.items()
            if name == function and filename.endswith(suffix)
        )
        shares[stage] = round(spent / total, 3)
    return shares


def profile_post(settings: Settings) -> tuple[pd.DataFrame, dict[str, float]]:
    """Share of a contact POST's CPU time per package, and per step (STAGES), the app run in
    this process."""
    app = create_celery_app(settings)
    client = app.test_client()
    token = csrf_token_from(client.get("/contact").get_data(as_text=True))
    for n in range(20):
        client.post("/contact", data={**contact_fields(n, 1), "csrf_token": token})
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(PROFILED):
        client.post("/contact", data={**contact_fields(n, 2), "csrf_token": token})
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (cc, nc, tottime, ...)
    spent: dict[str, float] = {}
    for (filename, _, function), (_, _, tottime, _, _) in stats.items():
        where = package_of(filename, function)
        spent[where] = spent.get(where, 0.0) + tottime
    total = sum(spent.values())
    table = pd.DataFrame(
        [{"package": p, "share": round(s / total, 3)} for p, s in spent.items()]
    ).sort_values("share", ascending=False)
    return table.reset_index(drop=True), stage_shares(stats, total)


def readme_section(table: pd.DataFrame, record: dict[str, object]) -> str:
    """The README's section of a stored run: CPU per request, and the POST's profile."""
    profile = pd.DataFrame(record["post_profile"])
    by = table.set_index("endpoint")["cpu_ms_per_request"]
    ratio = by["contact_post"] / by["home"]
    top = profile.head(8)
    lines = [
        measured_on(record) + f": the Celery app's gunicorn worker "
        f"(1 x 1), {record['requests']} requests of each kind in turn "
        "(`results/cpu_per_request.csv`).",
        "",
        "| request | worker CPU per request |",
        "|---|---|",
        f"| `GET /` (render the homepage) | {by['home']:.2f} ms |",
        "| `POST /contact` (validate, enqueue; rate limit off, as in the bench) | "
        f"{by['contact_post']:.2f} ms |",
        "",
        f"The POST costs {ratio:.1f}x the homepage. Where its CPU goes (cProfile, "
        f"{record['profiled']} POSTs, own time by package): "
        + ", ".join(f"{row.package} {100 * row.share:.0f}%" for row in top.itertuples())
        + ". By step (their callees included): "
        + ", ".join(f"{stage} {100 * share:.0f}%" for stage, share in record["post_stages"].items())
        + ". The hand-off itself, one `.delay()`, is Celery building its message and kombu "
        "publishing it to Redis; "
        + "the lab's own aim for its hand-off, the POST at most 2x the homepage, "
        + ("is met" if ratio <= 2 else f"is not met at {ratio:.1f}x")
        + " (an aim for the lab's code, not the article's C5: that one asks whether one process "
        "serves ~50 POSTs a second, the claims table in the README).",
    ]
    return "\n".join(lines) + "\n"


def measure_and_profile(base: Settings) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    with Stack("celery", with_free_ports(base)) as stack:
        table = pd.DataFrame(measure(stack))
        profile, stages = profile_post(stack.settings)
    return table, profile, stages


def main(argv: list[str] | None = None) -> int:
    parser = runner_parser(__spec__.name, __doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    base = Settings.from_env().replace(**SETTINGS)
    started = time.time()
    table, profile, stages = until_interrupted(lambda: measure_and_profile(base))
    record = run_record(
        started,
        base,
        requests=REQUESTS,
        profiled=PROFILED,
        post_profile=profile.to_dict(orient="records"),
        post_stages=stages,
    )
    print(publish(table, args.out, DEFAULT_OUT, record, "cpu-per-request", readme_section))
    return 0


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
