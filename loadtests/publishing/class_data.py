"""What the one-class notebook (`notebooks/00-one-class.ipynb`) reads, and how it reveals a
measurement against the class's prediction.

Each table comes from the student's own run where it has that measurement (`LAB_RUN=local`:
`make bench` writes a short open sweep into `results/local/open/`), else from the committed
reference; `whose` says which, and every figure and table in the notebook says it too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from loadtests.analysis.open_plots import first_runs
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR, run_path


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
class ClassData:
    open: Source  # every hand-off under the same Poisson arrivals
    regimes: Source  # the closed loop from two starts
    series: pd.DataFrame  # the regimes' p50 per minute
    email: Source  # the Celery email worker below and above its capacity

    @property
    def steady(self) -> pd.DataFrame:
        """The open sweep's first run of each point below capacity."""
        runs = first_runs(self.open.table)
        return runs[runs["rho"] < 1]

    def at(self, hand_off: str, rho: float) -> pd.Series:
        rows = self.steady[(self.steady["hand_off"] == hand_off) & (self.steady["rho"] == rho)]
        return rows.iloc[0]

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


def class_data() -> ClassData:
    regimes = _source("regimes")
    series = pd.read_csv(regimes.path.parent / "series.csv")
    return ClassData(_source("open"), regimes, series, _source("capacity", "email.csv"))


def reveal(what: str, predicted: float | None, measured: float, unit: str = "s") -> Markdown:
    """The measurement beside the class's prediction (in `unit`: "s", or "/s" for rates)."""
    shown = fmt_ms(measured * 1000) if unit == "s" else f"{measured:+.2f}{unit}"
    if predicted is None:
        return Markdown(
            f"**{what}**: measured **{shown}**. (No prediction was set: set it in the cell "
            "above, then run this one again.)"
        )
    said = fmt_ms(predicted * 1000) if unit == "s" else f"{predicted:+.2f}{unit}"
    if measured == 0 or predicted == 0:
        off = "exactly" if measured == predicted else "off"
    else:
        ratio = max(measured / predicted, predicted / measured)
        side = "under" if predicted < measured else "over"
        off = "within a quarter" if ratio <= 1.25 else f"{side} by {ratio:.1f}x"
    return Markdown(f"**{what}**: you predicted {said}; measured **{shown}** ({off}).")
