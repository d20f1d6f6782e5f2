"""The class notebooks: they run from results/ alone, are stored with their outputs, keep to three
figures each, and quote no number that is not the data's.

Numbers come from the data in two ways, and both are checked: the notebooks' own text (markdown
cells, and the string literals of code cells) carries no measured number at all, only what the
article says; every figure title is computed, so scaling the data's times scales every time its
title quotes (a number typed into a title would stay put).
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
from dataclasses import replace
from functools import partial
from pathlib import Path

import matplotlib
import nbformat
import pandas as pd
import pytest

from loadtests.analysis import open_plots, outcome_plots, plots, queue_view, timelines
from loadtests.analysis.burst import timeline_probes
from loadtests.analysis.results import RESULTS_DIR, load_burst, load_raw, load_summary
from loadtests.analysis.summary import collapse_repeats
from loadtests.publishing import exercises, lesson
from loadtests.publishing.notebooks import (
    CLASS_NOTEBOOK,
    NOTEBOOKS_DIR,
    execute,
    images,
    notebooks,
)
from tests.fake_cost_run import write_fake_cost_run

matplotlib.use("Agg")

EXPECTED = [
    "00-one-class.ipynb",
    "01-the-80ms-vs-8s-argument.ipynb",
    "02-why-it-is-a-queue.ipynb",
    "03-what-celery-costs.ipynb",
    "04-async-await.ipynb",
    "05-use-cases-2-to-4.ipynb",
    "06-exercises.ipynb",
    "07-answers.ipynb",
]
MAX_FIGURES = 3
CLASS_MAX_FIGURES = 8  # the one-class notebook: the class's whole path
# A quantity: a number with a unit of time, size, share or count of the lab's things.
QUANTITY = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*(ms|s|seconds?|minutes?|%|MB|x|visitors?|emails?|"
    r"requests?|probes?|workers?|threads?|process(?:es)?|slots?|greenlets?|reports?|ticks?)(?!\w)"
)
# The only quantities prose may state: what the article says (C2-C5), quoted as its claims.
ARTICLE = {"80 ms", "8 s", "10 visitors", "20 ms"}


def test_the_notebooks_are_there_in_class_order():
    assert [p.name for p in notebooks()] == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_from_the_committed_results_and_is_stored_with_its_outputs(name):
    ran = execute(NOTEBOOKS_DIR / name)  # raises CellExecutionError on the first failing cell
    stored = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)

    assert images(ran) <= (CLASS_MAX_FIGURES if name == CLASS_NOTEBOOK.name else MAX_FIGURES)
    # What readers see on GitHub: the stored outputs hold the same figures a fresh run draws,
    # and every code cell has been run, without an error.
    assert images(stored) == images(ran)
    assert all(c.execution_count for c in stored.cells if c.cell_type == "code")
    assert _shown(stored) == _shown(ran)  # the sentences and the source listings are current
    assert all(o.get("output_type") != "error" for c in stored.cells for o in c.get("outputs", []))


def _shown(notebook: nbformat.NotebookNode) -> list[str]:
    """What a notebook says in computed sentences, and the apps' source it lists."""
    shown = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data:
                shown.append(data["text/markdown"])
            elif "<pre" in data.get("text/html", ""):
                shown.append(data["text/html"])
    return shown


