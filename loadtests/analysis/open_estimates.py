"""Each point of the open sweep as a steady-state estimate with its uncertainty.

Near rho = 1 a queue remembers its past for a long time, so one measured window is one draw
from a wide distribution: at rho 0.9 the model's windows of the sweep's length give homepage
means from under half to nearly twice the long-run one. Each steady point therefore runs on
several Poisson schedules (`OpenPlan.schedules`), and this module turns those runs into:

- `windows_*`: the plain mean over the schedules with its 95% t-interval. Honest but wide near
  saturation, where a handful of windows cannot pin the mean down.
- For a blocking web tier, the steady state: the model's long run (100,000 s of the same queue,
  fed the service times these runs measured) times the mean ratio of measured to the model's
  replay of each run's own schedule. The schedule causes nearly all of a window's spread and
  the replay sees the same schedule, so the ratio is steady where the window is not (a control
  variate); its interval comes from the spread of the ratios over the schedules and the long
  run's own batch-means error. If the model missed something that the lab's web tier does, the
  ratio would move away from 1, and the tables show it.
- For a web tier that does not queue behind the provider, the plain mean is the estimate: its
  probes barely depend on each other, and its interval is already tight.

Beside each blocking point, the spread one window of this length has (the model's 10th-90th
percentile over `SPREAD_WINDOWS` schedules) and the rho the runs really carried: the rate that
arrived times the POST's measured service time (`true_rho`), as well as the one offered.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lab_hand_offs import hand_off as registered
from loadtests.analysis.long_run import LONG_RUN_RELAXATIONS, LONG_RUN_S, long_run
from loadtests.analysis.model import md1_wait_s
from loadtests.analysis.plots import fmt_ms

LEVEL = 0.95  # every interval's confidence level
# The 97.5th percentile of Student's t with `df` degrees of freedom (two-sided 95%); beyond the
# table, the normal's 1.96 is within 2%.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306}
_T975.update({9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042})


def t975(df: int) -> float:
    if df < 1:
        return math.nan
    known = [d for d in _T975 if d <= df]
    return _T975[max(known)] if df <= 30 else 1.96


def fmt_pm(value: float, low: float, high: float) -> str:
    """An estimate and its 95% interval as a share of it: 1.6 s ±12%; without an interval (one
    schedule), the value alone: whoever prints it says so."""
    if math.isnan(low) or math.isnan(high) or not value:
        return fmt_ms(value)
    return f"{fmt_ms(value)} ±{(high - low) / 2 / value:.0%}"


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95% interval; low and high are NaN when one value cannot give one."""

    value: float
    low: float
    high: float
    n: int

    @classmethod
    def of_mean(cls, values: pd.Series | np.ndarray | list[float]) -> Interval:
        """The mean of independent values and its t-interval."""
        x = np.asarray(values, dtype=float)
        x = x[~np.isnan(x)]
        if len(x) == 0:
            return cls(math.nan, math.nan, math.nan, 0)
        mean = float(x.mean())
        if len(x) < 2:
            return cls(mean, math.nan, math.nan, 1)
        half = t975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
        return cls(mean, mean - half, mean + half, len(x))

    def scaled(self, factor: float, extra_share: float = 0.0) -> Interval:
        """This interval times `factor`, its relative half-width widened (in quadrature) by a
        second independent error of `extra_share` of the value."""
        value = self.value * factor
        if math.isnan(self.low):
            return Interval(value, math.nan, math.nan, self.n)
        share = math.hypot(self.half_share, extra_share)
        return Interval(value, value * (1 - share), value * (1 + share), self.n)

    @property
    def half_share(self) -> float:
        """Half the interval's width over the value: 0.15 is +-15%."""
        return (self.high - self.low) / 2 / self.value if self.value else math.nan


def estimates(table: pd.DataFrame, probe_rate: float) -> pd.DataFrame:
    """One row per hand-off and steady rho from the sweep's summary (its Locust runs): the
    estimate and its interval (`home_mean_ms`, `home_mean_low_ms`, `home_mean_high_ms`, the same
    for the p95), the plain mean over the windows (`windows_*`), the rho offered and carried,
    and for a blocking hand-off the model's long run and one window's spread."""
    runs = table[(table["generator"] == "locust") & (table["rho"] < 1)]
    post_ms = _post_service_ms(runs)
    rows = []
    for (hand_off, rho), point in runs.groupby(["hand_off", "rho"], sort=False):
        row = _measured(point)
        service = post_ms.get(rho, math.nan)
        row.update(
            hand_off=hand_off,
            rho=rho,
            post_service_ms=service,
            true_rho=row["offered_rate"] * service / 1000,
            windows_rho_min=point["achieved_rate"].min() * service / 1000,
            windows_rho_max=point["achieved_rate"].max() * service / 1000,
        )
        if registered(hand_off).blocking and "replay_mean_ms" in point:
            row.update(_steady_state(point, probe_rate))
        else:
            for stat in ("mean", "p50", "p95"):
                for end in ("", "_low", "_high"):
                    row[f"home_{stat}{end}_ms"] = row[f"windows_{stat}{end}_ms"]
            row["method"] = "mean over schedules"
        rows.append(row)
    frame = pd.DataFrame(rows)
    first = ["hand_off", "rho", "schedules", "method", "true_rho"]
    return frame[first + [c for c in frame.columns if c not in first]]


