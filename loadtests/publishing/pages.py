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

from loadtests.analysis import long_run, open_estimates
from loadtests.analysis.bench_plan import Plan
from loadtests.analysis.model import Scenario
from loadtests.analysis.open_arrivals_plan import OpenPlan, quick
from loadtests.analysis.open_estimates import fmt_pm
from loadtests.analysis.open_plots import first_runs
from loadtests.analysis.open_summary import point_line as open_point_line
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import PROJECT_ROOT, RESULTS_DIR, load_summary
from loadtests.analysis.summary import collapse_repeats
from loadtests.publishing import bench_report, compare, cost_sections
from loadtests.publishing.article_claims import claims_section
from loadtests.publishing.class_plan import class_plan_section
from loadtests.publishing.records import commit_of, update_section

ARTICLE = (
    'Nick Janetakis, "[4 use cases for when to use Celery in a Flask application]'
    '(https://nickjanetakis.com/blog/4-use-cases-for-when-to-use-celery-in-a-flask-application)"'
    " (2019)"
)


def code_of(record: dict[str, object]) -> str:
    """The commit a run names, and plainly whether its exact code can be recovered."""
    named = f"commit {commit_of(record)}"
    if record.get("git_uncommitted_changes") and not record.get("git_uncommitted_files"):
        return f"{named}, so the exact code it ran cannot be recovered"
    return named


def answer(results: Path = RESULTS_DIR) -> str:
    """One sentence: the homepage under the same open arrivals, sync against the hand-offs, each
    figure with its 95% interval; then, where `results/cost/` holds its run, one more: what
    meeting one target cost each."""
    open_csv = results / "open" / "summary.csv"
    points = open_estimates.load(results / "open")
    top = points["rho"].max()
    at = points[points["rho"] == top].set_index("hand_off")
    sync = at.loc["sync"]
    record = json.loads(open_csv.with_suffix(".json").read_text())
    again = "".join(
        f" ({len(a['runs'])} of its runs measured again at commit {a['git_commit']})"
        for a in record.get("measured_again", [])
    )
    return (
        "**A slow call inside the request makes every other page wait; handed to a worker, it "
        f"does not.** With visitors arriving at random, {sync['offered_rate']:.2f} a second on "
        f"average, and an email provider that takes {sync['delay_s']:g} s, the homepage of the "
        "sync app (it sends the email inside the request) took "
        f"{_pm(sync, 'windows_p95')} for the slowest 5 in 100 loads (its p95; "
        f"{_pm(sync, 'windows_mean')} on average), measured over {int(sync['schedules'])} "
        f"windows (measuring periods) of {sync['window_s']:.0f} s; with the email handed to "
        "Celery (a queue that a separate worker process empties), "
        f"{_pm(at.loc['celery'], 'home_p95')}; with asyncio (the app awaits the provider and "
        f"serves other pages meanwhile), {_pm(at.loc['asyncio'], 'home_p95')}. The sync app's "
        f"one worker process was busy {sync['true_rho']:.0%} of the time; that close to its "
        "capacity, windows this short read low: over a long day the lab's queueing model (a "
        "simulation of the requests waiting in line for the sync worker), calibrated on those "
        f"windows, puts the sync p95 at {_pm(sync, 'home_p95')} (mean "
        f"{_pm(sync, 'home_mean')}).\n\n"
        "![The sync app's homepage climbs with the arrival rate; Celery's and asyncio's stay "
        "flat](results/plots/open_arrivals.png)\n\n"
        f"`make bench-open`, {record['date'][:10]}, {record['machine']['cores']} cores, "
        f"{code_of(record)}{again}. Every app received the same {int(sync['schedules'])} "
        "schedules of arrivals (random: *Poisson*, each arrival independent of the last); \u00b1 "
        "is half the 95% interval (a range that holds the true figure in 95 such measurements "
        "of 100). One window alone varies "
        f"widely: a single {sync['window_s']:.0f} s window of the sync app at this rate shows a "
        f"p95 anywhere from {fmt_ms(sync['window_p95_p10_ms'])} to "
        f"{fmt_ms(sync['window_p95_p90_ms'])} (where the model puts 8 schedules of 10). How the "
        "figures are made, and every rate and every way of handing the email off: "
        "[docs/results.md](docs/results.md).\n" + _then_more_workers(results)
    )