def _code_strings(source: str) -> list[str]:
    """The string literals of a code cell (f-strings: their literal parts only)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))
    tree = compile(code, "<cell>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _prose(text: str) -> str:
    """Text as a reader reads it: code spans and fenced code are commands, not claims."""
    return re.sub(r"`[^`]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))


def quantities(text: str) -> list[str]:
    return [f"{n} {unit}" for n, unit in QUANTITY.findall(_prose(text))]


def test_the_quantity_pattern_finds_what_a_sentence_could_get_wrong():
    found = quantities("the homepage takes 5.0 s with 10 visitors, 95% of probes, `make x 4 s`")
    assert found == ["5.0 s", "10 visitors", "95 %"]
    assert quantities("~80 ms idle, C3, notebook 2, use cases 2 to 4") == ["80 ms"]


@pytest.mark.parametrize("name", EXPECTED)
def test_a_notebooks_own_text_quotes_only_the_article(name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    typed = []
    for cell in notebook.cells:
        texts = [cell.source] if cell.cell_type == "markdown" else _code_strings(cell.source)
        typed += [q for text in texts for q in quantities(text) if q not in ARTICLE]
    assert typed == [], f"{name} types these instead of computing them"


def _literal_text(node: ast.AST) -> list[str]:
    """The typed parts of a string expression: its constants and f-strings' literal parts,
    through concatenation, conditionals and `", ".join(...)`; not what is computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) + _literal_text(node.right)
    if isinstance(node, ast.IfExp):
        return _literal_text(node.body) + _literal_text(node.orelse)
    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "join":
        return _literal_text(node.func.value) + [t for a in node.args for t in _literal_text(a)]
    if isinstance(node, ast.GeneratorExp | ast.ListComp):
        return _literal_text(node.elt)
    return []


def test_no_figure_title_is_typed_with_a_number():
    """Every title in the analysis code is built from the data: its typed parts hold no number
    (a digit that starts a word; `p50` names a percentile)."""
    typed = []
    for path in sorted((RESULTS_DIR.parent / "loadtests" / "analysis").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            title = isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                "set_title",
                "suptitle",
            )
            if title and node.args:
                typed += [
                    f"{path.name}:{node.lineno}: {text!r}"
                    for text in _literal_text(node.args[0])
                    if re.search(r"(?<![\w.])\d", text)
                ]
    assert typed == []


# Scaling the data's times (and sizes) by K must scale every time (and size) a title quotes.
K = 3.0
TIME = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*(ms|s|MB)\b")
TO_BASE = {"ms": 1.0, "s": 1000.0, "MB": 1.0}


def scaled(frame: pd.DataFrame, k: float = K) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        timed = column.endswith(("_ms", "_s", "_mb")) or column in ("start", "latency_ms")
        if timed and pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column] * k
    return frame


def titles(fig) -> str:
    parts = [fig._suptitle.get_text()] if fig._suptitle else []
    return " | ".join(parts + [ax.get_title() for ax in fig.axes if ax.get_title()])


def _times(text: str) -> list[float]:
    return [float(n.replace(",", "")) * TO_BASE[u] for n, u in TIME.findall(text)]


def _reference() -> dict[str, object]:
    runs = load_summary()
    summary = collapse_repeats(runs[runs.generator == "locust"])
    model = pd.read_csv(RESULTS_DIR / "model.csv")
    burst = load_burst()
    visitors = int(burst.visitors.max())
    return {
        "summary": summary,
        "model": model,
        "raw": load_raw(),
        "probes": timeline_probes(RESULTS_DIR, burst, visitors),
        "burst": (visitors, float(burst.smtp_delay_s.iloc[0])),
        "pool": load_summary(RESULTS_DIR / "celery-pool"),
        "api": pd.read_csv(RESULTS_DIR / "api_lookup.csv"),
        "progress": pd.read_csv(RESULTS_DIR / "report_progress.csv"),
        "homepage": json.loads((RESULTS_DIR / "report_progress.json").read_text())["homepage"],
        "soak": pd.read_csv(RESULTS_DIR / "soak-sync+thread.csv"),
        "soak_record": json.loads((RESULTS_DIR / "soak-sync+thread.json").read_text()),
        "open": pd.read_csv(RESULTS_DIR / "open" / "estimates.csv"),
        "series": pd.read_csv(RESULTS_DIR / "regimes" / "series.csv"),
    }


def test_the_homepage_title_says_idle_only_when_the_run_had_no_visitors_point():
    """The quick bench runs at 4 visitors only: its figure's title gives that figure, and calls
    nothing idle; the reference's has its 0-visitor run and says it. The x axis still shows
    where the article's two figures stand."""
    runs = load_summary()
    summary = collapse_repeats(runs[runs.generator == "locust"])
    with_idle = plots.homepage_latency(summary).axes[0].get_title()
    (loaded_axes,) = plots.homepage_latency(summary[summary["visitors"] > 0]).axes
    loaded_only = loaded_axes.get_title()
    assert " idle, " in with_idle and "idle" not in loaded_only
    # The article's stars (80 ms idle, 8 s at 10 visitors) stand on ticks of their own.
    assert {0, 10} <= set(loaded_axes.get_xticks())
    assert loaded_only.startswith("Sync homepage: ") and " visitors;" in loaded_only