def _post_service_ms(runs: pd.DataFrame) -> dict[float, float]:
    """Per rho, what a blocking worker spent on a POST (the mean over its runs): the same
    schedules reached every hand-off, so the blocking one's POST says what rho they carried."""
    blocking = runs[runs["hand_off"].map(lambda h: registered(h).blocking)]
    if "post_service_ms" not in blocking:
        return {}
    return blocking.groupby("rho")["post_service_ms"].mean().dropna().to_dict()


def _measured(point: pd.DataFrame) -> dict[str, object]:
    """What the runs of one point measured, averaged over the schedules."""
    row: dict[str, object] = {
        "schedules": point["seed"].nunique(),
        "offered_rate": float(point["offered_rate"].iloc[0]),
        "achieved_rate": float(point["achieved_rate"].mean()),
        "achieved_rate_min": float(point["achieved_rate"].min()),
        "achieved_rate_max": float(point["achieved_rate"].max()),
        "window_s": float(point["window_s"].mean()),
        "warmup_s": float(point["warmup_s"].mean()),
        "home_unanswered": int(point["home_unanswered"].sum()),
        "emails_queued_at_bound": int(point["emails_queued_at_bound"].sum()),
        "cpu_warnings": int(point["cpu_warnings"].sum()),
        "delay_s": float(point["delay_s"].iloc[0]),
    }
    for column in ("home_over_100ms", "post_p50_ms", "email_p50_ms", "idle_ms"):
        row[column] = float(point[column].mean())
    for stat in ("mean", "p50", "p95"):
        _put(row, f"windows_{stat}", Interval.of_mean(point[f"home_{stat}_ms"]))
    for column in ("post_p95_ms", "email_p95_ms"):
        _put(row, column.removesuffix("_ms"), Interval.of_mean(point[column]))
    return row


def _steady_state(point: pd.DataFrame, probe_rate: float) -> dict[str, object]:
    """The model's long run, fed the service times the runs measured, times the mean ratio of
    measured to the model's replay of each run's own schedule."""
    rate = float(point["offered_rate"].iloc[0])
    post_s = float(point["post_service_ms"].mean()) / 1000
    cheap_s = float(point["cheap_service_ms"].mean()) / 1000
    carried = min(rate * post_s, 0.99)
    model = long_run(
        rate,
        post_s,
        cheap_s,
        probe_rate,
        float(point["warmup_s"].mean()),
        float(point["window_s"].mean()),
        horizon_s=max(LONG_RUN_S, LONG_RUN_RELAXATIONS * post_s / (1 - carried) ** 2),
    )
    row: dict[str, object] = {
        "method": "model long run x measured / replay",
        # The textbook queue at the rho carried: each visitor one job of a POST.
        "md1_mean_ms": (md1_wait_s(rate, post_s) + cheap_s) * 1000,
    }
    for stat, value_s, spread in (
        ("mean", model.mean_s, model.window_mean_s),
        ("p50", model.p50_s, (math.nan, math.nan)),
        ("p95", model.p95_s, model.window_p95_s),
    ):
        ratios = point[f"home_{stat}_ms"] / point[f"replay_{stat}_ms"]
        ratio = Interval.of_mean(ratios)
        # The long run's own error: batch means for the mean; for the p95 taken as the mean's.
        _put(row, f"home_{stat}", ratio.scaled(value_s * 1000, 1.96 * model.mean_se_share))
        row[f"measured_over_replay_{stat}"] = ratio.value
        row[f"measured_over_replay_{stat}_low"] = ratio.low
        row[f"measured_over_replay_{stat}_high"] = ratio.high
        row[f"longrun_{stat}_ms"] = value_s * 1000
        if stat != "p50":
            row[f"window_{stat}_p10_ms"] = spread[0] * 1000
            row[f"window_{stat}_p90_ms"] = spread[1] * 1000
    row["longrun_mean_se_share"] = model.mean_se_share
    row["window_mean_avg_ms"] = model.window_mean_avg_s * 1000
    return row


def _put(row: dict[str, object], name: str, interval: Interval) -> None:
    row[f"{name}_ms"] = interval.value
    row[f"{name}_low_ms"] = interval.low
    row[f"{name}_high_ms"] = interval.high


def load(open_dir: Path, probe_rate: float | None = None) -> pd.DataFrame:
    """A sweep's estimates: its `estimates.csv`, or, for a sweep run before there was one,
    computed from its summary (the model's long run takes a few seconds per blocking point)."""
    stored = open_dir / "estimates.csv"
    if stored.exists():
        return pd.read_csv(stored)
    summary = pd.read_csv(open_dir / "summary.csv")
    if probe_rate is None:
        plan = json.loads((open_dir / "summary.json").read_text()).get("plan", {})
        probe_rate = float(plan.get("probe_rate", 5.0))
    return estimates(summary, probe_rate)
