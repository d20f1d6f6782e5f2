"""`make bench-quick` end to end, and the committed reference run against the README."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lab_stack.stack import PROJECT_ROOT
from loadtests import sweep
from loadtests.results import README, RESULTS_DIR, SUMMARY_COLUMNS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("bench") / "results"
    readme_before = README.read_text()
    finished = subprocess.run(
        [sys.executable, "-m", "loadtests.sweep", "--quick", "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert README.read_text() == readme_before, "only the reference run may touch README"
    return out, finished.stdout


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
    assert "sync-v04-d0.5-w1t1-c4.requests.csv.gz" in raw
    assert "celery-v04-d0.5-w1t1-c4.backlog.csv.gz" in raw
    requests = pd.read_csv(out / "raw" / "sync-v04-d0.5-w1t1-c4.requests.csv.gz")
    assert {"contact_form", "contact_post", "thanks", "home"} <= set(requests["endpoint"])
    assert {"start", "latency_ms", "status", "app", "visitors"} <= set(requests.columns)
    env = json.loads((out / "environment.json").read_text())
    assert env["machine"]["cores"] >= 1 and env["packages"]["locust"]
    assert env["plan"]["delay_s"] == 0.5 and "secret_key" not in env["settings"]
    throughput = pd.read_csv(out / "throughput.csv").set_index("endpoint")
    assert throughput.loc["contact_post", "rps"] > 10
    assert throughput.loc["home", "rps"] > throughput.loc["contact_post", "rps"]


@pytest.mark.bench
def test_quick_sweep_draws_its_plots_and_reports_the_claims(quick_run: tuple[Path, str]) -> None:
    out, stdout = quick_run
    for name in ("homepage_latency", "contact_post_latency", "email_delivery", "throughput"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 20_000, name
    for claim in ("C2/C3", "C4", "C5", "C6", "C10"):
        assert claim in stdout
    assert "reproduced" in stdout
    assert (out / "report.md").read_text() == sweep.rebuild_report(out)


def test_readme_shows_the_committed_reference_run() -> None:
    text = README.read_text()
    section = text[
        text.index(sweep.README_START) + len(sweep.README_START) : text.index(sweep.README_END)
    ]
    assert section.strip() == (RESULTS_DIR / "report.md").read_text().strip()
    assert (RESULTS_DIR / "report.md").read_text() == sweep.rebuild_report(RESULTS_DIR)
    env = json.loads((RESULTS_DIR / "environment.json").read_text())
    assert env["plan"] == {**env["plan"], **{"delay_s": 2.0, "visitors": [0, 1, 2, 4, 6, 8, 10]}}