def test_a_model_of_one_point_is_drawn_as_a_marker_not_an_invisible_line():
    """The quick bench's model has one point: a dotted line through it drew nothing while the
    legend listed it."""
    model = pd.DataFrame({"visitors": [4], "p50_ms": [9000.0]})
    runs = load_summary()
    figure = plots.homepage_latency(collapse_repeats(runs[runs.generator == "locust"]), model)
    (line,) = [x for x in figure.axes[0].lines if x.get_label().startswith("queueing model")]
    assert line.get_marker() not in (None, "None", "", " ")


def _figures(d: dict[str, object], k: float) -> dict[str, object]:
    s = lambda f: scaled(f, k)  # noqa: E731
    visitors, delay = d["burst"]
    homepage = {a: {m: v * k for m, v in f.items()} for a, f in d["homepage"].items()}
    soak = d["soak"].assign(**{c: d["soak"][c] * k for c in d["soak"] if c.startswith("rss_")})
    memory = ("rss_mb_after_warmup", "rss_mb_when_load_stopped")
    record = {**d["soak_record"], **{m: {"web": d["soak_record"][m]["web"] * k} for m in memory}}
    return {
        "homepage_latency": lambda: plots.homepage_latency(s(d["summary"]), s(d["model"])),
        "contact_post_latency": lambda: plots.contact_post_latency(s(d["summary"])),
        "burst_timeline": lambda: plots.burst_timeline(
            {a: s(f) for a, f in d["probes"].items()}, visitors, delay * k
        ),
        "worker_timeline": lambda: queue_view.worker_timeline(
            s(d["raw"]), int(d["summary"].visitors.max())
        ),
        "pool_sizing": lambda: timelines.pool_sizing(s(d["pool"])),
        "api_lookup": lambda: outcome_plots.api_lookup(s(d["api"])),
        "report_progress": lambda: outcome_plots.report_progress(s(d["progress"]), homepage),
        "soak_timeline": lambda: timelines.soak_timeline(soak, "sync+thread", record),
        "class_open_arrivals": lambda: open_plots.class_open_arrivals(
            s(d["open"][d["open"]["hand_off"].isin(["sync", "celery", "asyncio"])])
        ),
        "regimes_over_time": lambda: open_plots.regimes_over_time(s(d["series"])),
    }


@pytest.fixture(scope="module")
def reference() -> dict[str, object]:
    return _reference()


FIGURES = [
    "homepage_latency",
    "contact_post_latency",
    "burst_timeline",
    "worker_timeline",
    "pool_sizing",
    "api_lookup",
    "report_progress",
    "soak_timeline",
    "class_open_arrivals",
    "regimes_over_time",
]


@pytest.mark.parametrize("figure", FIGURES)
def test_a_figure_title_quotes_the_datas_times(reference, figure):
    original = titles(_figures(reference, 1.0)[figure]())
    again = titles(_figures(reference, K)[figure]())
    before, after = _times(original), _times(again)

    assert before, f"{figure}: its title quotes no time: {original!r}"
    assert len(after) == len(before), (original, again)
    for b, a in zip(before, after, strict=True):
        # Two significant digits: 1.0 s -> 3.0 s exactly, 2.7 ms -> 8.1 ms within rounding.
        assert a == pytest.approx(K * b, rel=0.1), (original, again)


def _accepts_its_answer_and_refuses_another(name: str) -> None:
    answer = exercises.EXERCISES[name].answer()
    assert exercises.check(name, answer), name
    assert not exercises.check(name, answer * 1.5 + 1), name


