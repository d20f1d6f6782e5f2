"""What the one-class notebook (`notebooks/00-one-class.ipynb`) reads, the givens each prediction
states, and how a reveal sets the measurement beside the class's prediction and the textbook's.

Each table comes from the student's own run where it has that measurement (`LAB_RUN=local`:
`make bench` writes a short open sweep into `results/local/open/`), else from the committed
reference; `whose` says which, and every figure and table in the notebook says it too.

A reveal shows nothing measured until its prediction is set: the notebook's `INSTRUCTOR = True`
(or `LAB_INSTRUCTOR=1` in the environment) shows every reveal without one, to prepare the class.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from loadtests.analysis import queue_view
from loadtests.analysis.model import (
    article_wait_s,
    md1_wait_s,
    open_overload_slope,
    predict,
    steady_scenario,
    textbook_overload_slope,
)
from loadtests.analysis.open_plots import SLOW_MS, first_runs
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR, load_environment, percentile, run_path
from loadtests.publishing.playground import Setting
from loadtests.runners import live_minute
from loadtests.runners.live_minute import LiveMinute

CLASS_APPS = ("sync", "celery", "asyncio")  # the three apps the class compares
NEAR = 1.25  # a prediction within this factor of a value is "within a quarter" of it


@dataclass(frozen=True)
class Source:
    table: pd.DataFrame
    path: Path
    record: dict[str, object]

    @property
    def whose(self) -> str:
        return "the reference" if RESULTS_DIR.resolve() == self.path.parents[1] else "your run"

    def about(self) -> str:
        m = self.record["machine"]
        rel = os.path.relpath(self.path, RESULTS_DIR.parent)
        return (
            f"{self.whose} (`{rel}`, {str(self.record['date'])[:10]}, {m['cpu_model']}, "
            f"{m['cores']} cores)"
        )


def _source(name: str, table: str = "summary.csv") -> Source:
    """`<run>/<name>/<table>` of the run `LAB_RUN` names (`local`: `results/local/`, or a
    folder) when it has that measurement, else the reference's."""
    chosen = run_path() / name / table
    path = (chosen if chosen.exists() else RESULTS_DIR / name / table).resolve()
    return Source(pd.read_csv(path), path, json.loads(path.with_suffix(".json").read_text()))


def _said(value: float, unit: str) -> str:
    return fmt_ms(value * 1000) if unit == "s" else f"{value:+.2f}{unit}"


def closeness(predicted: float, value: float, it: str = "") -> str:
    """How a prediction stands to a value: "within a quarter", "under by 2.2x", "over by 1.3x";
    `it` names the value ("under it by 2.2x") where the sentence needs it."""
    if predicted == value:
        return f"exactly{it}"
    side = "under" if predicted < value else "over"
    if predicted <= 0 or value <= 0:
        return f"{side}{it}"
    ratio = max(value / predicted, predicted / value)
    if ratio <= NEAR:
        return f"within a quarter{' of' + it if it else ''}"
    return f"{side}{it} by {ratio:.1f}x"


def reveal(
    what: str,
    predicted: float | None,
    measured: float,
    unit: str = "s",
    textbook: tuple[str, float] | None = None,
) -> Markdown:
    """The measurement beside the class's prediction (in `unit`: "s", or "/s" for rates), and,
    given `textbook` (its name, its answer), the formula's answer with where the prediction
    stands to it: a student who used the formula sees that they did, not only that they missed."""
    shown = _said(measured, unit)
    if predicted is None:  # only the instructor's copy reveals without a prediction
        text = f"**{what}**: measured **{shown}** (no prediction set)."
    else:
        said = _said(predicted, unit)
        text = (
            f"**{what}**: you predicted {said}; measured **{shown}** "
            f"({closeness(predicted, measured)})."
        )
    if textbook is not None:
        name, answer = textbook
        text += f" The {name} gives {_said(answer, unit)}"
        if predicted is not None:
            text += f" (your prediction: {closeness(predicted, answer, ' it')})"
        text += "."
    return Markdown(text)


