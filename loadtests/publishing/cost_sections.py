"""What `make bench-cost` publishes from `results/cost/`: its section of docs/results.md (the
smallest size that held, per way of growing a hand-off and arrival rate, beside the model's; the
figure; where the machine's cores run out) and the README's one sentence under its answer.
Until that run exists, the section says so and the sentence is absent.

    python -m loadtests.publishing.cost_sections   # redraw the figure, rewrite the section
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pandas as pd

from lab_hand_offs import hand_off as registered
from loadtests.analysis import cost_plots
from loadtests.analysis.cost_limits import (
    NO_SIZE,
    NO_SIZE_WHY,
    beyond_sizes,
    machine_limits,
    predictions_from,
    size_cell,
)
from loadtests.analysis.cost_plan import CostPlan, family_named
from loadtests.analysis.cost_summary import held_configurations
from loadtests.analysis.plots import save
from loadtests.analysis.results import RESULTS_DIR
from loadtests.publishing.cost_tables import needed as needed_table
from loadtests.publishing.cost_tables import size_words
from loadtests.publishing.records import commit_of, measured_on, update_section
from loadtests.publishing.tables import markdown_table

MARKER = "cost"
FIGURE = Path("plots") / "cost.png"  # under results/, beside the other published figures
SECTION = "docs/results.md#the-cost-of-meeting-the-same-target-make-bench-cost"
# The answer the section is for: "then run more sync workers".
SYNC_WORKERS = "sync x WEB_CONCURRENCY"
NOT_MEASURED = (
    "Not measured yet: `make bench-cost` writes `results/cost/` and, from it, this section "
    "and the sentence under the README's answer.\n"
)


@dataclass(frozen=True)
class CostRun:
    """A stored `make bench-cost` run: every configuration measured (`summary`), the smallest
    size that held beside the predicted one (`needed`), the model's sizes past the rates
    measured (`beyond`), and what it ran on and with (`record`)."""

    summary: pd.DataFrame
    needed: pd.DataFrame
    beyond: pd.DataFrame
    record: dict[str, object]

    @classmethod
    def read(cls, results: Path = RESULTS_DIR) -> CostRun | None:
        """The run under `results`/cost/; None where there is none (no needed.csv)."""
        folder = results / "cost"
        if not (folder / "needed.csv").exists():
            return None
        return cls(
            pd.read_csv(folder / "summary.csv"),
            pd.read_csv(folder / "needed.csv"),
            pd.read_csv(folder / "beyond.csv"),
            json.loads((folder / "summary.json").read_text()),
        )

    @property
    def plan(self) -> CostPlan:
        return CostPlan.from_record(self.record["plan"])

    @property
    def cores(self) -> int:
        return int(self.record["machine"]["cores"])

    def shown(self) -> pd.DataFrame:
        """The smallest size that held (or the largest tried) with its settings."""
        return held_configurations(self.needed, self.summary)


def limits_section(run: CostRun) -> str:
    """Where this machine's cores run out per way of growing, and the model's sizes past the
    rates measured, marked where they need a bigger machine."""
    plan, cores = run.plan, run.cores
    limits = machine_limits(plan, cores, run.summary).set_index("family")
    sizes = beyond_sizes(plan, cores, predictions_from(run.beyond), run.summary)
    busy = f"{plan.max_utilisation:.0%}"
    rows = []
    for name, beyond in sizes.groupby("family", sort=False):
        limit = limits.loc[name]
        one = limit["one_process_per_s"]
        row = {
            "way of growing": name,
            "one visitor's CPU, planned / measured": f"{limit['planned_cpu_ms']:.0f} / "
            f"{limit['measured_cpu_ms']:.0f} ms",
            f"cores {busy} busy at, planned / measured": f"{limit['planned_limit_per_s']:.0f}"
            f" / {limit['measured_limit_per_s']:.0f} visitors/s",
            "one web process's CPU full at": "-" if pd.isna(one) else f"{one:.0f} visitors/s",
        }
        for _, b in beyond.iterrows():
            past = b["past_machine"] and pd.notna(b["n"])
            row[f"the model at {b['rate']:g}/s"] = size_cell(b) + (
                ", past this machine" if past else ""
            )
        rows.append(row)
    footnote = f"\n\n{NO_SIZE}: {NO_SIZE_WHY}." if sizes["n"].isna().any() else ""
    return (
        f"Where this {cores}-core machine becomes the limit. Every visitor costs CPU on these "
        "cores: the web tier's three requests, the Celery worker's send where there is one, "
        "the provider's receipt and the load generator's requests; past the rate that keeps "
        f"them {busy} busy no size meets the target here. *Planned*: the plan's figures, "
        "before the run; *measured*: this run's CPU per request (each part's idle upkeep "
        "included, so an upper bound). Where the size grows inside one web process (threads, "
        "greenlets, an event loop) or beside it (Celery's senders), that process's CPU fills "
        "first, at the fourth column's rate: past it only more web processes help. "
        "The model knows no cores: past the rates measured it predicts the sizes on the right, "
        "as size (processes, memory at what this run measured each process to weigh):\n\n"
        + markdown_table(pd.DataFrame(rows))
        + footnote
    )


def cost_section(run: CostRun) -> str:
    plan, record = run.plan, run.record
    return (
        f"{measured_on(record)}; {record['wall_time_s'] / 60:.0f} minutes. Provider delay "
        f"{plan.delay_s:g} s. Visitors arrive at random (Poisson, seed {plan.seed}: the same "
        "schedule for every way of growing at a rate), each making the journey once; the "
        f"homepage probe {plan.probe_rate:g}/s. Each size warmed up {plan.warmup_s:g} s, then "
        f"was measured over {plan.window_s:g} s; each prediction replayed "
        f"{plan.model_visitors:,} arrivals through the model (`results/cost/summary.csv`, "
        "`needed.csv`, `beyond.csv`).\n\n"
        f"The target, at every rate: {plan.target.describe()}.\n\n"
        "The smallest size that held, per arrival rate and way of growing; in brackets, the "
        "model's prediction (its processes, and its memory at what this run measured each "
        "process of that way to weigh):\n\n"
        + markdown_table(needed_table(run.shown()))
        + "\n\n![Processes and memory that met the target, measured and predicted, against "
        f"the arrival rate](results/{FIGURE.as_posix()})\n\n" + limits_section(run) + "\n"
    )


def results_section(results: Path = RESULTS_DIR) -> str:
    """The section of docs/results.md, or that it has not been measured yet."""
    run = CostRun.read(results)
    return NOT_MEASURED if run is None else cost_section(run)


def _costs(rows: pd.DataFrame, first: bool) -> str:
    """What one app needed, each way of growing it: `5 workers (7 processes, 116 MB)`, `or 1
    worker x 5 threads (...)`, `and 1 worker x 4-7 threads did not meet it`; `at most` where the
    smallest size tried held (and a smaller one exists)."""
    text = ""
    for _, row in rows.iterrows():
        family, web_workers = family_named(row["family"]), int(row["web_workers"])
        if pd.isna(row["measured_n"]):
            text += f"{', and ' if text else ''}{size_words(family, row['tried'], web_workers)}"
            text += " did not meet it"
            continue
        unit = "MB of memory" if first and not text else "MB"
        size = size_words(family, str(int(row["measured_n"])), web_workers)
        # The smallest size tried held: it is the fewest known to hold, not the fewest that do.
        fewer = 1 < row["measured_n"] == row["least_tried"]
        text += f"{' or ' if text else ''}{'at most ' if fewer else ''}{size} "
        text += f"({int(row['processes'])} processes, {row['pss_mb']:.0f} {unit}"
        text += "; fewer not tried)" if fewer else ")"
    return text


def _app(name: str) -> str:
    how = registered(name)
    if how.kind == "web tier":
        return f"the {how.app} app under {how.settings['web_worker_class']}"
    return f"the {name} app"


def _terms(hand_offs: list[str]) -> str:
    """The words the sentence sizes things in, defined before it uses them."""
    hows = [registered(h) for h in hand_offs]
    said = [
        "here a *worker* is one of gunicorn's web processes, serving one request at a time, or "
        "one per *thread* it runs",
        *(how.gloss for how in hows if how.gloss),
    ]
    if any(how.has_queue for how in hows):
        said.append("Celery's own workers, which empty its queue, are its *email senders*")
    said.append(
        "*processes* counts every process the site runs: gunicorn's workers and the master "
        "process that starts them, Redis, and Celery's where it has them"
    )
    text = "; ".join(said)
    return f"({text[0].upper()}{text[1:]}.)"


def finding(results: Path = RESULTS_DIR) -> str:
    """The README's sentence under its answer: what each way of growing needed to meet the
    target at the highest rate the sync app's workers met it; "" without the run."""
    run = CostRun.read(results)
    if run is None:
        return ""
    shown, plan, record = run.shown(), run.plan, run.record
    sync = shown[(shown["family"] == SYNC_WORKERS) & shown["measured_n"].notna()]
    rate = (sync if len(sync) else shown)["rate"].max()
    at = shown[shown["rate"] == rate]
    apps = at["family"].map(lambda name: family_named(name).hand_off)
    first = family_named(SYNC_WORKERS).hand_off
    parts: list[str] = []
    named = sorted(apps.unique(), key=lambda h: h != first)  # stable: else as run
    for hand_off in named:
        costs = _costs(at[apps == hand_off], first=not parts)
        parts.append(f"{_app(hand_off)} needed {costs}")
    return (
        f"**Then why not just run more sync workers?** {_terms(named)} To meet one target "
        f"({plan.target.describe()}) with visitors arriving at random, {rate:g} a second on "
        f"average, and a {plan.delay_s:g} s email provider, {'; '.join(parts)} "
        f"(`make bench-cost`, {record['date'][:10]}, {run.cores} cores, commit "
        f"{commit_of(record)}; every rate, the model's predictions and where the machine runs "
        f"out: [docs/results.md]({SECTION})).\n"
    )


def publish(results: Path = RESULTS_DIR) -> Path:
    """Redraw the figure into results/plots/ and rewrite the section from `results`."""
    matplotlib.use("Agg")
    run = CostRun.read(results)
    if run is not None:
        figure = cost_plots.cost_of_target(run.needed, run.plan.target.describe())
        save(figure, results / FIGURE)
    return update_section(results_section(results), MARKER)


def main() -> int:
    publish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
