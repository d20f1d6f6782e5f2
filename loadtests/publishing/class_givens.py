"""The givens of each prediction in the one-class notebook: the conditions each run had, never its
outcome, in words a class reads without knowing gunicorn or Celery."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from loadtests.analysis.live_minute import stored, window_s
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR

CLASS_APPS = ("sync", "celery", "asyncio")  # the three apps the class compares


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


class Givens:
    """The givens, mixed into `class_data.ClassData`: they read its runs (`open`,
    `regimes`, `email`) and its `at`, `overload` and `live_plan`."""

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
            f"{other['warmup_s']:g} s"
            + (
                f"; each on {int(sync['schedules'])} different random schedules of arrivals."
                if sync["schedules"] > 1
                else "."
            )
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
