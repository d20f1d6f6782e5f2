"""`make bench-quick` end to end, and the committed reference run against docs/results.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from loadtests.analysis.burst import timeline_probes
from loadtests.analysis.results import RESULTS_DIR, SUMMARY_COLUMNS
from loadtests.publishing import bench_report
from loadtests.publishing.records import doc_pages, generated_section
from tests.conftest import run_at_once

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


BENCH = [sys.executable, "-m", "loadtests.runners.bench"]


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """`make bench-quick` ("quick"), and at the same time, on stacks of its own, the quick
    sustained sync point again with a window twice as long, measured by both generators
    ("longer"): each its results folder and what it printed."""
    outs = {run: tmp_path_factory.mktemp("bench") / run for run in ("quick", "longer")}
    pages_before = [page.read_text() for page in doc_pages()]
    # `--burst` with no sizes: no burst.
    longer = ["--apps", "sync", "--burst", "--window-scale", "2", "--second-generator"]
    runs = run_at_once(
        [
            [*BENCH, "--quick", "--out", str(outs["quick"])],
            [*BENCH, "--quick", *longer, "--out", str(outs["longer"])],
        ],
        timeout_s=240,
    )
    for finished in runs:
        assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert [page.read_text() for page in doc_pages()] == pages_before, (
        "only the reference run may touch the README and docs/"
    )
    return {
        run: (out, finished.stdout) for (run, out), finished in zip(outs.items(), runs, strict=True)
    }


@pytest.fixture(scope="module")
def quick_run(quick_runs: dict[str, tuple[Path, str]]) -> tuple[Path, str]:
    return quick_runs["quick"]


@pytest.mark.bench
def test_quick_sweep_writes_a_sane_summary(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert set(summary["app"]) == {"sync", "celery", "asyncio"}
    assert set(summary["endpoint"]) == {"home", "contact_post", "email_delivery"}
    home = summary[summary["endpoint"] == "home"].set_index(["app", "visitors"])
    assert (home["n"] >= 20).all(), "every point needs dozens of homepage probes"
    assert (home["errors"] == 0).all() and (home["pending"] == 0).all()
    # The lab's whole point, at a 0.5 s provider delay: a busy sync app keeps its homepage
    # waiting behind the form, the other two do not.
    assert home.loc[("sync", 4), "p50_ms"] > 10 * home.loc[("celery", 4), "p50_ms"]
    assert home.loc[("sync", 4), "p50_ms"] > 10 * home.loc[("asyncio", 4), "p50_ms"]
    post = summary[summary["endpoint"] == "contact_post"].set_index(["app", "visitors"])
    assert post.loc[("sync", 4), "p50_ms"] >= 500  # the provider's delay, inside the request
    assert post.loc[("asyncio", 4), "p50_ms"] >= 500
    assert post.loc[("celery", 4), "p50_ms"] < 500
    mail = summary[summary["endpoint"] == "email_delivery"].set_index(["app", "visitors"])
    assert (mail.loc[[("sync", 4), ("celery", 4), ("asyncio", 4)], "n"] > 0).all()
    assert (mail.loc[[("sync", 4), ("celery", 4), ("asyncio", 4)], "p50_ms"] >= 500).all()


@pytest.mark.bench
def test_quick_sweep_keeps_every_request_and_the_environment(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    raw = sorted(p.name for p in (out / "raw").iterdir())
    name = "sync-v04-d0.5-w1t1-c4-locust-r1"
    assert f"{name}.requests.csv.gz" in raw
    assert "celery-v04-d0.5-w1t1-c4-locust-r1.backlog.csv.gz" in raw
    assert f"burst-{name}.requests.csv.gz" in raw
    requests = pd.read_csv(out / "raw" / f"{name}.requests.csv.gz")
    assert {"contact_form", "contact_post", "thanks", "home"} <= set(requests["endpoint"])
    assert {"start", "latency_ms", "status", "app", "visitors"} <= set(requests.columns)
    env = json.loads((out / "environment.json").read_text())
    assert env["machine"]["cores"] >= 1 and env["packages"]["locust"]
    assert env["plan"]["delay_s"] == 0.5 and "secret_key" not in env["settings"]
    # Staggered visitors, a warm-up of whole cycles, a window sized from the cycle.
    assert env["plan"]["timing_s"][name]["warmup"] > 2 * 0.5


@pytest.mark.bench
def test_quick_burst_drains_as_the_formula_says(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    burst = pd.read_csv(out / "burst.csv").set_index("app")
    assert (burst["posts_ok"] == 4).all() and (burst["unanswered"] == 0).all()
    # Four POSTs at once, 0.5 s each, one slot: a homepage sent t seconds later waits 2 s - t.
    # (A probe sent in the same few milliseconds as the POSTs can reach the server before some of
    # them: the formula is checked from 0.1 s on. Each POST also holds the worker a little longer
    # than the provider's delay, which the formula leaves out.)
    sync = burst.loc["sync"]
    assert sync["predicted_first_ms"] >= 1900
    assert abs(sync["drained_s"] - 2.0) < 0.5
    probes = timeline_probes(out, pd.read_csv(out / "burst.csv"), 4)["sync"]
    early = probes[(probes["sent_after_s"] >= 0.1) & (probes["sent_after_s"] < 1.0)]
    gaps = (early["latency_ms"] - early["predicted_ms"]).abs()
    assert len(early) >= 5 and gaps.median() < 0.25 * 2000, early
    # The staircase falls: a probe sent later waits less.
    assert early["latency_ms"].iloc[0] - early["latency_ms"].iloc[-1] > 500, early
    assert (
        burst.loc["celery", "worst_probe_ms"] < 1000
        and burst.loc["asyncio", "worst_probe_ms"] < 1000
    )


@pytest.mark.bench
def test_quick_sweep_draws_its_plots_and_reports_the_claims(quick_run: tuple[Path, str]) -> None:
    out, stdout = quick_run
    for name in ("homepage_latency", "contact_post_latency", "email_delivery", "burst-4"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 20_000, name
    for claim in ("C2/C3", "queue", "C4", "C6", "C10"):
        assert claim in stdout
    assert "reproduced" in stdout and "still queued" in stdout
    assert (out / "report.md").read_text() == bench_report.rebuild_report(out)[0]


@pytest.mark.bench
def test_a_steady_sync_point_keeps_its_median_when_its_window_doubles(
    quick_runs: dict[str, tuple[Path, str]],
) -> None:
    """The headline must describe the load, not the window: run the quick bench's sustained
    sync point again with a window twice as long; its homepage p50 moves by less than 15%, and
    the journey model predicts both within 20%. The longer run is measured once more by the
    threads generator (not Locust): the two agree within 15%."""
    quick, longer = quick_runs["quick"][0], quick_runs["longer"][0]
    medians = []
    for out in (quick, longer):
        summary = pd.read_csv(out / "summary.csv")
        rows = summary[(summary["app"] == "sync") & (summary["endpoint"] == "home")]
        rows = rows.set_index(["generator", "visitors"])
        home = rows.loc[("locust", 4)]
        model = (
            pd.read_csv(out / "model.csv").set_index(["generator", "visitors"]).loc[("locust", 4)]
        )
        assert home["n"] >= 80 and home["errors"] == 0 and home["pending"] == 0
        assert abs(home["p50_ms"] - model["p50_ms"]) / model["p50_ms"] < 0.20, (home, model)
        medians.append(home["p50_ms"])
    env = [json.loads((o / "environment.json").read_text()) for o in (quick, longer)]
    name = "sync-v04-d0.5-w1t1-c4-locust-r1"
    assert (
        env[1]["plan"]["timing_s"][name]["window"] == 2 * env[0]["plan"]["timing_s"][name]["window"]
    )
    assert abs(medians[1] - medians[0]) / medians[0] < 0.15, medians
    threads = rows.loc[("threads", 4)]
    assert threads["n"] >= 80 and threads["errors"] == 0
    assert abs(threads["p50_ms"] - medians[1]) / medians[1] < 0.15, (threads, medians)


def test_the_results_page_shows_the_committed_reference_run() -> None:
    section = generated_section("bench")
    assert section.strip() == (RESULTS_DIR / "report.md").read_text().strip()
    assert (RESULTS_DIR / "report.md").read_text() == bench_report.rebuild_report(RESULTS_DIR)[0]
    env = json.loads((RESULTS_DIR / "environment.json").read_text())
    assert env["plan"] == {**env["plan"], **{"delay_s": 2.0, "visitors": [0, 2, 4, 10]}}
    assert env["plan"]["repeats"] >= 3 and env["plan"]["second_generator"]
    assert not env["git_uncommitted_changes"]


def test_the_load_a_runner_asks_for_is_the_load_both_generators_read(tmp_path):
    """`drive.Load` writes the LAB_* variables; the locustfile and the threads generator read
    them through the same `LoadConfig`, so no field can be written and never read."""
    from loadtests.load.drive import Load
    from loadtests.load.load_env import LoadConfig

    load = Load(
        ("HomepageProbe", "ArrivingVisitors"),
        1,
        think_s=0.7,
        probe_rate=3.0,
        warmup_s=4.0,
        window_s=20.0,
        ramp_s=2.0,
        drain_max_s=9.0,
        burst=0,
        arrival_rate=1.25,
        arrival_seed=7,
    )
    read = LoadConfig.from_env(load.env(tmp_path / "raw.csv"))

    assert read == LoadConfig(
        probe_rate=3.0,
        think_s=0.7,
        warmup_s=4.0,
        window_s=20.0,
        ramp_s=2.0,
        drain_max_s=9.0,
        raw_csv=tmp_path / "raw.csv",
        burst=0,
        arrival_rate=1.25,
        arrival_seed=7,
    )
