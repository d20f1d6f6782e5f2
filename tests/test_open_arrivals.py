"""Open arrivals: visitors come on a seeded Poisson schedule whatever the site answers, the model
replays that schedule, and the closed loop keeps the regime its start chose."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from lab_stack.processes import free_port
from lab_stack.stack import PROJECT_ROOT
from loadtests.analysis import queue_view
from loadtests.analysis.model import (
    Scenario,
    md1_wait_s,
    open_overload_slope,
    predict,
    predict_distribution,
    simulate,
    textbook_overload_slope,
)
from loadtests.analysis.open_arrivals_plan import OpenPlan
from loadtests.analysis.results import LOCAL_DIR, RESULTS_DIR, percentile
from loadtests.load.drive import OPEN_USERS, Load, generate
from loadtests.load.journey import STILL_WAITING, poisson_arrivals
from loadtests.runners import open_arrivals, open_arrivals_again
from loadtests.runners.regimes import STARTS, RegimePlan, parse_args, per_bin, replayed


def test_poisson_arrivals_come_at_the_rate_with_memoryless_gaps():
    rate, until = 4.0, 500.0
    schedules = [poisson_arrivals(rate, until, seed) for seed in range(1, 21)]

    counts = [len(s) for s in schedules]
    gaps = [b - a for s in schedules for a, b in itertools.pairwise(s)]
    assert abs(statistics.mean(counts) / until - rate) / rate < 0.02
    # Exponential gaps: the standard deviation equals the mean (a fixed rhythm would give 0).
    assert abs(statistics.stdev(gaps) / statistics.mean(gaps) - 1) < 0.05
    assert poisson_arrivals(rate, until, 7) == poisson_arrivals(rate, until, 7)  # replayable


def test_md1_mean_wait_is_pollaczek_khinchine():
    assert md1_wait_s(0.25, 2.0) == pytest.approx(1.0)  # rho 0.5: 0.5 x 2 / (2 x 0.5)
    assert md1_wait_s(0.45, 2.0) == pytest.approx(9.0)  # rho 0.9
    assert md1_wait_s(0.5, 2.0) == float("inf")


def test_the_model_with_no_arrivals_leaves_the_probe_its_own_time():
    scenario = Scenario(0, 2.0, arrivals=(), window_s=10.0, service_s=0.004)

    latencies = simulate(scenario)

    assert len(latencies) == 50 and all(lat == pytest.approx(0.004) for lat in latencies)


def test_the_model_past_capacity_grows_the_wait_as_the_work_arriving_exceeds_the_worker():
    rate, delay, probes, page = 1.2 / 0.5, 0.5, 5.0, 0.003
    arrivals = tuple(poisson_arrivals(rate, 400.0, 1))
    scenario = Scenario(
        0, delay, probe_rate=probes, window_s=400.0, service_s=page, arrivals=arrivals
    )

    latencies = simulate(scenario)
    sent = [k / probes for k in range(len(latencies))]
    slope = statistics.linear_regression(sent, latencies).slope

    predicted = open_overload_slope(rate, delay, probes, page)
    # One schedule's own rate differs from the nominal one by a few percent; the textbook's
    # single queue of whole jobs (rho - 1) would double the growth.
    assert slope == pytest.approx(predicted, rel=0.15)
    assert textbook_overload_slope(rate, delay) > 1.5 * predicted


def test_the_model_below_capacity_keeps_the_tail_above_the_median():
    arrivals = tuple(poisson_arrivals(0.25, 2000.0, 1))  # rho 0.5 at a 2 s delay
    model = predict_distribution(Scenario(0, 2.0, arrivals=arrivals, window_s=2000.0), 3)

    # Most probes find the worker free, some wait behind a queue of POSTs.
    assert model.p50_s < 0.1 < model.mean_s < model.p95_s
    assert 0.3 < model.share_over_100ms < 0.7


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A site that takes every connection and never answers: a stalled server."""
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen(4096)  # the kernel completes the handshakes; nobody reads
        yield f"http://127.0.0.1:{port}"


def arrivals_at_a_silent_site(
    site: str, tmp_path: Path, generator: str, window_s: float, rate: float, seed: int
) -> tuple[int, pd.DataFrame]:
    """Run `generator`'s open arrivals against a site that never answers: how many visitors
    arrived (all of them still waiting) and every request of the window."""
    load = Load(
        OPEN_USERS,
        2,
        probe_rate=1.0,
        window_s=window_s,
        drain_max_s=1.0,
        arrival_rate=rate,
        arrival_seed=seed,
    )
    raw_csv = tmp_path / "raw.csv"
    meta = generate(generator, site, load, raw_csv, tmp_path / "generator.log")
    requests = pd.read_csv(raw_csv, keep_default_na=False)
    inside = requests[
        (requests["start"] >= meta["window_start"]) & (requests["start"] < meta["window_end"])
    ]
    return int((inside["error"] == f"{STILL_WAITING}contact_form").sum()), inside


