"""The article's claims C1-C10 for the README: each as the article says it, what the lab measured
or tested, the verdict and the criterion it applies, and the runs they rest on whose exact code
cannot be recovered."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from loadtests.analysis.claims import ARTICLE_BUSY_MS, ARTICLE_TOLERANCE, Claim
from loadtests.analysis.results import RESULTS_DIR
from loadtests.publishing import bench_report
from loadtests.publishing.scenario_claims import HOME_SLOW_X, scenario_claims
from loadtests.publishing.tables import markdown_table


def _bench_claims(results: Path) -> dict[str, Claim]:
    _report, found = bench_report.rebuild_report(results)
    return {claim.key: claim for claim in found}


def _chaos(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / "chaos.csv").set_index(["scenario", "app"])


def _lost(chaos: pd.DataFrame, scenario: str, app: str) -> str:
    row = chaos.loc[(scenario, app)]
    return f"{int(row['lost'])} of {int(row['accepted'])}"


# The runs the claims rest on, each with the record that names its commit.
CLAIM_RUNS = (
    ("make bench", "environment.json"),
    ("make bench-cpu", "cpu_per_request.json"),
    ("make bench-capacity", "capacity/web.json"),
    ("make bench-regimes", "regimes/summary.json"),
    ("make bench-open", "open/summary.json"),
    ("make chaos", "chaos.json"),
)


def claims(results: Path = RESULTS_DIR) -> pd.DataFrame:
    """C1-C10, each as the article says it, what the lab measured or tested, the verdict, and
    the criterion the verdict applies."""
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
            "none: a setting, not a finding",
        ),
        (
            "C2, C3",
            "~10 visitors sending the form make the ~80 ms homepage take ~8 s",
            "the sync homepage in each way visitors can arrive (in the article the ~10 "
            "visitors submit at once, which fits a burst or a synchronized start; it says no "
            "more about how they arrive); "
            + (
                "the ~8 s itself only in: "
                + "; ".join(f"{r['scenario']}, {r['sync homepage']}" for _, r in full.iterrows())
                if len(full)
                else "the ~8 s itself in none"
            ),
            c23,
            f"reproduced: the sync homepage's p50 within {ARTICLE_TOLERANCE:.0%} of "
            f"{ARTICLE_BUSY_MS / 1000:g} s; shape reproduced: its p95 >= 1 s and >= "
            f"{HOME_SLOW_X}x the idle one",
        ),
        (
            "C4",
            "with Celery the POST takes about 20 ms",
            bench["C4"].measured,
            bench["C4"].verdict,
            bench["C4"].criterion,
        ),
        (
            "C5",
            "one process serves ~50 such requests a second",
            bench["C5"].measured,
            bench["C5"].verdict,
            bench["C5"].criterion,
        ),
        (
            "C6",
            "async/await avoids the wait, but is shaky",
            bench["C6"].measured.split(";")[0]
            + "; when the web process was killed, the asyncio app lost "
            + _lost(chaos, "web-killed", "asyncio")
            + " accepted emails, its un-awaited-task shortcut (`asyncio+task`) "
            + _lost(chaos, "web-killed", "asyncio+task"),
            bench["C6"].verdict,
            bench["C6"].criterion + "; the shakiness is shown, not judged",
        ),
        (
            "C7",
            "Celery's queue outlives a crash of the app server",
            f"Celery lost {_lost(chaos, 'worker-killed', 'celery')} accepted emails when its "
            f"worker was killed, {_lost(chaos, 'web-killed', 'celery')} when the web server "
            f"was; a thread in the web process lost {_lost(chaos, 'web-killed', 'sync+thread')}",
            "reproduced" if worker_lost == web_lost == 0 else "not reproduced",
            "Celery loses no accepted email when its worker or the web server is killed",
        ),
        (
            "C8",
            "failed tasks are retried with exponential backoff",
            f"provider refusing everything for a while: Celery lost "
            f"{_lost(chaos, 'provider-outage', 'celery')} accepted emails; the backoff, "
            "doubling from `RETRY_BASE_S`: `tests/test_celery_guarantees.py`",
            "reproduced" if outage_lost == 0 else "not reproduced",
            "Celery loses no accepted email through the provider's outage",
        ),
        (
            "C9",
            "tasks can be rate limited per visitor",
            "429 with the form kept, in all three apps (`tests/test_rate_limit.py`)",
            "tested",
            "the test passes against the real stack",
        ),
        (
            "C10",
            "the visitor does not care whether the email took 500 ms or 5 s",
            "the email's delay, apart from the page's: "
            + bench["C10"].measured.removeprefix("every accepted email counted: "),
            bench["C10"].verdict,
            "none: shown, with nothing to pass or fail",
        ),
    ]
    return pd.DataFrame(
        rows, columns=["claim", "the article", "measured here", "verdict", "criterion"]
    )


def untraceable_runs(results: Path = RESULTS_DIR) -> list[str]:
    """The runs behind the claims whose code differed from their commit in files not recorded."""
    named = []
    for command, path in CLAIM_RUNS:
        record = json.loads((results / path).read_text())
        if record.get("git_uncommitted_changes") and not record.get("git_uncommitted_files"):
            named.append(f"{command} (commit {record['git_commit']})")
    return named


def claims_section(results: Path = RESULTS_DIR) -> str:
    text = markdown_table(claims(results)) + "\n"
    untraced = untraceable_runs(results)
    if untraced:
        text += (
            "\nSome runs behind this table ran on code with uncommitted changes their record "
            "does not list, so the exact code they ran cannot be recovered: "
            f"{', '.join(untraced)}.\n"
        )
    return text