@dataclass(frozen=True)
class ClassData:
    open: Source  # every hand-off under the same Poisson arrivals
    regimes: Source  # the closed loop from two starts
    series: pd.DataFrame  # the regimes' p50 per minute
    email: Source  # the Celery email worker below and above its capacity
    instructor: bool = False  # True: every reveal shows without a prediction

    @property
    def steady(self) -> pd.DataFrame:
        """The open sweep's first run of each point below capacity, for the three apps."""
        runs = first_runs(self.open.table)
        return runs[(runs["rho"] < 1) & runs["hand_off"].isin(CLASS_APPS)]

    @property
    def overload(self) -> pd.Series | None:
        """The sync app's first run past capacity, if the sweep has one."""
        runs = first_runs(self.open.table)
        over = runs[(runs["hand_off"] == "sync") & (runs["rho"] > 1)]
        return None if over.empty else over.iloc[0]

    def _others(self) -> list[str]:
        return [h for h in self.open.table["hand_off"].unique() if h not in CLASS_APPS]

    def at(self, hand_off: str, rho: float) -> pd.Series:
        rows = self.steady[(self.steady["hand_off"] == hand_off) & (self.steady["rho"] == rho)]
        return rows.iloc[0]

    def ready(self, number: int, *predicted: float | None) -> bool:
        """Whether prediction `number`'s reveal may show; if not, it says what to do instead."""
        if self.instructor or all(p is not None for p in predicted):
            return True
        display(
            Markdown(
                f"*Set your prediction in the cell marked `# Prediction {number}` above, then "
                "run this cell again.* Nothing measured is shown until then."
            )
        )
        return False

    def about(self) -> Markdown:
        return Markdown(
            "Open arrivals: "
            + self.open.about()
            + ". The closed loop's two starts: "
            + self.regimes.about()
            + ". The email worker: "
            + self.email.about()
            + "."
        )

    def playground_setting(self, rho: float) -> Setting:
        """The model's sliders at prediction 1's conditions (open arrivals at `rho`, the sync
        run's provider, web tier and window), its closed loop at prediction 3's visitors and
        think time."""
        row, plan = self.at("sync", rho), self.regimes.record["plan"]
        settings = self.open.record["settings"]
        return Setting(
            load="open",
            rho=rho,
            delay_s=float(row["delay_s"]),
            seconds=float(row["window_s"]),
            visitors=int(plan["visitors"]),
            think_s=float(plan["think_s"]),
            workers=int(settings["web_workers"]),
            threads=int(settings["web_threads"]),
        )

    # The givens of each prediction: the conditions the run had, never its outcome.

    def open_givens(self, rho: float) -> Markdown:
        plan, settings = self.open.record["plan"], self.open.record["settings"]
        row = self.at("sync", rho)
        return Markdown(
            f"Provider delay **{row['delay_s']:g} s** per email, so one worker serves at most "
            f"{1 / row['delay_s']:g} visitors/s; web tier for every app **"
            f"{settings['web_workers']} worker x {settings['web_threads']} thread**; the Celery "
            f"app's email worker has {plan['celery_concurrency']} processes. At rho {rho:g} "
            f"visitors arrive at **{row['offered_rate']:.2f}/s** on average. Probes: "
            f"{plan['probe_rate']:g} a second; the sync run measured for {row['window_s']:g} s "
            f"after a {row['warmup_s']:g} s warm-up. Shown: the {', '.join(CLASS_APPS)} apps "
            f"(the sweep's other hand-offs, {', '.join(self._others())}: notebook 03)."
        )

    def overload_givens(self) -> Markdown:
        r = self.overload
        if r is None:
            return Markdown(f"{self.open.whose.capitalize()} has no overload point.")
        return Markdown(
            f"The same sync app and provider ({r['delay_s']:g} s). Visitors arrived at "
            f"**{r['achieved_rate']:.2f}/s** against the worker's {1 / r['delay_s']:g}/s: rho "
            f"{r['achieved_rate'] * r['delay_s']:.2f}. Measured over {r['window_s']:g} s after "
            f"a {r['warmup_s']:g} s warm-up."
        )

    def regimes_givens(self) -> Markdown:
        plan, settings = self.regimes.record["plan"], self.regimes.record["settings"]
        settle = float(self.regimes.table["settle_s"].iloc[0])
        return Markdown(
            f"**{plan['visitors']} visitors**, provider delay **{plan['delay_s']:g} s** (not "
            f"the open runs' delay), think time **{plan['think_s']:g} s** on average between "
            f"journeys, web tier {settings['web_workers']} worker x "
            f"{settings['web_threads']} thread. Staggered: the visitors start over "
            f"{self.regimes.table.set_index('start').loc['staggered', 'ramp_s']:.0f} s. Probes: "
            f"{plan['probe_rate']:g} a second for {plan['minutes']:g} minutes; the p50 counts "
            f"the probes after the first {settle:.0f} s."
        )

    def email_givens(self) -> Markdown:
        above = self.email.table.set_index("load_x").sort_index().iloc[-1]
        return Markdown(
            f"One Celery worker process sends one email at a time; the provider takes "
            f"{self.email.record['plan']['delay_s']:g} s, so it sends at most "
            f"**{above['worker_capacity_per_s']:g}/s**. In the run, visitors arrived at "
            f"**{above['arrived_per_s']:.2f}/s** for {above['window_s']:g} s."
        )

    # What each reveal says besides the measurement: the textbook's answer and the cause.

    def open_reveal(self, rho: float, predicted_sync: float | None, predicted_celery: float | None):
        sync, celery = self.at("sync", rho), self.at("celery", rho)
        display(
            reveal(f"sync homepage p95 at rho {rho:g}", predicted_sync, sync["home_p95_ms"] / 1000)
        )
        display(
            reveal(
                f"Celery homepage p95 at rho {rho:g}",
                predicted_celery,
                celery["home_p95_ms"] / 1000,
            )
        )
        md1 = md1_wait_s(sync["achieved_rate"], sync["delay_s"])
        t = self.open.table
        repeats = t[(t["hand_off"] == "sync") & (t["rho"] == rho)]
        share = float(sync["home_over_100ms"])
        display(
            Markdown(
                f"Sync mean {fmt_ms(sync['home_mean_ms'])}; the textbook M/D/1 mean wait, "
                f"rho x delay / (2 (1 - rho)) at the {sync['achieved_rate']:.2f}/s achieved: "
                f"{fmt_ms(md1 * 1000)}; the lab's model, replaying the run's arrivals: "
                f"{fmt_ms(sync['model_mean_ms'])}. The formula counts a visitor as one job; in "
                "the journey the POST queues again behind the form's GET. "
                f"{share:.0%} of sync probes waited over {SLOW_MS:g} ms (median "
                f"{fmt_ms(sync['home_p50_ms'])}): "
                f"{'most probes find' if share > 0.5 else 'a minority of probes find'} a line "
                f"of POSTs. In {len(repeats)} runs the sync p95 spanned "
                f"{fmt_ms(repeats['home_p95_ms'].min())} to "
                f"{fmt_ms(repeats['home_p95_ms'].max())}. Data: {self.open.whose}."
            )
        )

    def overload_reveal(self, predicted: float | None) -> None:
        r = self.overload
        if r is None:
            display(Markdown(f"{self.open.whose.capitalize()} has no overload point."))
            return
        job_s = r["delay_s"] + r["cheap_service_ms"] / 1000
        textbook = textbook_overload_slope(r["achieved_rate"], job_s)
        model = open_overload_slope(
            r["achieved_rate"],
            r["delay_s"],
            self.open.record["plan"]["probe_rate"],
            r["cheap_service_ms"] / 1000,
        )
        rho = r["achieved_rate"] * r["delay_s"]
        display(
            reveal(
                "homepage wait growth past capacity",
                predicted,
                float(r["wait_growth_s_per_s"]),
                unit=" s/s",
                textbook=("textbook queue of whole jobs, rho - 1,", textbook),
            )
        )
        display(
            Markdown(
                "Why: a POST joins the queue only after its form's GET has waited, so the POSTs "
                "of visitors still waiting for their form are not yet ahead of the probe. The "
                f"lab's model: about 1 - 1/sqrt(rho) = {1 - 1 / math.sqrt(rho):+.2f} s/s "
                f"({model:+.2f} s/s with the cheap pages and probes). Data: {self.open.whose}."
            )
        )

    def regimes_reveal(self, predicted_staggered, predicted_synchronized) -> None:
        regimes = self.regimes.table.set_index("start")
        plan = self.regimes.record["plan"]
        rule = article_wait_s(plan["visitors"], plan["delay_s"])
        for start, predicted in (
            ("staggered", predicted_staggered),
            ("synchronized", predicted_synchronized),
        ):
            row = regimes.loc[start]
            display(reveal(f"{start} start, homepage p50", predicted, row["p50_ms"] / 1000))
        display(
            Markdown(
                f"The lab's model: staggered {fmt_ms(regimes.loc['staggered', 'model_p50_ms'])}, "
                f"synchronized {fmt_ms(regimes.loc['synchronized', 'model_p50_ms'])}. "
                f"The article's rule, every POST ahead of you (visitors x delay), gives "
                f"{fmt_ms(rule * 1000)} for both; but visitors also think and load cheap pages. "
                "Started together, they stay a convoy: each thank-you GET queues behind the "
                f"POSTs already waiting. Data: {self.regimes.whose}."
            )
        )

    def email_reveal(self, predicted: float | None) -> None:
        email = self.email.table.set_index("load_x").sort_index()
        above, below = email.iloc[-1], email.iloc[0]
        display(
            reveal(
                "backlog growth above the worker's capacity",
                predicted,
                float(above["backlog_growth_per_s"]),
                unit="/s",
                textbook=(
                    "formula, arrivals minus capacity,",
                    float(above["formula_growth_per_s"]),
                ),
            )
        )
        display(
            Markdown(
                f"The worker sent {above['sent_per_s']:.2f}/s, not its nominal "
                f"{above['worker_capacity_per_s']:g}/s (each email costs some work beside the "
                f"wait): arrivals minus sent is "
                f"{above['arrived_per_s'] - above['sent_per_s']:+.2f}/s; "
                f"{int(above['backlog_at_end'])} emails waited at the end. Below capacity "
                f"({below['arrived_per_s']:.2f}/s arriving): "
                f"{below['backlog_growth_per_s']:+.2f}/s. Data: {self.email.whose}."
            )
        )

    def live_plan(self) -> LiveMinute:
        """The live minute at the conditions of the reference's `make bench` run it falls
        back to: its provider delay, think time and probes."""
        plan = load_environment(RESULTS_DIR)["plan"]
        return replace(
            LiveMinute(),
            delay_s=float(plan["delay_s"]),
            think_s=float(plan["think_s"]),
            probe_rate=float(plan["probe_rate"]),
        )

    def live_givens(self) -> Markdown:
        plan = self.live_plan()
        return Markdown(
            f"The sync app on this laptop: web tier 1 worker x 1 thread, provider delay "
            f"**{plan.delay_s:g} s**, **{plan.visitors} visitors** in a closed loop (think time "
            f"{plan.think_s:g} s on average), starting one after another over "
            f"{plan.ramp_s:g} s; probes {plan.probe_rate:g} a second, measured for "
            f"{plan.seconds:g} s after a {2 * plan.ramp_s:g} s warm-up."
        )

    def live_reveal(self, predicted: float | None, run_live: bool) -> None:
        """The live run's homepage p95 against the prediction, the article's rule and the
        model, and its worker's timeline; the stored run of the same setting if the live run
        is not asked for, or fails."""
        plan = self.live_plan()
        requests, whose = None, "this laptop, now"
        if run_live:
            try:
                requests = live_minute.run(plan)
            except Exception as failure:  # whatever stops it, the class still sees a run
                display(Markdown(f"The live run failed ({failure!r}): the stored run instead."))
        if requests is None:
            requests = live_minute.stored(plan)
            window = requests.loc[requests["in_window"].astype(bool), "t_s"]
            whose = (
                "the reference's `make bench` at the same setting, not run live (its window: "
                f"{window.max() - window.min():.0f} s)"
            )
        measured = percentile(live_minute.homepage(requests), 95) / 1000
        rule = article_wait_s(plan.visitors, plan.delay_s)
        display(
            reveal(
                "homepage p95",
                predicted,
                measured,
                textbook=("article's rule, every POST ahead of you (visitors x delay),", rule),
            )
        )
        model = predict(steady_scenario(plan.visitors, plan.delay_s, think_s=plan.think_s))
        display(
            Markdown(
                f"The lab's model: p95 {fmt_ms(model.p95_s * 1000)}. Visitors also think and load "
                f"cheap pages, so a probe seldom finds all their POSTs queued. Data: {whose}."
            )
        )
        fig = queue_view.worker_timeline(requests, plan.visitors)
        display(fig)
        plt.close(fig)


def instructor_flag(notebook_flag: bool) -> bool:
    """The notebook's `INSTRUCTOR`, or `LAB_INSTRUCTOR=1` set where the notebook runs."""
    return notebook_flag or os.environ.get("LAB_INSTRUCTOR") == "1"


def class_data(instructor: bool = False) -> ClassData:
    regimes = _source("regimes")
    series = pd.read_csv(regimes.path.parent / "series.csv")
    return ClassData(
        _source("open"),
        regimes,
        series,
        _source("capacity", "email.csv"),
        instructor=instructor_flag(instructor),
    )
