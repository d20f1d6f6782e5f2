"""Summarising one run of the open sweep (`make bench-open`): the load as offered and as it
arrived, what the homepage, the POST and the email got, and the model replaying the run's own
arrival schedule beside the textbook M/D/1."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from loadtests.analysis.model import (
    Distribution,
    Scenario,
    md1_wait_s,
    open_overload_slope,
    predict_distribution,
    textbook_overload_slope,
)
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.queue_view import service_times
from loadtests.analysis.results import percentile, unanswered
from loadtests.analysis.summary import email_delays


@dataclass(frozen=True)
class OpenPoint:
    """One run of the open sweep: a hand-off under arrivals at `rho` x its capacity."""

    hand_off: str
    rho: float
    delay_s: float
    generator: str = "locust"
    seed: int = 1  # the arrival schedule's; every hand-off gets the same one

    @property
    def rate(self) -> float:
        """Visitors per second: rho x the sync worker's capacity, 1 / delay."""
        return self.rho / self.delay_s

    @property
    def name(self) -> str:
        return f"{self.hand_off.replace('/', '-')}-rho{self.rho:g}-{self.generator}-s{self.seed}"


def summarise(
    point: OpenPoint,
    requests: pd.DataFrame,
    deliveries: pd.DataFrame,
    meta: dict[str, object],
    bound_at: float,
) -> dict[str, object]:
    """One row: the load as offered and as it arrived, and what the homepage, the POST and the
    email got. Every request that started in the window counts; a probe still waiting when the
    run ended makes the homepage figures lower bounds (`pending`)."""
    window_s = float(meta["window_end"]) - float(meta["window_start"])
    inside = requests[requests["in_window"].astype(bool)]
    home = inside[inside["endpoint"] == "home"]
    # A probe never answered counts at what it had waited: the homepage figures are then
    # lower bounds (`home_unanswered` > 0), never percentiles of the answered ones alone.
    waiting = unanswered(inside, "home")
    posts = inside[(inside["endpoint"] == "contact_post") & inside["ok"].astype(bool)]
    arrived = int((inside["endpoint"] == "contact_form").sum())  # one form per arrival
    delays = email_delays(requests, deliveries, bound_at)
    probes = pd.concat([home, waiting])
    latencies = probes["latency_ms"].to_numpy() / 1000
    home_dist = Distribution.of(list(latencies)) if len(latencies) else None
    row: dict[str, object] = {
        "hand_off": point.hand_off,
        "rho": point.rho,
        "generator": point.generator,
        "seed": point.seed,
        "delay_s": point.delay_s,
        "offered_rate": point.rate,
        "achieved_rate": arrived / window_s,
        "window_s": window_s,
        "warmup_s": float(meta["window_start"]) - float(meta["t0"]),
        "home_n": len(probes),
        "home_unanswered": len(waiting),
        "home_errors": int((~home["ok"].astype(bool)).sum()),
        "pending": int((inside["endpoint"] == "pending").sum()),
        "post_p50_ms": percentile(posts["latency_ms"], 50),
        "post_p95_ms": percentile(posts["latency_ms"], 95),
        "emails_accepted": len(delays),
        "emails_queued_at_bound": int(delays["censored"].sum()),
        "email_p50_ms": percentile(delays["delay_ms"], 50),
        "email_p95_ms": percentile(delays["delay_ms"], 95),
        "cpu_warnings": len(meta.get("cpu_warnings", [])),
    }
    if home_dist is not None:
        row.update(
            home_mean_ms=home_dist.mean_s * 1000,
            home_p50_ms=home_dist.p50_s * 1000,
            home_p95_ms=home_dist.p95_s * 1000,
            home_p99_ms=home_dist.p99_s * 1000,
            home_over_100ms=home_dist.share_over_100ms,
        )
    if point.rho >= 1:
        growth, _ = np.polyfit(probes["t_s"], probes["latency_ms"] / 1000, 1)
        row["wait_growth_s_per_s"] = float(growth)
    return row


