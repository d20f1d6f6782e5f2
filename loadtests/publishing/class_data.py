"""What the one-class notebook (`notebooks/00-one-class.ipynb`) reads: the runs behind each
prediction, whether a reveal may show, and the model's setting; the givens each prediction states
(`class_givens`) and the reveals (`class_reveals`) read these runs.

Each table comes from the student's own run where it has that measurement (`LAB_RUN=local`:
`make bench` writes a short open sweep into `results/local/open/`), else from the committed
reference; `whose` says which, and every figure and table in the notebook says it too.

A reveal shows nothing measured until its prediction is set: the notebook's `INSTRUCTOR = True`
(or `LAB_INSTRUCTOR=1` in the environment) shows every reveal without one, to prepare the class.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display
from IPython.utils.capture import capture_output

from loadtests.analysis import open_estimates
from loadtests.analysis.live_minute import LiveMinute
from loadtests.analysis.open_plots import first_runs
from loadtests.analysis.results import RESULTS_DIR, load_environment, run_path
from loadtests.publishing.class_givens import CLASS_APPS, Givens
from loadtests.publishing.class_plan import words
from loadtests.publishing.class_reveals import Reveals
from loadtests.publishing.playground_model import Setting


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


@dataclass(frozen=True)
class ClassData(Givens, Reveals):
    open: Source  # every hand-off under the same Poisson arrivals
    regimes: Source  # the closed loop from two starts
    series: pd.DataFrame  # the regimes' p50 per minute
    email: Source  # the Celery email worker below and above its capacity
    instructor: bool = False  # True: every reveal shows without a prediction

    @cached_property
    def steady(self) -> pd.DataFrame:
        """The open sweep's points below capacity, for the three apps: each an estimate over
        its schedules with its interval (`open_estimates`)."""
        points = open_estimates.load(self.open.path.parent)
        return points[points["hand_off"].isin(CLASS_APPS)].sort_values("rho")

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
