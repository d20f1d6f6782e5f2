"""What `make bench-cost` publishes, from a made-up run in a folder of the test's own: its section
of docs/results.md, the README's sentence under its answer, and the figure. No server is
started, and the committed results/ and pages are not touched."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd

from loadtests.analysis.results import RESULTS_DIR
from loadtests.publishing import cost_sections, pages
from loadtests.publishing.records import DOCS_DIR, measured_on
from tests.fake_cost_run import PLAN, write_fake_cost_run


def _table_rows(section: str, header: str) -> list[list[str]]:
    """The cells of the markdown table whose header row starts with `header`."""
    lines = section.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_the_cost_section_states_its_run_its_target_and_the_smallest_size_that_held(tmp_path):
    folder = write_fake_cost_run(tmp_path)
    record = json.loads((folder / "summary.json").read_text())
    needed = pd.read_csv(folder / "needed.csv")

    section = cost_sections.results_section(tmp_path)

    assert section.startswith(measured_on(record) + "; 45 minutes. Provider delay 0.5 s.")
    assert f"The target, at every rate: {PLAN.target.describe()}." in section
    rows = _table_rows(section, "visitors/s")
    assert len(rows) == len(needed)  # one per arrival rate and way of growing
    by_way = {(row[0], row[1]): row for row in rows}
    sync = needed[(needed["family"] == "sync x WEB_CONCURRENCY") & (needed["rate"] == 4.0)].iloc[0]
    assert by_way[("4", "sync x WEB_CONCURRENCY")] == [
        "4",
        "sync x WEB_CONCURRENCY",
        "5 (5)",
        "5 workers x 1 thread",
        "7 (7)",
        f"{sync['pss_mb']:.0f} MB ({sync['predicted_pss_mb']:.0f} MB)",
        "1.60 ms",
        "held; one below broke: as predicted",
    ]
    threads = by_way[("4", "sync x WEB_THREADS")]  # no thread count tried held
    assert threads[2:6] == ["none of 4-7 (5)", "1 worker x 7 threads", "3 (3)", "n/a (44 MB)"]
    celery = by_way[("4", "celery x CELERY_CONCURRENCY")]
    assert celery[3] == "1 worker x 1 thread; 3 email senders"
    assert by_way[("2", "asyncio x WEB_CONCURRENCY")][3] == "1 worker with an event loop"
    assert "](results/plots/cost.png)" in section


def test_the_cost_section_says_where_the_cores_run_out_and_what_the_model_predicts_beyond(
    tmp_path,
):
    write_fake_cost_run(tmp_path)

    section = cost_sections.results_section(tmp_path)

    assert "Where this 2-core machine becomes the limit." in section
    rows = {row[0]: row for row in _table_rows(section, "way of growing")}
    assert list(rows) == [f.name for f in PLAN.families]
    assert rows["sync x WEB_CONCURRENCY"][3] == "-"  # processes: no one process fills first
    assert rows["sync x WEB_THREADS"][3].endswith("visitors/s")
    # The model's sizes at 16 and 128 visitors/s, memory at what this run's processes weighed:
    # 128/s is more than 2 cores serve, and no thread count will do there.
    assert rows["sync x WEB_CONCURRENCY"][4].startswith("12 (14 processes, ~")
    assert rows["sync x WEB_CONCURRENCY"][5].endswith(", past this machine")
    assert rows["sync x WEB_THREADS"][5] == "-"
    assert "-: no size will do" in section


def test_without_its_run_the_section_says_so_and_the_readme_says_nothing_of_it(tmp_path):
    """Decided, not tolerated by accident: until `make bench-cost` has written needed.csv, its
    section says it has not run and the README's answer holds no sentence about it."""
    (tmp_path / "open").mkdir()
    for name in ("summary.csv", "summary.json", "estimates.csv", "estimates.json"):
        shutil.copy(RESULTS_DIR / "open" / name, tmp_path / "open" / name)

    assert cost_sections.results_section(tmp_path) == cost_sections.NOT_MEASURED
    assert "`make bench-cost`" in cost_sections.NOT_MEASURED
    assert "![" not in cost_sections.NOT_MEASURED
    assert cost_sections.finding(tmp_path) == ""
    without = pages.answer(tmp_path)
    assert "bench-cost" not in without

    write_fake_cost_run(tmp_path)

    assert pages.answer(tmp_path) == without + "\n" + cost_sections.finding(tmp_path)


