"""The live minute's plan (what `loadtests.runners.live_minute` runs from the class notebook),
the stored `make bench` run that stands in for it, and what the class reads of either: the
homepage's probes and how long the run was measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from loadtests.analysis.results import RESULTS_DIR, load_raw


@dataclass(frozen=True)
class LiveMinute:
    visitors: int = 4
    delay_s: float = 0.5
    seconds: float = 60.0
    think_s: float = 1.0
    probe_rate: float = 5.0

    @property
    def ramp_s(self) -> float:
        """The visitors start one after another over about one round of their POSTs."""
        return self.visitors * self.delay_s


def stored(plan: LiveMinute, results_dir: Path = RESULTS_DIR) -> pd.DataFrame:
    """The requests of the sync app's stored `make bench` run at the plan's visitors and
    provider delay (one worker, one thread): what the class sees when the live run fails."""
    raw = load_raw(results_dir)
    run = raw[
        (raw["app"] == "sync")
        & (raw["visitors"] == plan.visitors)
        & (raw["smtp_delay_s"] == plan.delay_s)
        & (raw["web_workers"] == 1)
        & (raw["web_threads"] == 1)
    ]
    if run.empty:
        raise LookupError(f"no stored sync run at {plan.visitors} visitors in {results_dir}")
    return run


def homepage(requests: pd.DataFrame) -> pd.Series:
    inside = requests[requests["in_window"].astype(bool)]
    return inside.loc[inside["endpoint"] == "home", "latency_ms"]


def window_s(requests: pd.DataFrame) -> float:
    """How long the run was measured: from its first request in the window to its last."""
    inside = requests.loc[requests["in_window"].astype(bool), "t_s"]
    return float(inside.max() - inside.min())
