"""The cost of meeting one target (`make bench-cost`): the model's sizes, the search for the
smallest, the plan, the verdicts, and the memory of a process tree. No server is started."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import psutil
import pytest

from loadtests.analysis.cost_limits import beyond_sizes, predictions_frame, predictions_from
from loadtests.analysis.cost_model import (
    Prediction,
    Schedule,
    one_process_limit,
    outcome,
    predict,
    smallest_size,
)
from loadtests.analysis.cost_plan import FAMILIES, CostPlan, Target, family_named, quick
from loadtests.analysis.cost_summary import held, needed
from loadtests.analysis.model import fifo_waits, md1_wait_s
from loadtests.analysis.results import percentile
from loadtests.load.footprint import pss_kb, tree_memory
from loadtests.load.journey import poisson_arrivals

PLAN = replace(CostPlan(), model_visitors=4000)  # a long run, short enough for a test
SYNC_WORKERS = family_named("sync x WEB_CONCURRENCY")
SYNC_THREADS = family_named("sync x WEB_THREADS")
ASYNCIO = family_named("asyncio x WEB_CONCURRENCY")
CELERY = family_named("celery x CELERY_CONCURRENCY")


def long_run(rate: float) -> Schedule:
    return Schedule.long_run(poisson_arrivals(rate, PLAN.model_visitors / rate, PLAN.seed))


def test_a_fifo_queue_of_fixed_jobs_waits_as_pollaczek_khinchine_says():
    rate, service = 1.5, 0.5  # rho 0.75
    arrivals = poisson_arrivals(rate, 40_000 / rate, 3)

    waits = fifo_waits(arrivals, service, 1)

    assert statistics.mean(waits) == pytest.approx(md1_wait_s(rate, service), rel=0.1)
    assert max(fifo_waits([0.0, 1.0, 2.0], 0.5, 1)) == 0.0  # nothing ahead: no wait
    assert fifo_waits([0.0, 0.0, 0.0], 0.5, 2) == [0.0, 0.0, 0.5]  # the third waits for a slot


def test_the_smallest_size_search_returns_the_smallest_size_that_meets_the_target():
    def meets(n: int) -> bool:
        return n >= 7

    assert smallest_size(meets, start=1) == 7  # searched up
    assert smallest_size(meets, start=12) == 7  # searched down
    assert smallest_size(meets, start=7) == 7
    assert smallest_size(lambda n: True, start=5) == 1  # never below `lowest`
    assert smallest_size(lambda n: True, start=5, lowest=3) == 3
    assert smallest_size(lambda n: False, start=1, largest=20) is None


def test_predicted_sync_workers_grow_with_rate_as_m_d_c_says():
    rates = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    hold = PLAN.delay_s + PLAN.post_extra_s

    sizes = [predict(PLAN, SYNC_WORKERS, rate, long_run(rate)).n for rate in rates]

    assert sizes == sorted(sizes)
    assert all(n > rate * hold for n, rate in zip(sizes, rates, strict=True))  # stable
    # Square-root staffing: the margin over rate x delay grows, but slower than the rate.
    margins = [n / (rate * hold) for n, rate in zip(sizes, rates, strict=True)]
    assert margins == sorted(margins, reverse=True)
    for rate, n in zip(rates, sizes, strict=True):
        # The plain M/D/c queue of POSTs alone, a homepage within 100 ms when its wait is: the
        # journey's model lands within one worker of it.
        arrivals = poisson_arrivals(rate, PLAN.model_visitors / rate, PLAN.seed)

        def posts_only(c: int, arrivals: list[float] = arrivals) -> bool:
            waits = fifo_waits(arrivals, hold, c)
            return percentile(waits[len(waits) // 10 :], 95) <= 0.099

        assert abs(n - smallest_size(posts_only, start=n)) <= 1, rate


def test_one_worker_fewer_than_predicted_misses_the_target_in_the_model():
    for rate in (2.0, 8.0):
        found = predict(PLAN, SYNC_WORKERS, rate, long_run(rate))
        below = outcome(PLAN, SYNC_WORKERS, long_run(rate), found.n - 1)

        assert found.outcome.home_p95_ms <= PLAN.target.home_p95_ms
        assert below.home_p95_ms > PLAN.target.home_p95_ms


def test_threads_are_sized_as_workers_but_in_one_process():
    rate = 4.0
    workers = predict(PLAN, SYNC_WORKERS, rate, long_run(rate))
    threads = predict(PLAN, SYNC_THREADS, rate, long_run(rate))

    assert threads.n == workers.n
    assert (threads.size.web_workers, threads.size.web_threads) == (1, workers.n)
    assert threads.processes == 3  # gunicorn's master, its one worker, Redis
    assert workers.processes == 2 + workers.n


def test_no_thread_count_helps_past_one_process_cpu():
    past = one_process_limit(PLAN, SYNC_THREADS) * 1.1

    assert predict(PLAN, SYNC_THREADS, past, long_run(past)).n is None


def test_the_event_loop_needs_one_process_until_its_cpu_fills():
    limit = one_process_limit(PLAN, ASYNCIO)

    for rate in (1.0, 8.0, limit / 4):
        assert predict(PLAN, ASYNCIO, rate, long_run(rate)).n == 1
    crowded = limit * 1.2
    assert predict(PLAN, ASYNCIO, crowded, long_run(crowded)).n > 1


def test_celery_needs_more_senders_than_rate_x_delay_and_one_web_process():
    for rate in (1.0, 2.0, 4.0, 8.0):
        found = predict(PLAN, CELERY, rate, long_run(rate))

        assert found.n > rate * PLAN.delay_s
        assert found.web_workers == 1
        assert found.outcome.email_p95_ms <= PLAN.target.email_p95_ms
        if found.n > 1:
            below = outcome(PLAN, CELERY, long_run(rate), found.n - 1)
            assert below.email_p95_ms > PLAN.target.email_p95_ms
        # Its processes: gunicorn's master and worker, Redis, Celery's main and children, push.
        assert found.processes == 2 + 1 + (1 + found.n) + 1


def test_the_plan_measures_the_predicted_size_and_one_below_never_below_one():
    predictions = {
        (f.name, rate): Prediction(f, rate, n) for f in FAMILIES for rate, n in ((1.0, 1), (2.0, 3))
    }
    plan = replace(CostPlan(), rates=(1.0, 2.0))

    points = plan.points(predictions)
    chosen = replace(plan, sizes=(2,)).points(predictions)

    assert {(p.rate, p.n, p.role) for p in points} == {
        (1.0, 1, "predicted"),
        (2.0, 2, "one below"),
        (2.0, 3, "predicted"),
    }
    assert len(points) == 3 * len(FAMILIES)
    assert {p.n for p in chosen} == {2}
    quick_plan = replace(CostPlan(), **quick())
    full = sum(map(plan.estimate_s, points))
    assert sum(map(quick_plan.estimate_s, points)) < full / 2
    assert f"About {math.ceil(full / 60)} minutes" in plan.announcement(points, 1.0)


def test_the_target_holds_only_when_every_p95_is_within_it_and_nothing_is_lost():
    plan = replace(CostPlan(), target=Target(100, 1000, 5000))
    good = {
        "home_p95_ms": 40.0,
        "post_p95_ms": 520.0,
        "email_p95_ms": 510.0,
        "home_unanswered": 0,
        "post_failures": 0,
    }

    assert held(plan, good)
    assert not held(plan, {**good, "home_p95_ms": 140.0})
    assert not held(plan, {**good, "email_p95_ms": math.nan})  # nothing measured
    assert not held(plan, {**good, "home_unanswered": 1})
    assert not held(plan, {**good, "post_failures": 2})


def test_the_smallest_measured_size_that_held_is_reported_beside_the_prediction():
    rows = [
        {"family": SYNC_WORKERS.name, "rate": 2.0, "n": 3, "held": False},
        {"family": SYNC_WORKERS.name, "rate": 2.0, "n": 4, "held": True},
        {"family": CELERY.name, "rate": 2.0, "n": 1, "held": True},
        {"family": CELERY.name, "rate": 2.0, "n": 2, "held": True},
        {"family": ASYNCIO.name, "rate": 2.0, "n": 1, "held": False},
    ]
    table = pd.DataFrame(rows).assign(
        processes=6, pss_mb=100.0, web_cpu_ms_per_request=1.0, **_one_web_part()
    )
    predictions = {
        (SYNC_WORKERS.name, 2.0): Prediction(SYNC_WORKERS, 2.0, 4),
        (CELERY.name, 2.0): Prediction(CELERY, 2.0, 2),
        (ASYNCIO.name, 2.0): Prediction(ASYNCIO, 2.0, 1),
    }

    result = needed(table, predictions).set_index("family")

    assert result.loc[SYNC_WORKERS.name, "measured_n"] == 4
    assert result.loc[SYNC_WORKERS.name, "verdict"] == "held; one below broke: as predicted"
    assert result.loc[CELERY.name, "measured_n"] == 1
    assert "cautious" in result.loc[CELERY.name, "verdict"]
    assert math.isnan(result.loc[ASYNCIO.name, "measured_n"])
    assert "missed, and every size tried above it" in result.loc[ASYNCIO.name, "verdict"]


def _one_web_part() -> dict[str, float]:
    return {"web_processes": 2, "web_pss_mb": 60.0, "web_leader_pss_mb": 20.0}


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="Linux's PSS")
def test_pss_is_summed_over_a_process_tree_and_counts_shared_pages_once():
    """A leader that starts one child, as gunicorn's master does its worker: apart from the
    test's own process, whose tree holds whatever servers other tests of this worker run."""
    waits = "import sys; print('ready', flush=True); sys.stdin.read()"
    leads = (
        "import subprocess, sys; "
        f"c = subprocess.Popen([sys.executable, '-c', {waits!r}], stdin=subprocess.PIPE, "
        "stdout=subprocess.PIPE, text=True); c.stdout.readline(); "
        "print(c.pid, flush=True); sys.stdin.read(); c.kill()"
    )
    leader = subprocess.Popen(
        [sys.executable, "-c", leads], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(leader.stdout.readline())  # both started: their memory stays put now
        tree = tree_memory(leader.pid)
        mine, its = pss_kb(leader.pid) / 1024, pss_kb(child) / 1024
        family = [psutil.Process(leader.pid), psutil.Process(child)]
        rss_mb = sum(p.memory_info().rss for p in family) / 2**20

        assert tree.processes == 2
        assert tree.leader_pss_mb == pytest.approx(mine, rel=0.05)
        assert tree.pss_mb == pytest.approx(mine + its, rel=0.05)
        assert its > 1
        assert tree.pss_mb < rss_mb  # the interpreter's shared pages count once, not twice
        assert tree_memory(child).processes == 1
    finally:
        leader.kill()
        leader.communicate()


def test_a_stored_plan_reads_back_as_the_plan_that_ran():
    plan = replace(CostPlan(), families=(SYNC_WORKERS, CELERY), rates=(2.0, 4.0), sizes=(3,))

    stored = json.loads(json.dumps(plan.record()))  # as summary.json holds it

    assert CostPlan.from_record(stored) == replace(plan, out=CostPlan().out)


def test_the_models_sizes_past_the_rates_measured_read_back_from_their_table(tmp_path):
    beyond = {
        (SYNC_WORKERS.name, 128.0): Prediction(SYNC_WORKERS, 128.0, 12),
        (SYNC_THREADS.name, 128.0): Prediction(SYNC_THREADS, 128.0, None),
        (CELERY.name, 128.0): Prediction(CELERY, 128.0, 9, web_workers=2),
    }
    predictions_frame(beyond).to_csv(tmp_path / "beyond.csv", index=False)

    back = predictions_from(pd.read_csv(tmp_path / "beyond.csv"))

    assert {k: (p.n, p.web_workers, p.processes) for k, p in back.items()} == {
        k: (p.n, p.web_workers, p.processes) for k, p in beyond.items()
    }
    sizes = beyond_sizes(
        replace(CostPlan(), families=(SYNC_WORKERS, SYNC_THREADS, CELERY)), 2, back
    )
    assert list(sizes["n"].isna()) == [False, True, False]
    assert sizes["past_machine"].all()  # 2 cores serve under 100 a second
