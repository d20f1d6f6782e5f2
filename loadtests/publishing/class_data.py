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
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
from IPython.utils.capture import capture_output

from loadtests.analysis import open_plots
from loadtests.analysis.live_minute import LiveMinute, homepage, stored, window_s
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
from loadtests.publishing.class_plan import words
from loadtests.publishing.equal_load import by_rho, home_cell
from loadtests.publishing.playground_model import Setting

CLASS_APPS = ("sync", "celery", "asyncio")  # the three apps the class compares
NEAR = 1.25  # a prediction within this factor of a value is "within a quarter" of it
ARTICLE_S = 8.0  # the article's "~8 s" homepage at ~10 visitors


def web_tier(workers: int, threads: int) -> str:
    """The web tier in words a class reads without knowing gunicorn."""
    if (workers, threads) == (1, 1):
        return "1 worker process x 1 thread (one request at a time)"
    return f"{workers} worker processes x {threads} threads ({workers * threads} at a time)"


WEB_TIER = web_tier(1, 1)
JOURNEY = (
    "Each visitor GETs the form, POSTs it (the app sends the email), GETs the thank-you page, "
    "and leaves."
)
POST_AFTER_FORM = (
    "A visitor's POST joins the worker's queue only once their form's GET is answered."
)
# Why a probe waits less than the textbook says (predictions 1 and 2): one cause, said once.
JOURNEY_CAUSE = (
    "The textbook counts each visitor as one job that joins the queue the moment the visitor "
    "arrives. Here a visitor's POST joins only once their form's GET is answered, so the POSTs "
    "of visitors still waiting for their form are not yet ahead of a probe: the probe waits "
    "less than the textbook says."
)
MODEL = (
    "the lab's model (a simulation that sends each visitor's three requests and every probe "
    "through the one worker, first come, first served)"
)


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


def closeness(predicted: float, value: float, it: str = "", unit: str = "s") -> str:
    """How a prediction stands to a value: "exactly" (the same number as printed), "within a
    quarter", "under by 2.2x", "over by 1.3x"; `it` names the value ("under it by 2.2x") where
    the sentence needs it."""
    if _said(predicted, unit) == _said(value, unit):
        return f"exactly{it}"
    side = "under" if predicted < value else "over"
    if predicted <= 0 or value <= 0:
        return f"{side}{it}"
    ratio = max(value / predicted, predicted / value)
    if ratio <= NEAR:
        return f"within a quarter{' of' + it if it else ''}"
    return f"{side}{it} by {ratio:.1f}x"