def _pm(row: pd.Series, name: str) -> str:
    return fmt_pm(row[f"{name}_ms"], row[f"{name}_low_ms"], row[f"{name}_high_ms"])


def _then_more_workers(results: Path) -> str:
    """The cost of meeting one target, in one sentence, once `make bench-cost` has run."""
    sentence = cost_sections.finding(results)
    return f"\n{sentence}" if sentence else ""


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


def _open_point_line(results: Path, rho: float) -> str:
    """The line the reference sweep printed after its sync point at `rho` (its first schedule)."""
    runs = first_runs(pd.read_csv(results / "open" / "summary.csv"))
    row = runs[(runs["hand_off"] == "sync") & (runs["rho"] == rho)].iloc[0]
    return open_point_line(row.to_dict())


def _quick_spread(results: Path, sweep: OpenPlan, rho: float) -> str:
    """How far the quick sweep's one window of the sync app strays at `rho`, by the model fed
    the reference's service times, beside the reference's steady state."""
    points = open_estimates.load(results / "open")
    ref = points[(points["hand_off"] == "sync") & (points["rho"] == rho)].iloc[0]
    warmup, window = sweep.timing("sync", rho)
    base = Scenario(
        0,
        (ref["post_service_ms"] - ref["idle_ms"]) / 1000,
        probe_rate=sweep.probe_rate,
        service_s=ref["idle_ms"] / 1000,
    )
    _mean, (low, high), _avg = long_run.window_spread(base, sweep.rate(rho), warmup, window)
    return (
        f"at rho {rho:g} the sweep measures the sync app once, for {window:.0f} s, and one window "
        f"that short shows a p95 anywhere from {fmt_ms(low * 1000)} to {fmt_ms(high * 1000)} "
        "(where the model puts 8 schedules of 10), against the long day's "
        f"{_pm(ref, 'home_p95')} the model predicts from the reference's "
        f"{int(ref['schedules'])} longer windows. Yours should "
        "land in that range 8 times in 10 (1 in 5 falls outside by chance alone); the sweep "
        "prints the range for your own run too"
    )


def commands_section(results: Path = RESULTS_DIR) -> str:
    """How long `make bench` takes by its plans, and what it prints first and last."""
    bench, sweep = Plan(), OpenPlan(**quick())
    top = max(sweep.rhos)
    table = collapse_repeats(load_summary(results)[load_summary(results)["generator"] == "locust"])
    minutes = (bench.total_estimate_s() + sweep.total_estimate_s()) / 60
    return (
        f"`make bench` takes about {minutes:.0f} minutes on 2 cores, after the first install, "
        "in two parts, each announcing its time from its own plan before it starts. First the "
        f"short open-arrival sweep (about {sweep.total_estimate_s() / 60:.0f} min): its plan, "
        f"then one line per point (here the reference run's sync point at rho {top:g}, from "
        "`make bench-open`):\n\n"
        "```\n" + sweep.announcement() + "\n...\n  " + _open_point_line(results, top) + "\n```\n\n"
        f"The reference's figures at rho {', '.join(f'{r:g}' for r in sweep.rhos)} are the ones "
        "to set yours beside ([docs/results.md](docs/results.md#the-same-load-for-every-hand-off-"
        "make-bench-open)), with the same provider delay; but "
        + _quick_spread(results, sweep, top)
        + ".\n\n"
        f"Then the closed loop and the burst (about {bench.total_estimate_s() / 60:.0f} min); "
        "its plan, then one line per point (here the reference run's sync point at 10 "
        "visitors):\n\n"
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
    update_section(class_plan_section(), "class-plan")


if __name__ == "__main__":
    publish()