def test_every_exercise_accepts_its_answer_and_refuses_another(capsys):
    """From the committed results/: sync_workers needs `make bench-cost`'s run there."""
    for name in exercises.EXERCISES:
        _accepts_its_answer_and_refuses_another(name)
    assert "not yet (too high)" in capsys.readouterr().out


@pytest.fixture
def cost_run(tmp_path: Path, monkeypatch) -> Path:
    """A made-up `make bench-cost` run, and the sync_workers exercise reading it."""
    folder = write_fake_cost_run(tmp_path)
    exercise = replace(
        exercises.EXERCISES["sync_workers"], answer=partial(exercises._sync_workers, tmp_path)
    )
    monkeypatch.setitem(exercises.EXERCISES, "sync_workers", exercise)
    return folder


def test_the_sync_workers_exercise_states_the_runs_givens_and_takes_what_held(cost_run, capsys):
    question = exercises.EXERCISES["sync_workers"].question
    plan = exercises.COST_PLAN
    hold_s = plan.delay_s + plan.post_extra_s
    floor = math.floor(exercises.WORKERS_RATE * hold_s) + 1  # U = X S below 1 per worker

    _accepts_its_answer_and_refuses_another("sync_workers")

    assert exercises.WORKERS_RATE in plan.rates
    assert f"{exercises.WORKERS_RATE:g} a second" in question
    assert f"takes {plan.delay_s:g} s per email" in question
    assert plan.target.describe() in question
    assert exercises.EXERCISES["sync_workers"].answer() == 5  # the fake's fewest that held
    assert exercises.check("sync_workers", 4) and exercises.check("sync_workers", 6)
    # The utilisation law's floor is not enough: a p95 target needs workers to spare.
    assert not exercises.check("sync_workers", floor)
    assert "sync_workers: not yet (too low)" in capsys.readouterr().out


def test_the_sync_workers_answer_is_what_held_not_what_the_model_said(cost_run):
    needed = pd.read_csv(cost_run / "needed.csv")
    at = (needed["family"] == "sync x WEB_CONCURRENCY") & (needed["rate"] == 4.0)
    needed.loc[at, "measured_n"] = needed.loc[at, "predicted_n"] + 1  # the model one short
    needed.to_csv(cost_run / "needed.csv", index=False)

    assert exercises.EXERCISES["sync_workers"].answer() == needed.loc[at, "measured_n"].iloc[0]

    needed.loc[at, "measured_n"] = float("nan")  # no size tried held: no answer to give
    needed.to_csv(cost_run / "needed.csv", index=False)
    with pytest.raises(ValueError, match="no sync worker count held"):
        exercises.EXERCISES["sync_workers"].answer()


def test_the_sync_workers_answer_refuses_a_run_with_other_givens(cost_run):
    record = json.loads((cost_run / "needed.json").read_text())
    record["plan"]["delay_s"] = 2.0
    (cost_run / "needed.json").write_text(json.dumps(record))

    with pytest.raises(ValueError, match="other givens"):
        exercises.EXERCISES["sync_workers"].answer()


def test_the_answers_notebook_reveals_what_check_accepts_for_sync_workers(cost_run, capsys):
    """The answer's cell, run on the made-up run (its imports first): the working, then right."""
    answers = nbformat.read(NOTEBOOKS_DIR / "07-answers.ipynb", as_version=4)
    code = [cell.source for cell in answers.cells if cell.cell_type == "code"]
    namespace: dict[str, object] = {}
    exec(code[0], namespace)
    namespace["RESULTS_DIR"] = cost_run.parent

    exec(next(source for source in code if 'check("sync_workers"' in source), namespace)

    shown = capsys.readouterr().out
    assert "U = X S = 4/s x 0.51 s = 2.04 workers busy: at least 3" in shown
    assert "4 workers (one below), each 51% busy:" in shown
    assert "the model predicted 5; the fewest that held: 5" in shown
    assert shown.rstrip().endswith("sync_workers: right.")