def test_the_readme_sentence_gives_each_way_its_cost_at_the_highest_rate_sync_workers_held(
    tmp_path,
):
    write_fake_cost_run(tmp_path)

    sentence = cost_sections.finding(tmp_path)

    assert sentence.count("\n") == 1 and sentence.endswith(")).\n")  # one sentence, one line
    assert sentence.startswith("**Then why not just run more sync workers?** (Here a *worker* is ")
    # Each word the sizes are given in is defined before the sentence uses it.
    terms, _, sizes = sentence.partition(") To meet one target")
    for defined in ("*worker*", "*thread*", "*gevent*", "*email senders*", "*processes*"):
        assert defined in terms and defined.strip("*") in sizes
    assert f"({PLAN.target.describe()})" in sentence
    assert "4 a second on average, and a 0.5 s email provider" in sentence
    assert "the sync app needed 5 workers (7 processes, 116 MB of memory)" in sentence
    assert "and 1 worker x 4-7 threads did not meet it; " in sentence
    assert "; the sync app under gevent needed 1 worker (3 processes, " in sentence
    assert "; the celery app needed 3 email senders beside 1 web worker (8 processes, " in sentence
    assert "(`make bench-cost`, 2026-12-07, 2 cores, commit abc1234;" in sentence
    link = re.search(r"\]\((docs/results\.md)#([\w-]+)\)", sentence)
    heading = "## The cost of meeting the same target (`make bench-cost`)"
    assert link and heading in (DOCS_DIR / "results.md").read_text()
    assert link.group(2) == re.sub(r"[^\w\- ]", "", heading[3:].lower()).replace(" ", "-")


def test_a_size_when_nothing_smaller_was_tried_is_said_as_at_most(tmp_path):
    """Where the smallest size tried held, it is the fewest known to hold, not the fewest that
    do (the reference's Celery at 8/s: 4 and 5 tried, both held): the sentence says so."""
    folder = write_fake_cost_run(tmp_path)
    summary = pd.read_csv(folder / "summary.csv")
    celery_2 = (summary["family"] == "celery x CELERY_CONCURRENCY") & (summary["rate"] == 4.0)
    summary[~(celery_2 & (summary["n"] == 2))].to_csv(folder / "summary.csv", index=False)

    sentence = cost_sections.finding(tmp_path)

    assert "; the celery app needed at most 3 email senders beside 1 web worker (8 processes, " in (
        sentence
    )
    assert "; fewer not tried)" in sentence and sentence.count("at most") == 1


def test_the_readme_sentence_moves_to_a_lower_rate_where_the_sync_workers_missed(tmp_path):
    folder = write_fake_cost_run(tmp_path)
    needed = pd.read_csv(folder / "needed.csv")
    missed = (needed["family"] == "sync x WEB_CONCURRENCY") & (needed["rate"] == 4.0)
    needed.loc[missed, "measured_n"] = float("nan")
    needed.to_csv(folder / "needed.csv", index=False)

    sentence = cost_sections.finding(tmp_path)

    assert "2 a second on average" in sentence
    assert "the sync app needed 4 workers (6 processes, " in sentence


def test_publishing_draws_the_figure_beside_the_others_and_rewrites_only_its_section(
    tmp_path, monkeypatch
):
    write_fake_cost_run(tmp_path)
    rewritten = []
    monkeypatch.setattr(
        cost_sections,
        "update_section",
        lambda body, marker: rewritten.append((marker, body)) or Path("docs/results.md"),
    )

    cost_sections.publish(tmp_path)

    assert (tmp_path / "plots" / "cost.png").stat().st_size > 10_000
    assert rewritten == [("cost", cost_sections.results_section(tmp_path))]