def _near(value: float, target: float) -> bool:
    return max(value / target, target / value) <= NEAR


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
            f"({closeness(predicted, measured, unit=unit)})."
        )
    if textbook is not None:
        name, answer = textbook
        text += f" The {name} gives {_said(answer, unit)}"
        if predicted is not None:
            text += f" (your prediction: {closeness(predicted, answer, ' it', unit)})"
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

    def mode(self) -> Markdown:
        if self.instructor:
            return Markdown(
                "**Instructor mode: every reveal shows its answer without a prediction. Do not "
                "project this kernel in class** (`INSTRUCTOR = False`, or Jupyter started "
                "without `LAB_INSTRUCTOR=1`, then restart the kernel)."
            )
        return Markdown("Class mode: each reveal waits for its prediction.")

    def about(self) -> Markdown:
        """Whose data each part reads; in instructor mode, the warning under it."""
        warning = "\n\n" + self.mode().data if self.instructor else ""
        return Markdown(
            "Open arrivals: "
            + self.open.about()
            + ". The closed loop's two starts: "
            + self.regimes.about()
            + ". The email worker: "
            + self.email.about()
            + "."
            + warning
        )

    def words_on_screen(self, rho: float) -> dict[str, int]:
        """The words each section's givens and reveals print with every reveal shown (read on
        screen, beside the text read aloud), by the section's heading. Counted where Jupyter
        displays (a kernel); elsewhere nothing is displayed and every count is 0."""
        every = replace(self, instructor=True)
        printed = {
            "One class": lambda: display(replace(self, instructor=False).about()),
            "Prediction 1": lambda: (
                display(every.open_givens(rho)),
                every.open_reveal(rho, None, None),
                every.open_table(),
            ),
            "Prediction 2": lambda: (display(every.overload_givens()), every.overload_reveal(None)),
            "Prediction 3": lambda: (
                display(every.regimes_givens()),
                every.regimes_reveal(None, None),
            ),
            "Prediction 4": lambda: (display(every.email_givens()), every.email_reveal(None)),
            "A live minute": lambda: (
                display(every.live_givens()),
                every.live_reveal(None, run_live=None),
            ),
        }
        counts = {}
        for heading, show in printed.items():
            with capture_output() as shown:
                show()
            texts = [o.data.get("text/markdown", "") for o in shown.outputs]
            counts[heading] = sum(words(text) for text in texts)
        return counts

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
        plan = self.open.record["plan"]
        sync, other = self.at("sync", rho), self.at("celery", rho)
        idle = idle_homepage_p95_ms()
        return Markdown(
            f"{JOURNEY} Provider delay **{sync['delay_s']:g} s** per email. Every app answers "
            f"with **{WEB_TIER}**, so the sync app serves at most {1 / sync['delay_s']:g} "
            f"visitors/s; the Celery app's email worker runs {plan['celery_concurrency']} "
            f"processes. At rho {rho:g} visitors arrive at **{sync['offered_rate']:.2f}/s** on "
            "average. With no visitors, the homepage p95 is **"
            + ", ".join(f"{fmt_ms(ms)} ({app})" for app, ms in idle.items())
            + f"** (`make bench`, no visitors). Probes: {plan['probe_rate']:g} a second; the "
            f"sync app measured for {sync['window_s']:g} s after {sync['warmup_s']:g} s not "
            f"counted (the warm-up), the others for {other['window_s']:g} s after "
            f"{other['warmup_s']:g} s."
        )

    def overload_givens(self) -> Markdown:
        r = self.overload
        if r is None:
            return Markdown(f"{self.open.whose.capitalize()} has no overload point.")
        return Markdown(
            f"The same sync app, {WEB_TIER}, and provider ({r['delay_s']:g} s). {JOURNEY} "
            f"{POST_AFTER_FORM} Visitors arrived at **{r['achieved_rate']:.2f}/s** against the "
            f"worker's {1 / r['delay_s']:g}/s. Probes: "
            f"{self.open.record['plan']['probe_rate']:g} a second, measured over "
            f"{r['window_s']:g} s after {r['warmup_s']:g} s not counted."
        )

    def regimes_givens(self) -> Markdown:
        plan, settings = self.regimes.record["plan"], self.regimes.record["settings"]
        settle = float(self.regimes.table["settle_s"].iloc[0])
        return Markdown(
            f"**{plan['visitors']} visitors**, provider delay **{plan['delay_s']:g} s** (not "
            f"the open runs' delay), think time **{plan['think_s']:g} s** on average between "
            f"journeys, {web_tier(settings['web_workers'], settings['web_threads'])}. "
            "Staggered: the visitors start over "
            f"{self.regimes.table.set_index('start').loc['staggered', 'ramp_s']:.0f} s. Probes: "
            f"{plan['probe_rate']:g} a second for {plan['minutes']:g} minutes; the p50 counts "
            f"the probes after the first {settle:.0f} s."
        )

    def email_givens(self) -> Markdown:
        above = self.email.table.set_index("load_x").sort_index().iloc[-1]
        plan = self.email.record["plan"]
        processes = int(plan["worker_concurrency"])
        return Markdown(
            f"In this run the Celery email worker had **concurrency {processes}**: "
            + (f"{processes} processes, each" if processes > 1 else "1 process,")
            + " sending one email at a "
            f"time (prediction 1's runs had {self.open.record['plan']['celery_concurrency']}). "
            f"The provider takes {plan['delay_s']:g} s, so the worker sends at most "
            f"**{above['worker_capacity_per_s']:g}/s**. Visitors arrived at "
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
                f"Sync mean {fmt_ms(sync['home_mean_ms'])}. The textbook queue for this (M/D/1: "
                "random arrivals, a fixed service time, one server) gives a mean wait of "
                f"rho x delay / (2 (1 - rho)) = {fmt_ms(md1 * 1000)} at the "
                f"{sync['achieved_rate']:.2f}/s achieved; {MODEL}, at the run's own arrival "
                f"times, {fmt_ms(sync['model_mean_ms'])}. {JOURNEY_CAUSE} "
                f"{share:.0%} of sync probes waited over {SLOW_MS:g} ms (median "
                f"{fmt_ms(sync['home_p50_ms'])}): "
                f"{'most probes find' if share > 0.5 else 'a minority of probes find'} a line "
                f"of POSTs. In {len(repeats)} runs the sync p95 spanned "
                f"{fmt_ms(repeats['home_p95_ms'].min())} to "
                f"{fmt_ms(repeats['home_p95_ms'].max())}. Data: {self.open.whose}."
            )
        )

    def open_table(self) -> None:
        """Every rate below capacity, one column per app, the cell's format said above it, at
        a size the back row reads."""
        display(
            Markdown(
                f"Each cell: the homepage **p95 / mean**, and in brackets the share of probes "
                f"slower than {SLOW_MS:g} ms. Rows: rho, and the visitors a second offered."
            )
        )
        table = by_rho(self.steady, home_cell).set_index("rho (visitors/s offered)")
        big = [{"selector": "th, td", "props": "font-size: 20px; padding: 4px 14px"}]
        display(table.style.set_table_styles(big))

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
                f"Here rho = {r['achieved_rate']:.2f}/s x {r['delay_s']:g} s = {rho:.2f}. "
                f"{JOURNEY_CAUSE} The lab's model: {model:+.2f} s/s. "
                f"Data: {self.open.whose}."
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
                f"POSTs already waiting. {self._article_match(regimes, plan)} "
                f"Data: {self.regimes.whose}."
            )
        )

    @staticmethod
    def _article_match(regimes: pd.DataFrame, plan: dict[str, object]) -> str:
        """Which start lands near the article's ~8 s, and why that is the lab's choice of
        delay, not the article's finding."""
        near = [s for s in regimes.index if _near(regimes.loc[s, "p50_ms"] / 1000, ARTICLE_S)]
        if not near:
            return "Neither start is within a quarter of the article's ~8 s."
        return (
            f"The article's ~8 s: the {' and '.join(near)} start here "
            f"({', '.join(fmt_ms(regimes.loc[s, 'p50_ms']) for s in near)}) is within a quarter "
            f"of it, but only because the lab chose a {plan['delay_s']:g} s provider; the "
            "article gave no delay for its ~8 s, so that match is a coincidence of the setting."
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
        stored_s = window_s(stored(plan))
        return Markdown(
            f"The sync app on this laptop: {WEB_TIER}, provider delay **{plan.delay_s:g} s**, "
            f"**{plan.visitors} visitors** in a closed loop (think time {plan.think_s:g} s on "
            f"average), starting one after another over {plan.ramp_s:g} s; each GETs the form, "
            "POSTs it, GETs the thank-you page, thinks, and starts again. "
            f"Probes {plan.probe_rate:g} a second, measured for "
            f"{plan.seconds:g} s after {2 * plan.ramp_s:g} s not counted. Not run live, or if "
            "the live run fails: the reference's `make bench` run at the same setting, "
            f"measured for {stored_s:.0f} s."
        )

    def live_reveal(
        self, predicted: float | None, run_live: Callable[[LiveMinute], pd.DataFrame] | None
    ) -> None:
        """The live run's homepage p95 against the prediction, the article's rule and the
        model, and its worker's timeline; the stored run of the same setting if the live run
        is not asked for (`run_live` None; the notebook passes `runners.live_minute.run`), or
        fails."""
        plan = self.live_plan()
        requests, whose = None, "this laptop, now"
        if run_live:
            try:
                requests = run_live(plan)
            except Exception as failure:  # whatever stops it, the class still sees a run
                display(Markdown(f"The live run failed ({failure!r}): the stored run instead."))
        if requests is None:
            requests = stored(plan)
            whose = (
                "the reference's `make bench` at the same setting, not run live (measured for "
                f"{window_s(requests):.0f} s)"
            )
        measured = percentile(homepage(requests), 95) / 1000
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
        fig = open_plots.class_worker_timeline(requests, plan.visitors)
        display(fig)
        plt.close(fig)


def idle_homepage_p95_ms(results: Path = RESULTS_DIR) -> dict[str, float]:
    """Each class app's homepage p95 with no visitors, from the reference's `make bench`."""
    bench = pd.read_csv(results / "summary.csv")
    idle = bench[
        (bench["visitors"] == 0)
        & (bench["endpoint"] == "home")
        & (bench["generator"] == "locust")
        & (bench["repeat"] == 1)
    ].set_index("app")
    return {app: float(idle.loc[app, "p95_ms"]) for app in CLASS_APPS}


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
