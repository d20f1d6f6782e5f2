"""The queueing model and the summary arithmetic, checked without any server."""

from __future__ import annotations

import pandas as pd
import pytest

from loadtests.model import Scenario, article_wait_s, predict, simulate
from loadtests.results import Point, percentile, summarise_point

POINT = Point("celery", 2, 2.0, 1, 1, 4)


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
    deliveries = pd.DataFrame(
        {"user": [2], "sequence": [1], "delay_ms": [2500.0], "in_window": [True]}
    )
    rows = {r["endpoint"]: r for r in summarise_point(POINT, requests, deliveries, 10.0, True)}
    home, post, mail = rows["home"], rows["contact_post"], rows["email_delivery"]
    assert (home["n"], home["errors"], home["pending"]) == (3, 1, 1)
    assert (home["p50_ms"], home["max_ms"], home["rps"]) == (10.0, 30.0, 0.2)
    assert (post["n"], post["p50_ms"]) == (2, 4.0)
    assert (mail["n"], mail["pending"], mail["p50_ms"]) == (1, 1, 2500.0)


def test_a_sweep_of_several_setups_reports_tables_but_judges_no_claims() -> None:
    from loadtests import report
    from loadtests.sweep import claims_for

    rows = []
    for workers in (1, 4):
        for endpoint in ("home", "contact_post", "email_delivery"):
            rows.append({"app": "sync", "visitors": 2, "smtp_delay_s": 2.0, "web_workers": workers,
                         "web_threads": 1, "celery_concurrency": 4, "endpoint": endpoint, "n": 50,
                         "errors": 0, "pending": 0, "p50_ms": 5.0, "p95_ms": 9.0, "p99_ms": 9.0,
                         "max_ms": 9.0, "rps": 5.0, "valid": True})  # fmt: skip
    summary = pd.DataFrame(rows)

    assert claims_for(summary, None, None) == []
    assert report.text_table(report.claims_frame([])).startswith("claim")