# Each generator's arrivals (per second) and window (s). Locust's brings the three hundred
# visitors a minute at 5 per second would, in a third of the time.
SILENT_RUNS = {"locust": (15.0, 20.0), "threads": (5.0, 20.0)}


@pytest.fixture(scope="module")
def silent_site_arrivals(tmp_path_factory) -> dict[str, tuple[int, pd.DataFrame]]:
    """Each generator's run at a silent site of its own, both at once (`arrivals_at_a_silent_site`):
    nobody is answered, so neither run can change what the other's site does."""
    with contextlib.ExitStack() as sites, ThreadPoolExecutor(len(SILENT_RUNS)) as pool:
        runs = {
            generator: pool.submit(
                arrivals_at_a_silent_site,
                sites.enter_context(silent_server()),
                tmp_path_factory.mktemp(generator),
                generator,
                window_s,
                rate,
                seed=3,
            )
            for generator, (rate, window_s) in SILENT_RUNS.items()
        }
        return {generator: run.result() for generator, run in runs.items()}


@pytest.mark.bench
def test_visitors_keep_arriving_at_the_set_rate_while_the_site_answers_nobody(
    silent_site_arrivals,
):
    rate, window_s = SILENT_RUNS["locust"]

    arrived, inside = silent_site_arrivals["locust"]

    # Nobody was ever answered, yet over the window visitors kept arriving at the set rate...
    assert (inside["endpoint"] == "pending").all()
    assert abs(arrived / window_s - rate) / rate < 0.10, arrived
    # ...exactly as the schedule says, which the model replays.
    assert abs(arrived - len(poisson_arrivals(rate, window_s, 3))) <= 2


@pytest.mark.bench
def test_the_threads_generator_follows_the_same_schedule(silent_site_arrivals):
    rate, window_s = SILENT_RUNS["threads"]

    arrived, inside = silent_site_arrivals["threads"]

    assert (inside["endpoint"] == "pending").all()
    assert abs(arrived - len(poisson_arrivals(rate, window_s, 3))) <= 2


# The convoy splits when a second visitor's next form reaches the one worker before the first
# visitor's POST does (both POSTs then go ahead of the other forms): the wider the think times'
# spread against how long a form takes to answer, the rarer that is. The reference's setting
# (2 s provider, 1 s of thinking) has 1 s of spread; this one twice that, with the provider
# still longer than the spread (else the last visitor's form comes after the first POST is
# answered and leaves the convoy by itself). Five cycles, two to settle and a bin per cycle.
CONVOY = replace(RegimePlan(), visitors=10, delay_s=3.0, think_s=2.0)
CONVOY = replace(CONVOY, minutes=5 * CONVOY.cycle_s / 60, bin_s=CONVOY.cycle_s)


def kept_apart(p50_ms: dict[str, float], bins_ms: pd.DataFrame) -> bool:
    """The synchronized start's homepage p50 stays above the staggered one's, overall and in
    three quarters of the bins after settling (`bins_ms`: a column per start, a row per bin;
    at the test's setting three bins, so every one)."""
    overall = p50_ms["synchronized"] > 1.2 * p50_ms["staggered"]
    return overall and (bins_ms["synchronized"] > bins_ms["staggered"]).mean() >= 0.75


def modelled_regimes(plan: RegimePlan, jitter_s: float, seed: int) -> tuple[dict, pd.DataFrame]:
    """One replay of both starts by the model (one seed, every cheap request 3 ms), in the
    shape `kept_apart` reads."""
    p50_ms, bins = {}, {}
    for start in STARTS:
        scenario = replace(plan.scenario(start, service_s=0.003), jitter_s=jitter_s)
        sent_s, latency_ms = replayed(scenario, [seed])
        p50_ms[start] = percentile(latency_ms[sent_s >= plan.settle_s], 50)
        rows = per_bin(sent_s, latency_ms, plan.bin_s)
        bins[start] = {t: p50 for t, p50, _ in rows if t >= plan.settle_s}
    return p50_ms, pd.DataFrame(bins).dropna()


