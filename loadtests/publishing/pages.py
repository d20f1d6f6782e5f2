"""The sections of the README and docs/ made from `results/`, the plans and the pins rather than
by one runner: the answer with its figure, the article's claims C1-C10 each with its verdict,
how long `make bench` takes and what it prints, and what `make setup` installs.

    python -m loadtests.publishing.pages     # rewrite those sections
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pandas as pd

from loadtests.analysis.claims import Claim
from loadtests.analysis.open_plots import first_runs
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import PROJECT_ROOT, RESULTS_DIR, load_summary
from loadtests.analysis.summary import collapse_repeats
from loadtests.publishing import bench_report, compare
from loadtests.publishing.records import update_section
from loadtests.publishing.scenario_claims import scenario_claims
from loadtests.publishing.tables import markdown_table
from loadtests.runners.bench_plan import Plan
from loadtests.runners.open_arrivals_plan import OpenPlan, quick

ARTICLE = (
    'Nick Janetakis, "[4 use cases for when to use Celery in a Flask application]'
    '(https://nickjanetakis.com/blog/4-use-cases-for-when-to-use-celery-in-a-flask-application)"'
    " (2019)"
)


def answer(results: Path = RESULTS_DIR) -> str:
    """One sentence: the homepage under the same open arrivals, sync against the hand-offs."""
    open_csv = results / "open" / "summary.csv"
    runs = first_runs(pd.read_csv(open_csv))
    top = runs[runs["rho"] < 1]["rho"].max()
    at = runs[runs["rho"] == top].set_index("hand_off")
    sync = at.loc["sync"]
    record = json.loads(open_csv.with_suffix(".json").read_text())
    return (
        "**A slow call inside the request makes every other page wait; handed to a worker, it "
        f"does not.** With visitors arriving at random at {sync['offered_rate']:.2f} a second "
        f"and an email provider that takes {sync['delay_s']:g} s, the sync app's homepage took "
        f"{fmt_ms(sync['home_p95_ms'])} for the slowest 5 in 100 loads (its p95; "
        f"{fmt_ms(sync['home_mean_ms'])} on average); with the email handed to Celery, "
        f"{fmt_ms(at.loc['celery', 'home_p95_ms'])}; with asyncio, "
        f"{fmt_ms(at.loc['asyncio', 'home_p95_ms'])}.\n\n"
        "![The sync app's homepage climbs with the arrival rate; Celery's and asyncio's stay "
        "flat](results/plots/open_arrivals.png)\n\n"
        f"`make bench-open`, {record['date'][:10]}, {record['machine']['cores']} cores "
        f"(`results/open/summary.csv`; every rate and hand-off in [docs/results.md]"
        "(docs/results.md)).\n"
    )


def _bench_claims(results: Path) -> dict[str, Claim]:
    _report, found = bench_report.rebuild_report(results)
    return {claim.key: claim for claim in found}


def _first_clause(text: str) -> str:
    return text.split(";")[0].split(": at most")[0]


def _chaos(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / "chaos.csv").set_index(["scenario", "app"])


def _lost(chaos: pd.DataFrame, scenario: str, app: str) -> str:
    row = chaos.loc[(scenario, app)]
    return f"{int(row['lost'])} of {int(row['accepted'])}"


def claims(results: Path = RESULTS_DIR) -> pd.DataFrame:
    """C1-C10, each as the article says it, what the lab measured or tested, and the verdict."""
    bench = _bench_claims(results)
    scenarios = scenario_claims(results)
    chaos = _chaos(results)
    env = json.loads((results / "environment.json").read_text())
    open_delay = pd.read_csv(results / "open" / "summary.csv")["delay_s"].iloc[0]
    verdicts = scenarios["verdict"].value_counts()
    full = scenarios[scenarios["verdict"] == "reproduced"]
    c23 = ", ".join(f"{v} in {n} of {len(scenarios)} ways" for v, n in verdicts.items())
    worker_lost = chaos.loc[("worker-killed", "celery"), "lost"]
    web_lost = chaos.loc[("web-killed", "celery"), "lost"]
    outage_lost = chaos.loc[("provider-outage", "celery"), "lost"]
    rows = [
        (
            "C1",
            "the provider takes 500 ms to 20 s, or times out; you control none of it",
            f"a setting (`PROVIDER_DELAY_S`): the bench uses {env['plan']['delay_s']:g} s, "
            f"the open sweep {open_delay:g} s",
            "premise",
        ),
        (
            "C2, C3",
            "~10 visitors sending the form make the ~80 ms homepage take ~8 s",
            "the sync homepage in each way visitors can arrive; "
            + (
                f"the ~8 s itself: {full['scenario'].iloc[0]}, {full['sync homepage'].iloc[0]}"
                if len(full)
                else "the ~8 s itself in none"
            ),
            c23,
        ),
        ("C4", "with Celery the POST takes about 20 ms", bench["C4"].measured, bench["C4"].verdict),
        (
            "C5",
            "one process serves ~50 such requests a second",
            _first_clause(bench["C5"].measured),
            bench["C5"].verdict,
        ),
        (
            "C6",
            "async/await avoids the wait, but is shaky",
            _first_clause(bench["C6"].measured)
            + "; its un-awaited task lost "
            + _lost(chaos, "web-killed", "asyncio+task")
            + " accepted emails when the web process was killed",
            bench["C6"].verdict,
        ),
        (
            "C7",
            "Celery's queue outlives a crash of the app server",
            f"web server killed: Celery lost {_lost(chaos, 'web-killed', 'celery')} accepted "
            f"emails, a thread in the web process {_lost(chaos, 'web-killed', 'sync+thread')}",
            "reproduced" if worker_lost == web_lost == 0 else "not reproduced",
        ),
        (
            "C8",
            "failed tasks are retried with exponential backoff",
            f"provider refusing everything for a while: Celery lost "
            f"{_lost(chaos, 'provider-outage', 'celery')} accepted emails; the backoff, "
            "doubling from `RETRY_BASE_S`: `tests/test_celery_guarantees.py`",
            "reproduced" if outage_lost == 0 else "not reproduced",
        ),
        (
            "C9",
            "tasks can be rate limited per visitor",
            "429 with the form kept, in all three apps (`tests/test_rate_limit.py`)",
            "tested",
        ),
        (
            "C10",
            "the visitor does not care whether the email took 500 ms or 5 s",
            "the email's delay, apart from the page's: "
            + _first_clause(bench["C10"].measured).removeprefix("every accepted email counted: "),
            bench["C10"].verdict,
        ),
    ]
    return pd.DataFrame(rows, columns=["claim", "the article", "measured here", "verdict"])


def claims_section(results: Path = RESULTS_DIR) -> str:
    return markdown_table(claims(results)) + "\n"


def _sync_point_line(results: Path, visitors: int) -> str:
    """The line the bench printed after the reference's sync point, rebuilt from its summary
    and its model (the prediction fed that run's own service times)."""
    summary, model = load_summary(results), pd.read_csv(results / "model.csv")
    first = {"app": "sync", "visitors": visitors, "generator": "locust", "repeat": 1}
    rows = summary[(summary[list(first)] == pd.Series(first)).all(axis=1)]
    predicted = model[(model[list(first)] == pd.Series(first)).all(axis=1)]["p50_ms"].iloc[0]
    counts = ("n", "errors", "pending", "accepted", "delivered", "queued_at_bound")
    records = [
        {k: int(v) if k in counts and v == v else v for k, v in row.items()}  # v == v: not NaN
        for row in rows.to_dict("records")
    ]
    return bench_report.point_line(records, float(predicted))


def commands_section(results: Path = RESULTS_DIR) -> str:
    """How long `make bench` takes by its plans, and what it prints first and last."""
    bench, sweep = Plan(), OpenPlan(**quick())
    sweep_points = sweep.points()
    table = collapse_repeats(load_summary(results)[load_summary(results)["generator"] == "locust"])
    minutes = (bench.total_estimate_s() + sweep.total_estimate_s()) / 60
    return (
        f"`make bench` takes about {minutes:.0f} minutes on 2 cores, after the first install: "
        f"a short open-arrival sweep ({len(sweep_points)} points, about "
        f"{sweep.total_estimate_s() / 60:.0f} min), then the closed loop and the burst (about "
        f"{bench.total_estimate_s() / 60:.0f} min), each announcing its time from its own plan "
        "before it starts. Its first lines of the closed loop, one per point (here the "
        "reference run's sync point at 10 visitors):\n\n"
        "```\n"
        + bench_report.plan_line(bench, len(bench.sustained_points()), len(bench.burst_points()))
        + "\n...\n    "
        + _sync_point_line(results, 10)
        + "\n```\n\n"
        "It ends with your numbers beside the reference's and, last, the verdict on the shape "
        "(here with the reference in place of your run):\n\n"
        "```\n" + compare.verdict(table, table) + "\n```\n"
    )


def install_section(root: Path = PROJECT_ROOT) -> str:
    """What `make setup` installs, counted from the pins and the project's own metadata."""
    pins = [line for line in (root / "requirements.txt").read_text().splitlines() if "==" in line]
    python = tomllib.loads((root / "pyproject.toml").read_text())["project"]["requires-python"]
    return (
        f"`make setup` creates `.venv` with CPython {python.removeprefix('>=')} or newer and "
        f"installs {len(pins)} pinned packages (`requirements.txt`: the apps, Celery, Locust, "
        "Jupyter, pandas, matplotlib, the test tools), all from wheels; `make doctor` prints "
        "the size the venv takes on disk. Nothing else "
        "is downloaded at run time: the notebooks read the committed `results/`.\n"
    )


def publish(results: Path = RESULTS_DIR) -> None:
    update_section(answer(results), "answer")
    update_section(claims_section(results), "claims")
    update_section(commands_section(results), "commands")
    update_section(install_section(), "install")


if __name__ == "__main__":
    publish()
