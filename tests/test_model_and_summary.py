"""The queueing model and the summary arithmetic, checked without any server."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from loadtests.analysis import burst as burst_analysis
from loadtests.analysis.model import (
    Scenario,
    article_wait_s,
    burst_wait_s,
    cycle_s,
    predict,
    simulate,
)
from loadtests.analysis.results import Point, percentile
from loadtests.analysis.summary import collapse_repeats, halves, is_lower_bound, summarise_point
from loadtests.publishing import lesson

POINT = Point(
    app="celery", visitors=2, smtp_delay_s=2.0, web_workers=1, web_threads=1, celery_concurrency=4
)


def test_an_idle_server_answers_each_probe_in_its_service_time() -> None:
    latencies = simulate(Scenario(visitors=0, delay_s=2.0, service_s=0.003))
    assert len(latencies) == 50  # 10 s window at 5 probes per second: every probe counted
    assert latencies == [pytest.approx(0.003)] * 50


def test_one_visitor_makes_a_probe_wait_at_most_one_post() -> None:
    latencies = simulate(Scenario(visitors=1, delay_s=2.0, think_s=1.0))
    assert max(latencies) <= 2.0 + 0.02
    # The visitor's POST holds the worker 2 s of every ~3 s cycle: most probes wait for it.
    assert 0.3 < sorted(latencies)[len(latencies) // 2] < 1.5


def test_the_wait_grows_with_visitors_and_shrinks_with_workers() -> None:
    one = [predict(Scenario(visitors=v, delay_s=2.0)).p50_s for v in (1, 4, 10)]
    assert one == sorted(one) and one[-1] > 3.0
    four_workers = predict(Scenario(visitors=10, delay_s=2.0, servers=4)).p50_s
    assert four_workers < one[-1] / 3


def test_the_journey_keeps_fewer_posts_ahead_than_the_articles_rule() -> None:
    # A visitor also queues for the form and the thank-you page and thinks, so a probe finds
    # fewer than `visitors` POSTs ahead of it.
    prediction = predict(Scenario(visitors=4, delay_s=2.0))
    assert prediction.article_s == article_wait_s(4, 2.0) == 8.0
    assert 1.0 < prediction.p50_s < prediction.article_s


def test_percentile_is_an_observed_value() -> None:
    values = pd.Series([5.0, 1.0, 3.0, 2.0, 4.0])
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == 5.0
    assert percentile(pd.Series([], dtype=float), 50) != percentile(pd.Series([], dtype=float), 50)


def _requests(rows: list[tuple[str, int, float, float, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["endpoint", "user", "start", "latency_ms", "status"])
    expected = {"home": 200, "contact_post": 302}
    frame["ok"] = [
        expected.get(e, -1) == s for e, s in zip(frame.endpoint, frame.status, strict=True)
    ]
    frame["in_window"] = (frame["start"] >= 10) & (frame["start"] < 20)
    frame["t_s"] = frame["start"] - 10
    return frame


def test_summary_counts_only_the_window_and_reports_what_is_missing() -> None:
    requests = _requests(
        [
            ("home", 1, 5.0, 9000.0, 200),  # warm-up: not counted
            ("home", 1, 11.0, 10.0, 200),
            ("home", 1, 12.0, 30.0, 200),
            ("home", 1, 13.0, 1.0, 502),  # an error: counted, not in the percentiles
            ("pending", -1, 19.0, 40000.0, 0),  # a probe never answered
            ("contact_post", 2, 11.0, 4.0, 302),  # visitor 2's message 1
            ("contact_post", 2, 12.0, 6.0, 302),  # visitor 2's message 2: never delivered
        ]
    )
    deliveries = pd.DataFrame({"user": [2], "sequence": [1], "delay_ms": [2500.0]})
    # The wait for the emails ended at t=30: message 2 (answered at 12.006) was still queued.
    rows = {
        r["endpoint"]: r for r in summarise_point(POINT, requests, deliveries, 10.0, True, 30.0)
    }
    home, post, mail = rows["home"], rows["contact_post"], rows["email_delivery"]
    assert (home["n"], home["errors"], home["pending"]) == (3, 1, 1)
    assert (home["p50_ms"], home["max_ms"], home["rps"]) == (10.0, 30.0, 0.2)
    assert (post["n"], post["p50_ms"]) == (2, 4.0)
    assert (mail["accepted"], mail["delivered"], mail["queued_at_bound"]) == (2, 1, 1)
    assert mail["censored_from_ms"] == pytest.approx(17_994.0)
    # Every accepted email counts: the median is the delivered one's (exact, below the bound);
    # the maximum is the queued one's lower bound, and says so.
    assert mail["p50_ms"] == 2500.0 and not is_lower_bound(mail["p50_ms"], mail["censored_from_ms"])
    assert mail["max_ms"] == pytest.approx(17_994.0)
    assert is_lower_bound(mail["max_ms"], mail["censored_from_ms"])


def test_a_median_over_censored_emails_is_only_a_lower_bound() -> None:
    requests = _requests([("contact_post", 2, 11.0 + k, 4.0, 302) for k in range(3)])
    deliveries = pd.DataFrame({"user": [2], "sequence": [1], "delay_ms": [9000.0]})
    # Messages 2 and 3 still queued 1 s after the window: they waited at least ~9 s and ~8 s,
    # at most the delivered one's 9 s, so the median (~9 s) could be higher in truth.
    mail = summarise_point(POINT, requests, deliveries, 10.0, True, 21.0)[-1]
    assert mail["p50_ms"] == pytest.approx(8_996.0)
    assert is_lower_bound(mail["p50_ms"], mail["censored_from_ms"])


def test_halves_that_disagree_mark_a_point_not_steady() -> None:
    def probes(first_ms: float, second_ms: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "t_s": [1.0, 2.0, 6.0, 7.0],
                "ok": True,
                "latency_ms": [first_ms, first_ms, second_ms, second_ms],
            }
        )

    assert halves(probes(1000.0, 1100.0), 10.0) == (1000.0, 1100.0, True)
    assert halves(probes(1000.0, 1300.0), 10.0)[2] is False
    assert halves(probes(2.0, 4.0), 10.0)[2] is True  # 2 ms apart: noise, not a transient


def test_repeats_collapse_to_their_median_with_min_and_max() -> None:
    rows = [
        {
            **Point(
                app="sync",
                visitors=4,
                smtp_delay_s=2.0,
                web_workers=1,
                web_threads=1,
                celery_concurrency=4,
                repeat=r,
            ).labels(),
            "endpoint": "home",
            "n": 100,
            "p50_ms": p50,
            "steady": r != 2,
            "valid": True,
        }
        for r, p50 in ((1, 3000.0), (2, 3600.0), (3, 3300.0))
    ]
    row = collapse_repeats(pd.DataFrame(rows)).iloc[0]
    assert (row["p50_ms"], row["p50_min_ms"], row["p50_max_ms"]) == (3300.0, 3000.0, 3600.0)
    assert row["repeats"] == 3 and not row["steady"]


def test_repeats_keep_email_counts_that_add_up() -> None:
    # Medians of each count would give 21 delivered + 97 queued of 119 accepted: three runs.
    runs = ((1, 15100.0, 119, 22, 97), (2, 15000.0, 114, 21, 93), (3, 15300.0, 119, 19, 100))
    rows = [
        {
            **replace(POINT, visitors=10, repeat=r).labels(),
            "endpoint": "email_delivery",
            "p50_ms": p50,
            "accepted": accepted,
            "delivered": delivered,
            "queued_at_bound": queued,
            "steady": True,
            "valid": True,
        }
        for r, p50, accepted, delivered, queued in runs
    ]
    row = collapse_repeats(pd.DataFrame(rows)).iloc[0]
    assert row["p50_ms"] == 15100.0
    assert (row["accepted"], row["delivered"], row["queued_at_bound"]) == (119, 22, 97)


def test_the_burst_formula_falls_from_visitors_times_delay() -> None:
    assert burst_wait_s(0.0, 10, 2.0) == 20.0
    assert burst_wait_s(5.0, 10, 2.0) == 15.0
    assert burst_wait_s(25.0, 10, 2.0) == 0.0
    # Four slots: ten POSTs take three rounds on two of them, two rounds on the other two.
    assert burst_wait_s(0.0, 10, 2.0, servers=4) == 4.0
    assert burst_wait_s(0.0, 3, 2.0, servers=4) == 0.0


def test_a_saturated_blocking_cycle_is_every_post_in_turn() -> None:
    scenario = Scenario(visitors=10, delay_s=2.0, service_s=0.003)
    assert cycle_s(scenario, blocking=True) == pytest.approx(20.03)
    assert cycle_s(scenario, blocking=False) == pytest.approx(3.009)
    assert cycle_s(scenario, blocking=False, post_waits=False) == pytest.approx(1.009)


def test_the_staggered_model_does_not_move_with_its_window() -> None:
    # Staggered over one cycle, measured after two: the steady state, whatever its length.
    def p50(window_s: float) -> float:
        scenario = Scenario(
            visitors=10, delay_s=2.0, spawn_s=20.0, warmup_s=40.0, window_s=window_s
        )
        return predict(scenario, replications=8).p50_s

    short, long = p50(50.0), p50(100.0)
    assert abs(long - short) / short < 0.15
    assert 4.0 < short < 10.0  # far below the synchronised transient's visitors x delay


def test_a_sweep_of_several_setups_reports_tables_but_judges_no_claims() -> None:
    from loadtests.publishing import bench_report, tables

    rows = []
    for workers in (1, 4):
        for endpoint in ("home", "contact_post", "email_delivery"):
            rows.append(
                {
                    "app": "sync",
                    "visitors": 2,
                    "smtp_delay_s": 2.0,
                    "web_workers": workers,
                    "web_threads": 1,
                    "celery_concurrency": 4,
                    "endpoint": endpoint,
                    "n": 50,
                    "errors": 0,
                    "pending": 0,
                    "p50_ms": 5.0,
                    "p95_ms": 9.0,
                    "p99_ms": 9.0,
                    "max_ms": 9.0,
                    "rps": 5.0,
                    "valid": True,
                }
            )
    summary = pd.DataFrame(rows)

    assert bench_report.setups(summary) == [(1, 1, 4, "prefork"), (4, 1, 4, "prefork")]
    assert tables.text_table(tables.claims_frame([])).startswith("claim")


def test_the_first_probe_after_a_burst_counts_the_posts_it_overtook(tmp_path: Path):
    """Four POSTs recorded as sent before the probe, the server reached two of them after it:
    the note says it overtook two, and waited two POSTs less."""
    point = Point.one_worker("sync", 4, 2.0, 4)
    sent = [k * 0.0005 for k in range(4)]  # every POST before the probe, at 3 ms
    answered = [2.005, 4.005, 6.021, 8.021]  # the last two after the probe's 4.013
    rows = [
        ("contact_post", t, (end - t) * 1000, t - 0.002)
        for t, end in zip(sent, answered, strict=True)
    ]
    rows.append(("home", 0.003, 4010.0, 0.001))
    raw = pd.DataFrame(rows, columns=["endpoint", "t_s", "latency_ms", "sent_after_s"])
    (tmp_path / "raw").mkdir()
    raw.to_csv(tmp_path / "raw" / f"burst-{point.name}.requests.csv.gz", index=False)
    burst = pd.DataFrame([{**point.labels(), "predicted_first_ms": 8000.0}])

    first = burst_analysis.first_probe(tmp_path, burst, 4)

    assert first["posts_before"] == 4 and first["overtaken"] == 2
    assert "overtook" in lesson.burst_note(tmp_path, burst, 4).data