def test_the_regimes_test_runs_a_setting_whose_convoy_a_busy_machine_rarely_splits():
    """The model, its requests wobbling by up to 100 ms (a busy machine; an idle one answers a
    form in a few ms): over 40 seeds the reference's setting, run for five cycles too, loses its
    convoy (the starts no longer `kept_apart`) in a quarter of the runs or more, the test's
    setting in one run of ten or fewer; with an idle machine's wobble neither loses it."""
    reference = replace(CONVOY, delay_s=2.0, think_s=1.0)
    reference = replace(reference, bin_s=reference.cycle_s, minutes=5 * reference.cycle_s / 60)

    def lost(plan: RegimePlan, jitter_s: float) -> int:
        return sum(not kept_apart(*modelled_regimes(plan, jitter_s, seed)) for seed in range(40))

    assert lost(CONVOY, 0.1) <= 4
    assert lost(reference, 0.1) >= 10
    assert lost(CONVOY, 0.002) == lost(reference, 0.002) == 0


def test_a_regimes_run_with_no_bin_after_settling_is_refused_before_it_starts(capsys):
    """One minute with the default 60 s bins leaves no bin after the first two cycles: the
    runner says so at once instead of failing on an empty series at the end."""
    with pytest.raises(SystemExit):
        parse_args(["--minutes", "1", "--visitors", "4", "--delay", "0.5"])
    assert "no bin of 60 s starts after the first 4 s" in capsys.readouterr().err
    shorter = parse_args(["--minutes", "1", "--visitors", "4", "--delay", "0.5", "--bin", "10"])
    assert (shorter.bin_s, shorter.settle_s) == (10, pytest.approx(4.0, abs=0.1))


