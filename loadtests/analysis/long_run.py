"""The model's steady state for one point of the open sweep, and how far one window of the
sweep's length strays from it: the FIFO model of `model.simulate`, run for a long time and on
many short schedules (`open_estimates` puts them beside what was measured)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from loadtests.analysis.model import Scenario, simulate
from loadtests.analysis.results import percentile

# The model's long run: at least this long, and this many relaxation times of the queue, which
# keeps its own error (batch means) to a few percent up to rho 0.92.
LONG_RUN_S = 100_000.0
LONG_RUN_RELAXATIONS = 4_000
LONG_RUN_WARMUP_S = 1_000.0
LONG_RUN_BATCHES = 20
SPREAD_WINDOWS = 40
# Schedules the model draws for its long run and its window spread never coincide with the
# sweep's own (seeds 1, 2, 3, ...).
MODEL_SEED = 10_000


@dataclass(frozen=True)
class LongRun:
    """The model's steady state for one point: homepage mean and p95, the mean's relative
    standard error from batch means, and the 10th-90th percentile of one window's mean and p95."""

    mean_s: float
    p50_s: float
    p95_s: float
    mean_se_share: float
    window_mean_s: tuple[float, float]
    window_p95_s: tuple[float, float]
    window_mean_avg_s: float  # what the plain mean over windows of this length estimates


def long_run(
    rate: float,
    post_s: float,
    cheap_s: float,
    probe_rate: float,
    warmup_s: float,
    window_s: float,
    horizon_s: float = LONG_RUN_S,
    windows: int = SPREAD_WINDOWS,
) -> LongRun:
    """The FIFO model of `model.simulate` fed a POST of `post_s` and every other page of
    `cheap_s`, under Poisson arrivals at `rate`: once for `horizon_s`, and `windows` times on
    the sweep's own plan (warm-up, window) to show how far one window strays."""
    base = Scenario(
        0,
        max(0.0, post_s - cheap_s),
        probe_rate=probe_rate,
        service_s=cheap_s,
        warmup_s=LONG_RUN_WARMUP_S,
        window_s=horizon_s,
    )
    end = LONG_RUN_WARMUP_S + horizon_s
    long = np.asarray(simulate(replace(base, arrivals=_poisson(rate, end, MODEL_SEED)), 0))
    batches = np.array_split(long, LONG_RUN_BATCHES)  # probes arrive evenly: equal time
    batch_means = np.array([b.mean() for b in batches])
    se_share = batch_means.std(ddof=1) / math.sqrt(len(batches)) / long.mean()
    window_mean, window_p95, window_avg = window_spread(base, rate, warmup_s, window_s, windows)
    return LongRun(
        mean_s=float(long.mean()),
        p50_s=percentile(long, 50),
        p95_s=percentile(long, 95),
        mean_se_share=float(se_share),
        window_mean_s=window_mean,
        window_p95_s=window_p95,
        window_mean_avg_s=window_avg,
    )


Spread = tuple[float, float]


def window_spread(
    base: Scenario, rate: float, warmup_s: float, window_s: float, windows: int = SPREAD_WINDOWS
) -> tuple[Spread, Spread, float]:
    """Where one window of `window_s` after `warmup_s` lands, over `windows` schedules of the
    model `base` at `rate`: the 10th and 90th percentiles of its homepage mean and p95, and the
    mean of its means (s)."""
    means, p95s = [], []
    for k in range(windows):
        seed = MODEL_SEED + 1 + k
        arrivals = _poisson(rate, warmup_s + window_s, seed)
        one = simulate(replace(base, arrivals=arrivals, warmup_s=warmup_s, window_s=window_s), seed)
        means.append(float(np.mean(one)))
        p95s.append(percentile(one, 95))
    return (
        (percentile(means, 10), percentile(means, 90)),
        (percentile(p95s, 10), percentile(p95s, 90)),
        float(np.mean(means)),
    )


def _poisson(rate: float, until_s: float, seed: int) -> tuple[float, ...]:
    """Arrival times of a Poisson process at `rate` up to `until_s`, seeded."""
    gaps = np.random.default_rng(seed).exponential(1 / rate, int(rate * until_s * 1.2) + 50)
    return tuple(float(t) for t in np.cumsum(gaps) if t < until_s)