def model_columns(
    point: OpenPoint,
    arrivals: tuple[float, ...],
    probe_rate: float,
    meta: dict[str, object],
    idle_s: float,
    requests: pd.DataFrame,
) -> dict[str, float]:
    """For a blocking web tier: the discrete-event model replaying this run's own arrival
    schedule twice, and the textbook M/D/1 mean beside it. `model_*` is the prediction made
    before the run: a POST holds the worker for the provider's delay, every other page for the
    idle homepage's time. `replay_*` feeds the same queue what the worker measurably spent on
    each kind of request in this run (`service_times`): the POST also pays for the SMTP conversation
    and the page around it, about 2% more, and near rho = 1 that moves the wait by far more."""
    rate, delay = point.rate, point.delay_s
    warmup = float(meta["window_start"]) - float(meta["t0"])
    window = float(meta["window_end"]) - float(meta["window_start"])
    scenario = Scenario(
        0,
        delay,
        probe_rate=probe_rate,
        warmup_s=warmup,
        window_s=window,
        service_s=idle_s,
        arrivals=arrivals,
    )
    post_s, cheap_s = service_times(requests)
    measured = replace(scenario, delay_s=max(0.0, post_s - cheap_s), service_s=cheap_s)
    columns = {
        **_distribution_columns("model", predict_distribution(scenario)),
        **_distribution_columns("replay", predict_distribution(measured)),
        "post_service_ms": post_s * 1000,
        "cheap_service_ms": cheap_s * 1000,
        "md1_mean_ms": (md1_wait_s(rate, delay) + idle_s) * 1000,
    }
    if point.rho >= 1:
        columns["predicted_growth_s_per_s"] = open_overload_slope(rate, delay, probe_rate, idle_s)
        columns["textbook_growth_s_per_s"] = textbook_overload_slope(rate, delay + 3 * idle_s)
    return columns


def _distribution_columns(prefix: str, model: Distribution) -> dict[str, float]:
    return {
        f"{prefix}_mean_ms": model.mean_s * 1000,
        f"{prefix}_p50_ms": model.p50_s * 1000,
        f"{prefix}_p95_ms": model.p95_s * 1000,
        f"{prefix}_p99_ms": model.p99_s * 1000,
        f"{prefix}_over_100ms": model.share_over_100ms,
    }


def point_line(row: dict[str, object]) -> str:
    text = (
        f"{row['hand_off']:13} rho {row['rho']:<4g} ({row['generator']}, seed {row['seed']}): "
        f"offered {row['offered_rate']:.2f}/s, arrived {row['achieved_rate']:.2f}/s; homepage "
        f"mean {fmt_ms(row['home_mean_ms'])}, p50 {fmt_ms(row['home_p50_ms'])}, p95 "
        f"{fmt_ms(row['home_p95_ms'])}, {row['home_over_100ms']:.0%} over 100 ms "
        f"(n {row['home_n']}); email p50 {fmt_ms(row['email_p50_ms'])}"
    )
    if pd.notna(row.get("model_mean_ms", np.nan)):
        text += (
            f"; model mean {fmt_ms(row['model_mean_ms'])}, p95 {fmt_ms(row['model_p95_ms'])} "
            f"(fed this run's service times: {fmt_ms(row['replay_mean_ms'])}, "
            f"{fmt_ms(row['replay_p95_ms'])}); M/D/1 mean {fmt_ms(row['md1_mean_ms'])}"
        )
    if pd.notna(row.get("wait_growth_s_per_s", np.nan)):
        text += f"; the wait grows {row['wait_growth_s_per_s']:.2f} s per s"
        if "predicted_growth_s_per_s" in row:
            text += (
                f" (predicted {row['predicted_growth_s_per_s']:.2f}; a single queue of whole "
                f"jobs: {row['textbook_growth_s_per_s']:.2f})"
            )
    return text