def test_the_notebooks_read_a_students_run_when_told_to(tmp_path: Path, monkeypatch):
    """`LAB_RUN` points notebook 1 at another run: here the reference's files under another
    name, so the same figures must come out of it."""
    for name in ("summary.csv", "model.csv", "burst.csv", "environment.json"):
        (tmp_path / name).write_text((RESULTS_DIR / name).read_text())
    (tmp_path / "raw").symlink_to(RESULTS_DIR / "raw")
    monkeypatch.setenv("LAB_RUN", str(tmp_path))
    ran = execute(NOTEBOOKS_DIR / "01-the-80ms-vs-8s-argument.ipynb")
    shown = [
        o["data"]["text/markdown"]
        for c in ran.cells
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    ]
    assert "Reading **your run**" in shown[0]
    assert images(ran) == MAX_FIGURES


def test_the_class_says_whose_data_it_shows_and_reads_a_students_sweep(tmp_path, monkeypatch):
    """With `LAB_RUN` naming a run that has an open sweep, the class reads it and says so; the
    measurements that run lacks stay the reference's, named as such."""
    (tmp_path / "open").mkdir()
    for name in ("summary.csv", "summary.json", "estimates.csv", "estimates.json"):
        (tmp_path / "open" / name).write_text((RESULTS_DIR / "open" / name).read_text())
    monkeypatch.setenv("LAB_RUN", str(tmp_path))
    monkeypatch.setenv("LAB_INSTRUCTOR", "1")  # the reveals, which say whose data they read
    ran = execute(CLASS_NOTEBOOK)
    about = ran.cells[1].outputs[0]["data"]["text/markdown"]

    assert about.startswith("Open arrivals: your run")
    assert "two starts: the reference" in about
    said = [o["data"].get("text/markdown", "") for c in ran.cells for o in c.get("outputs", [])]
    assert any("Data: your run." in text for text in said)


PRICE_ROUTES = {
    "sync": ("sync_app/__init__.py", "prices_lookup"),
    "celery": ("celery_app/prices.py", "prices_lookup"),
    "asyncio": ("asyncio_app/__init__.py", "prices_lookup"),
}


@pytest.mark.parametrize("routes", ["contact", "prices"])
def test_each_route_the_notebooks_show_marks_exactly_one_hand_off_line(routes):
    """The notebooks highlight the line tagged `# hand-off:`; a route without it (or with two)
    would show no difference, or a wrong one."""
    from loadtests.publishing import lesson

    shown = lesson.contact_routes() if routes == "contact" else PRICE_ROUTES
    marked = {
        app: [
            line
            for line in lesson.function_source(path, name)[0].splitlines()
            if lesson.MARK in line
        ]
        for app, (path, name) in shown.items()
    }
    assert {app: len(lines) for app, lines in marked.items()} == dict.fromkeys(shown, 1), marked


def _assigned(source: str) -> set[str]:
    return {
        target.id
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_each_prediction_of_the_class_is_revealed_by_the_next_cell_against_it():
    code = [c for c in nbformat.read(CLASS_NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    tags = [set(c.metadata.get("tags", [])) for c in code]
    predictions = [n for n, t in enumerate(tags) if "prediction" in t]

    assert len(predictions) >= 4
    for n in predictions:
        names = _assigned(code[n].source)
        assert names and all(name.startswith("predicted_") for name in names), code[n].source
        assert "reveal" in tags[n + 1], code[n + 1].source
        used = {
            node.id
            for node in ast.walk(ast.parse(code[n + 1].source))
            if isinstance(node, ast.Name)
        }
        assert names <= used, f"the reveal after {names} does not use them all"


def test_a_table_read_from_results_says_whose_it_is(tmp_path: Path):
    committed = RESULTS_DIR / "cpu_per_request.csv"
    assert "**the reference**" in lesson.source_note(committed, "make bench-cpu").data
    mine = RESULTS_DIR.parent / "var" / "test" / "whose" / "cpu_per_request.csv"
    mine.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(committed, mine)
    shutil.copy(committed.with_suffix(".json"), mine.with_suffix(".json"))
    assert "**your own run" in lesson.source_note(mine, "make bench-cpu").data
    assert lesson.whose(tmp_path / "elsewhere.csv") != "the reference"