def measure_regimes(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`make bench-regimes` at the test's setting, both starts at once: the summary (a row per
    start) and the measured homepage p50 of each bin after settling (a column per start)."""
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.runners.regimes",
            *("--minutes", f"{CONVOY.minutes:.4f}", "--visitors", str(CONVOY.visitors)),
            *("--delay", f"{CONVOY.delay_s:g}", "--think", f"{CONVOY.think_s:g}"),
            *("--bin", f"{CONVOY.bin_s:.4f}", "--out", str(out)),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv").set_index("start")
    series = pd.read_csv(out / "series.csv")
    settled = series[
        (series["source"] == "measured") & (series["t_s"] >= summary["settle_s"].iloc[0])
    ]
    record = json.loads((out / "summary.json").read_text())
    assert record["plan"]["delay_s"] == CONVOY.delay_s  # the record names the setting run
    assert record["cycle_s"] == pytest.approx(CONVOY.cycle_s)
    return summary, settled.pivot(index="t_s", columns="start", values="p50_ms")


@pytest.mark.bench
def test_a_synchronized_start_stays_synchronized(tmp_path: Path):
    """The closed loop's two regimes, measured for five cycles each (both starts at once, on two
    stacks): visitors started at one instant keep their convoy (a higher homepage p50, bin after
    bin) and visitors started one after another keep their spread; the model, replaying both
    start schedules, says the same. A convoy can split by a coincidence of think times, more
    often the slower the machine answers (the test above): when the first run's convoy split
    while everything else held, the test runs once more, and that run must keep it."""
    for attempt in (1, 2):
        summary, bins_ms = measure_regimes(tmp_path / f"run-{attempt}")
        staggered, synchronized = summary.loc["staggered"], summary.loc["synchronized"]
        # Whatever the convoy does: the model keeps the starts apart, the worker is saturated
        # either way (the same POSTs per second), and the spread keeps the model's level.
        assert synchronized["model_p50_ms"] > 1.2 * staggered["model_p50_ms"]
        assert synchronized["posts_per_s"] == pytest.approx(staggered["posts_per_s"], rel=0.1)
        assert staggered["p50_ms"] == pytest.approx(staggered["model_p50_ms"], rel=0.2)
        if kept_apart(summary["p50_ms"].to_dict(), bins_ms):
            return
        print(f"Run {attempt}: the convoy split.\n{summary.to_string()}\n{bins_ms.to_string()}")
    pytest.fail("The synchronized start lost its convoy in two runs in a row (printed above).")


def test_the_model_keeps_the_regime_each_start_chose():
    """Ten visitors, 2 s provider, think 1 s: started together they stay a convoy (every POST
    ahead of the probe most of the cycle), started one after another they keep their spread."""
    common = {"think_s": 1.0, "probe_rate": 5.0, "warmup_s": 40.0, "window_s": 400.0}
    staggered = predict(Scenario(10, 2.0, spawn_s=20.0, **common), replications=3)
    synchronized = predict(Scenario(10, 2.0, spawn_s=0.0, **common), replications=3)

    assert synchronized.p50_s > 1.4 * staggered.p50_s
    # Both are fractions of visitors x delay: a sustained load never has every POST ahead.
    assert staggered.p50_s < synchronized.p50_s < synchronized.article_s


def test_the_open_plan_gives_every_hand_off_the_same_arrivals_and_the_sync_queue_time_to_settle():
    reference, quick = open_arrivals.parse_args([]), open_arrivals.parse_args(["--quick"])
    points = reference.points()

    assert reference.out == RESULTS_DIR / "open" and quick.out == LOCAL_DIR / "open"
    by_hand_off = {
        h: {(p.rho, p.rate, p.seed) for p in points if p.hand_off == h and p.seed == 1}
        for h in reference.hand_offs
    }
    assert len({frozenset(v) for v in by_hand_off.values()}) == 1  # the same work for all
    # Near rho 1 the queue settles on a time scale of delay / (1 - rho)^2: warm up one, measure
    # several; a hand-off that never queues needs no such wait.
    warmup, window = reference.timing("sync", 0.9)
    relaxation = reference.delay_s / (1 - 0.9) ** 2
    assert warmup >= relaxation and window >= reference.settle_windows * relaxation
    assert reference.timing("celery", 0.9)[1] < window


def test_the_agreement_plan_measures_each_schedule_with_both_generators():
    plan = open_arrivals.parse_args(["--agreement"])
    points = plan.points()

    assert plan.out == RESULTS_DIR / "open" / "agreement"
    assert {p.hand_off for p in points} == {"sync"} and {p.rho for p in points} == {0.5, 0.9}
    pairs = {(p.rho, p.seed): set() for p in points}
    for p in points:
        pairs[(p.rho, p.seed)].add(p.generator)
    assert len(pairs) == 6 and all(g == {"locust", "threads"} for g in pairs.values())
    assert len(points) == len(set(points))


def test_service_times_are_read_back_from_when_one_worker_answered():
    """A one-worker FIFO run built by hand: a POST that holds the worker 0.51 s, pages of 2 ms
    queued behind it; the medians come back whatever the waits were."""
    rows, t = [], 0.0
    for k in range(20):
        start = t
        rows.append(("contact_post", start, 510.0))
        rows.append(("home", start + 0.1, 510.0 - 100.0 + 2.0))  # waits for the POST, then 2 ms
        rows.append(("thanks", start + 0.2, 510.0 - 200.0 + 4.0))
        t += 1.0 + k * 0.01
    requests = pd.DataFrame(rows, columns=["endpoint", "t_s", "latency_ms"]).assign(in_window=True)

    post_s, cheap_s = queue_view.service_times(requests)

    assert post_s == pytest.approx(0.510) and cheap_s == pytest.approx(0.002)


def test_runs_measured_again_take_their_place_and_the_record_says_why(tmp_path: Path):
    sweep, again_dir = tmp_path / "open", tmp_path / "open" / "remeasured"
    (sweep / "raw").mkdir(parents=True)
    (again_dir / "raw").mkdir(parents=True)
    rows = [
        {"hand_off": h, "rho": 0.5, "generator": "locust", "seed": 1, "delay_s": 0.5, "v": 1.0}
        for h in ("sync", "celery")
    ]
    pd.DataFrame(rows).to_csv(sweep / "summary.csv", index=False)
    (sweep / "summary.json").write_text(json.dumps({"date": "then"}))
    again = pd.DataFrame([{**rows[1], "v": 2.0}])
    name = "celery-rho0.5-locust-s1"
    for part in ("requests", "deliveries"):
        (again_dir / "raw" / f"{name}.{part}.csv.gz").write_text(f"new {part}")
        (sweep / "raw" / f"{name}.{part}.csv.gz").write_text(f"old {part}")
    record = {"date": "now", "git_commit": "abc", "git_uncommitted_changes": False}
    plan = replace(OpenPlan(), out=again_dir, into=sweep, why="a test suite ran beside it")

    table, kept = open_arrivals_again.put_in_place(plan, again, {**record, "wall_time_s": 9.0})

    assert list(table["v"]) == [1.0, 2.0]  # the celery run replaced, the sync run kept, in order
    assert (sweep / "raw" / f"{name}.requests.csv.gz").read_text() == "new requests"
    assert kept["measured_again"] == [
        {"runs": [name], "why": "a test suite ran beside it", **record, "wall_time_s": 9.0}
    ]
    assert json.loads((sweep / "summary.json").read_text()) == kept
    with pytest.raises(ValueError, match="no run to replace"):
        open_arrivals_again.put_in_place(plan, again.assign(seed=7), {**record, "wall_time_s": 1.0})
