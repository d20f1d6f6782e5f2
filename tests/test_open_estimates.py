"""The open sweep's points as estimates with intervals: the t-interval, the model's long run
times the measured / replayed ratio for the blocking hand-off, the plain mean over schedules for
the others, and how far one window strays; then the reference run states every point so."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from loadtests.analysis import open_estimates
from loadtests.analysis.long_run import long_run
from loadtests.analysis.open_estimates import Interval, estimates
from loadtests.analysis.results import RESULTS_DIR


def test_a_t_interval_is_the_textbook_one():
    one = Interval.of_mean([1.0, 2.0, 3.0])  # mean 2, sd 1, t(2) = 4.303

    assert (one.value, one.n) == (2.0, 3)
    assert one.high - one.value == pytest.approx(4.303 / math.sqrt(3))
    assert math.isnan(Interval.of_mean([5.0]).low)  # one value: no interval


def _runs(hand_off: str, rho: float, home_ms: list[float], replay_ms: list[float] | None):
    rows = []
    for seed, home in enumerate(home_ms, start=1):
        row = {
            "hand_off": hand_off,
            "rho": rho,
            "generator": "locust",
            "seed": seed,
            "delay_s": 0.5,
            "offered_rate": rho / 0.5,
            "achieved_rate": rho / 0.5 * (1 + 0.02 * (seed - 2)),
            "window_s": 90.0,
            "warmup_s": 5.0,
            "home_unanswered": 0,
            "emails_queued_at_bound": 0,
            "cpu_warnings": 0,
            "home_over_100ms": 0.4,
            "post_p50_ms": 510.0,
            "post_p95_ms": 600.0,
            "email_p50_ms": 505.0,
            "email_p95_ms": 508.0,
            "idle_ms": 2.0,
            "home_mean_ms": home,
            "home_p50_ms": home / 3,
            "home_p95_ms": home * 4,
        }
        if replay_ms is not None:
            replay = replay_ms[seed - 1]
            row.update(
                replay_mean_ms=replay,
                replay_p50_ms=replay / 3,
                replay_p95_ms=replay * 4,
                post_service_ms=510.0,
                cheap_service_ms=2.0,
            )
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    """Three schedules at rho 0.5: the sync windows stray (120 to 240 ms) but each is 10% over
    its replay; Celery's homepage a few milliseconds whatever the schedule."""
    sync = _runs("sync", 0.5, [132.0, 198.0, 264.0], [120.0, 180.0, 240.0])
    celery = _runs("celery", 0.5, [2.0, 2.2, 2.4], None)
    return estimates(pd.DataFrame(sync + celery), probe_rate=5.0).set_index("hand_off")


def test_the_blocking_steady_state_is_the_long_run_times_the_measured_over_replayed_ratio(sweep):
    sync = sweep.loc["sync"]

    assert sync["schedules"] == 3 and sync["method"].startswith("model")
    assert sync["measured_over_replay_mean"] == pytest.approx(1.1)
    assert sync["home_mean_ms"] == pytest.approx(1.1 * sync["longrun_mean_ms"])
    # The ratio did not move, so the interval is the long run's own error alone: narrow, while
    # the plain mean over the three windows is wide.
    steady_half = (sync["home_mean_high_ms"] - sync["home_mean_low_ms"]) / 2 / sync["home_mean_ms"]
    windows_half = (sync["windows_mean_high_ms"] - sync["windows_mean_low_ms"]) / 2
    assert 0 < steady_half < 0.05 and windows_half / sync["windows_mean_ms"] > 0.5
    # The rho carried: the offered rate x the POST's measured 510 ms.
    assert sync["true_rho"] == pytest.approx(1.0 * 0.51)


def test_a_hand_off_that_does_not_queue_is_the_plain_mean_over_its_schedules(sweep):
    celery = sweep.loc["celery"]

    assert celery["method"] == "mean over schedules"
    assert celery["home_mean_ms"] == pytest.approx(2.2)
    assert celery["home_mean_low_ms"] < 2.2 < celery["home_mean_high_ms"]
    assert celery["true_rho"] == pytest.approx(sweep.loc["sync", "true_rho"])  # same schedules


def test_one_window_strays_far_from_the_long_run_near_capacity_and_little_far_from_it():
    def spread(rho: float) -> tuple[float, float, float]:
        model = long_run(rho / 0.5, 0.51, 0.002, 5.0, 10.0, 90.0, horizon_s=20_000, windows=20)
        low, high = model.window_mean_s
        return low, model.mean_s, high

    # Near capacity a short window that starts empty mostly misses the long busy periods that
    # make the long-run mean: most windows fall below it.
    low, mean, high = spread(0.9)
    assert low < mean and high / low > 2
    low, mean, high = spread(0.25)
    assert low < mean < high and high / low < 2


def test_the_reference_sweep_states_every_steady_point_with_an_interval():
    points = open_estimates.load(RESULTS_DIR / "open")

    assert (points["schedules"] >= 3).all()
    for stat in ("mean", "p95"):
        assert points[f"home_{stat}_low_ms"].notna().all()
        assert (points[f"home_{stat}_low_ms"] <= points[f"home_{stat}_ms"]).all()
        assert (points[f"home_{stat}_ms"] <= points[f"home_{stat}_high_ms"]).all()
    assert points["true_rho"].notna().all()
