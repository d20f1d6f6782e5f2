"""How a reveal in the one-class notebook sets the measurement beside the class's prediction and
the textbook's answer, and what each reveal says besides: the cause, the model, the figure."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from loadtests.analysis import open_plots
from loadtests.analysis.live_minute import LiveMinute, homepage, stored, window_s
from loadtests.analysis.model import (
    article_wait_s,
    open_overload_slope,
    predict,
    steady_scenario,
    textbook_overload_slope,
)
from loadtests.analysis.open_plots import SLOW_MS
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import percentile
from loadtests.publishing.open_section import by_rho, measured_cell, pm, schedules_said

NEAR = 1.25  # a prediction within this factor of a value is "within a quarter" of it
ARTICLE_S = 8.0  # the article's "~8 s" homepage at ~10 visitors
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
    interval: tuple[float, float] | None = None,
) -> Markdown:
    """The measurement beside the class's prediction (in `unit`: "s", or "/s" for rates), and,
    given `textbook` (its name, its answer), the formula's answer with where the prediction
    stands to it: a student who used the formula sees that they did, not only that they missed.
    `interval`: the measurement's 95% interval, shown beside it."""
    shown = _said(measured, unit)
    around = ""
    if interval is not None and all(pd.notna(end) for end in interval):
        low, high = (_said(max(end, 0.0), unit) for end in interval)
        around = f"95% interval {low} to {high}; "
    if predicted is None:  # only the instructor's copy reveals without a prediction
        text = f"**{what}**: measured **{shown}** ({around}no prediction set)."
    else:
        said = _said(predicted, unit)
        text = (
            f"**{what}**: you predicted {said}; measured **{shown}** "
            f"({around}{closeness(predicted, measured, unit=unit)})."
        )
    if textbook is not None:
        name, answer = textbook
        text += f" The {name} gives {_said(answer, unit)}"
        if predicted is not None:
            text += f" (your prediction: {closeness(predicted, answer, ' it', unit)})"
        text += "."
    return Markdown(text)


class Reveals:
    """The reveals, mixed into `class_data.ClassData`: they read its runs (`open`,
    `regimes`, `email`) and its `at`, `steady`, `overload` and `live_plan`."""

    # What each reveal says besides the measurement: the textbook's answer and the cause.

    def open_reveal(self, rho: float, predicted_sync: float | None, predicted_celery: float | None):
        sync, celery = self.at("sync", rho), self.at("celery", rho)
        for name, row, predicted in (
            ("sync", sync, predicted_sync),
            ("Celery", celery, predicted_celery),
        ):
            display(
                reveal(
                    f"{name} homepage p95 at rho {rho:g}",
                    predicted,
                    row["windows_p95_ms"] / 1000,
                    interval=(row["windows_p95_low_ms"] / 1000, row["windows_p95_high_ms"] / 1000),
                )
            )
        share = float(sync["home_over_100ms"])
        display(
            Markdown(
                f"Sync mean {pm(sync, 'windows_mean')}: {schedules_said(sync)} The textbook "
                "queue for this (M/D/1: random arrivals, a fixed service time, one server) gives "
                f"a mean of rho x service / (2 (1 - rho)) = {fmt_ms(sync['md1_mean_ms'])} at the "
                f"rho the runs carried, {sync['true_rho']:.2f} ({sync['offered_rate']:.2f} "
                f"visitors/s x the {fmt_ms(sync['post_service_ms'])} a POST held the worker: the "
                f"provider's {sync['delay_s']:g} s and the rest of the request); {MODEL}, run for "
                f"a long day, {fmt_ms(sync['longrun_mean_ms'])}. {JOURNEY_CAUSE} {share:.0%} of "
                f"sync probes waited over {SLOW_MS:g} ms: "
                f"{'most probes find' if share > 0.5 else 'a minority of probes find'} a line "
                f"of POSTs. One {sync['window_s']:.0f} s window alone can show a p95 anywhere "
                f"from {fmt_ms(sync['window_p95_p10_ms'])} to "
                f"{fmt_ms(sync['window_p95_p90_ms'])} (8 schedules in 10, by the model)"
                + (
                    ", and most windows read low: each starts from a nearly empty queue after "
                    f"{sync['warmup_s']:.0f} s and rarely holds one of the long busy stretches "
                    "that a long day has"
                    if sync["window_p95_p90_ms"] < sync["longrun_p95_ms"]
                    else ""
                )
                + ". The model, calibrated on these windows, expects a p95 of "
                f"{pm(sync, 'home_p95')} over a long day. Data: {self.open.whose}."
            )
        )

    def open_table(self) -> None:
        """Every rate below capacity, one column per app, the cell's format said above it, at
        a size the back row reads."""
        display(
            Markdown(
                "Each cell: the homepage **p95 / mean** the windows measured, each with its 95% "
                "interval over the schedules. Rows: rho offered, the visitors a second, and the "
                "rho carried (the rate offered x the POST's measured time)."
            )
        )
        table = by_rho(self.steady, measured_cell).set_index(
            "rho (visitors/s offered; rho carried)"
        )
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
