"""The one-class notebook as a class meets it: no answer before its prediction, givens in the
prediction's own cell, a plan that fits fifty minutes, and reveals whose every number and
comparative word is the data's (read here from `results/` directly, not through the notebook's
own helpers)."""

from __future__ import annotations

import base64
import itertools
import json
import re
import struct

import nbformat
import pandas as pd
import pytest

from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR
from loadtests.publishing import class_plan
from loadtests.publishing.notebooks import (
    CLASS_NOTEBOOK,
    INSTRUCTOR_TAG,
    execute,
    images,
    student_copy,
)

# What a class might type: some near the data, some near the textbook, some far from both.
PREDICTED = {
    "predicted_sync_p95_s": 2.0,
    "predicted_celery_p95_s": 0.01,
    "predicted_growth_s_per_s": 0.19,  # the textbook's rho - 1, as printed: "exactly it"
    "predicted_staggered_p50_s": 5.0,
    "predicted_synchronized_p50_s": 20.0,
    "predicted_backlog_growth_per_s": 1.0,
    "predicted_live_p95_s": 8.0,
}
LOCK = re.compile(r"Set your prediction in the cell marked `# Prediction (\d)` above")


def _code(notebook) -> list:
    return [c for c in notebook.cells if c.cell_type == "code"]


def _tagged(cell, tag: str) -> bool:
    return tag in cell.metadata.get("tags", [])


def _said(cell) -> str:
    return "\n".join(
        o["data"]["text/markdown"]
        for o in cell.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    )


def _copy(tmp_path, *, predictions: dict[str, float], instructor: bool):
    notebook = nbformat.read(CLASS_NOTEBOOK, as_version=4)
    for cell in _code(notebook):
        for name, value in predictions.items():
            cell.source = cell.source.replace(f"{name} = None", f"{name} = {value!r}")
        if instructor:
            cell.source = cell.source.replace("INSTRUCTOR = False", "INSTRUCTOR = True")
    path = tmp_path / CLASS_NOTEBOOK.name
    nbformat.write(notebook, path)
    return execute(path)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """The class notebook run with every prediction set (a student's copy after class)."""
    return _copy(tmp_path_factory.mktemp("predicted"), predictions=PREDICTED, instructor=False)


def test_before_its_prediction_a_reveal_shows_nothing_measured_and_says_which_cell(tmp_path):
    """What students clone and what `make class-student` gives them: each reveal, and each cell
    whose figure carries an answer, names its prediction's cell and shows no number."""
    stored = nbformat.read(CLASS_NOTEBOOK, as_version=4)
    ran = _copy(tmp_path, predictions={}, instructor=False)  # Run All, no prediction set
    for notebook in (stored, ran):
        code = _code(notebook)
        numbers = {
            int(re.search(r"# Prediction (\d)", c.source).group(1)): n
            for n, c in enumerate(code)
            if _tagged(c, "prediction")
        }
        assert sorted(numbers) == [1, 2, 3, 4, 5]
        for n, cell in enumerate(code):
            locked = [int(m) for m in LOCK.findall(_said(cell))]
            if _tagged(cell, "reveal"):
                assert locked, cell.source
            for number in locked:
                assert numbers[number] < n  # the cell it names comes before it
                text = LOCK.sub("", _said(cell))
                assert not re.search(r"\d", text), text
        assert images(notebook) == 0  # every figure carries an answer

    copy = nbformat.read(student_copy(CLASS_NOTEBOOK, tmp_path / "student"), as_version=4)
    kept = [c for c in stored.cells if not _tagged(c, INSTRUCTOR_TAG)]
    assert len(kept) < len(stored.cells)  # the instructor's cells are marked, and left out
    assert [c.source for c in copy.cells] == [c.source for c in kept]
    assert all(not c.outputs and c.execution_count is None for c in _code(copy))
    assert "widgets" not in copy.metadata


def test_the_student_copy_never_says_how_to_see_the_answers(tmp_path):
    """The instructor's flag, the environment variable and the notes to the instructor are in
    the instructor's cells only: a student's copy has no word of them."""
    copy = student_copy(CLASS_NOTEBOOK, tmp_path / "student").read_text()
    for secret in ("INSTRUCTOR", "instructor", "make class-student"):
        assert secret not in copy, secret
    stored = nbformat.read(CLASS_NOTEBOOK, as_version=4)
    flagged = [c.source for c in stored.cells if "INSTRUCTOR = False" in c.source]
    assert len(flagged) == 1 and "INSTRUCTOR = False" not in copy


@pytest.fixture(scope="module")
def instructors(tmp_path_factory):
    """The class notebook as the instructor prepares it: `INSTRUCTOR = True`, nothing set."""
    return _copy(tmp_path_factory.mktemp("instructor"), predictions={}, instructor=True)


def test_the_instructors_flag_reveals_every_answer_and_warns_not_to_project(instructors):
    reveals = [_said(c) for c in _code(instructors) if _tagged(c, "reveal")]
    assert all(text and not LOCK.search(text) and "measured **" in text for text in reveals)
    assert images(instructors) >= 4
    flag = next(c for c in _code(instructors) if "INSTRUCTOR = True" in c.source)
    assert "Do not project" in _said(flag)


def _png_widths(notebook) -> list[int]:
    """The width in pixels of every figure the notebook stores (its PNG header)."""
    pngs = [
        base64.b64decode(o["data"]["image/png"])
        for c in _code(notebook)
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    return [struct.unpack(">I", png[16:20])[0] for png in pngs]


def test_every_figure_fits_a_1280_pixel_projector(instructors):
    widths = _png_widths(instructors)
    assert len(widths) >= 3 and max(widths) <= 1280, widths


def test_the_plan_counts_the_words_the_givens_and_reveals_print(instructors):
    """The plan's second count is what the class reads on screen: the words each section's
    cells print with every reveal shown, as the instructor's copy prints them."""
    flag = next(c for c in _code(instructors) if "INSTRUCTOR = True" in c.source)
    plan = _said(flag)
    rows = {
        m["heading"]: (int(m["text"]), int(m["printed"]))
        for m in re.finditer(
            r"^\| [\d-]+ \| \*\*(?P<heading>[^*]+)\*\* \|[^|]+\| (?P<text>\d+) \| "
            r"(?P<printed>\d+) \|$",
            plan,
            re.M,
        )
    }
    assert set(rows) == {s.heading for s in class_plan.CLASS_PLAN}
    cells = class_plan.class_sections(nbformat.reads(nbformat.writes(instructors), as_version=4))
    for heading, (text, printed) in rows.items():
        shown = [instructors.cells[n] for n in cells[heading]["cells"]]
        said = [_said(c) for c in shown if c.cell_type == "code" and c is not flag]
        assert text == cells[heading]["words"]
        assert printed == sum(class_plan.words(t) for t in said), heading
    assert "printed by the givens and reveals" in plan
    assert "cells (from 0)" not in plan  # Jupyter shows no cell numbers: the headings instead


def test_each_prediction_states_its_givens_in_its_own_cell(predicted):
    """The conditions the prediction needs: the provider's delay in every one, and what each
    adds; printed by the prediction's own cell, before any reveal."""
    givens = {
        int(re.search(r"# Prediction (\d)", c.source).group(1)): _said(c)
        for c in _code(predicted)
        if _tagged(c, "prediction")
    }
    open_record = json.loads((RESULTS_DIR / "open" / "summary.json").read_text())
    regimes_record = json.loads((RESULTS_DIR / "regimes" / "summary.json").read_text())
    email_record = json.loads((RESULTS_DIR / "capacity" / "email.json").read_text())
    bench = pd.read_csv(RESULTS_DIR / "summary.csv")
    delay_open = f"{open_record['plan']['delay_s']:g} s"
    journey = "GETs the form, POSTs it"
    assert delay_open in givens[1] and "1 worker process x 1 thread" in givens[1]
    assert journey in givens[1]
    idle = bench[(bench["visitors"] == 0) & (bench["endpoint"] == "home")]
    idle = idle[(idle["generator"] == "locust") & (idle["repeat"] == 1)].set_index("app")
    for app in ("sync", "celery", "asyncio"):  # the idle homepage, which Celery's p95 stays near
        assert f"{fmt_ms(idle.loc[app, 'p95_ms'])} ({app})" in givens[1], givens[1]
    assert f"email worker runs {open_record['plan']['celery_concurrency']} processes" in givens[1]
    assert "/s" in givens[2] and delay_open in givens[2] and journey in givens[2]
    assert "only once their form's GET is answered" in givens[2]
    assert "rho" not in givens[2]  # the rate and the capacity: the student works out the rest
    plan = regimes_record["plan"]
    for given in (f"{plan['visitors']} visitors", f"{plan['delay_s']:g} s", "think time"):
        assert given in givens[3], givens[3]
    concurrency = email_record["plan"]["worker_concurrency"]
    assert delay_open in givens[4] and "arrived at" in givens[4]
    assert f"concurrency {concurrency}**" in givens[4], givens[4]
    assert "visitors" in givens[5] and "think time" in givens[5]
    live = bench[
        (bench["app"] == "sync") & (bench["visitors"] == 4) & (bench["endpoint"] == "home")
    ]
    stored_s = live[(live["generator"] == "locust") & (live["repeat"] == 1)].iloc[0]["window_s"]
    assert f"measured for {stored_s:.0f} s." in givens[5], givens[5]


def test_the_class_plan_fits_fifty_minutes_and_seven_hundred_words():
    plan = class_plan.CLASS_PLAN
    assert plan[0].start == 0 and plan[-1].end == 50
    assert all(a.end == b.start for a, b in itertools.pairwise(plan))
    live = next(s for s in plan if s.heading == "A live minute")
    assert live.end - live.start >= 5
    sections = class_plan.class_sections(json.loads(CLASS_NOTEBOOK.read_text()))
    assert set(sections) == {s.heading for s in plan}  # every section has its cells
    assert sum(part["words"] for part in sections.values()) <= 700


def test_words_aloud_count_prose_not_the_instructors_notes():
    assert class_plan._aloud("One two three.\n> a note for the instructor\n| a | table |") == 3


# The reveals' checks: each number is one the data gives, each comparative word is true.

REVEAL = re.compile(
    r"\*\*(?P<what>[^*]+)\*\*: you predicted (?P<said>\S+(?: s| ms)?(?: s/s|/s)?); measured "
    r"\*\*(?P<measured>[^*]+)\*\* \((?:95% interval (?P<low>\S+(?: s| ms)?) to "
    r"(?P<high>\S+(?: s| ms)?); )?(?P<close>[^)]+)\)\."
    r"(?: The (?P<formula>[^.]+?) gives (?P<answer>\S+(?: s| ms)?(?: s/s|/s)?) "
    r"\(your prediction: (?P<close_to_it>[^)]+)\)\.)?"
)
COMPARATIVE = re.compile(
    r"\b(under|over|within|above|below|past|most|minority|more|less|fewer|faster|slower|"
    r"higher|lower|longer|shorter|exceeds?)\b",
    re.I,
)


def _closeness(predicted: float, value: float, it: str = "", printed: str = "") -> str:
    """The words a prediction earns, derived here from the rule the notebook states: "exactly"
    when the prediction prints as the value does (`printed`)."""
    if printed and _number(printed) == pytest.approx(predicted, rel=1e-9, abs=1e-12):
        return f"exactly{it}"
    side = "under" if predicted < value else "over"
    ratio = max(value / predicted, predicted / value)
    if ratio <= 1.25:
        return "within a quarter" + (" of" + it if it else "")
    return f"{side}{it} by {ratio:.1f}x"


def _expected() -> dict[int, dict[str, object]]:
    """Each reveal's measured values and the numbers its text may quote, from the files."""
    t = pd.read_csv(RESULTS_DIR / "open" / "summary.csv")
    first = t[(t["generator"] == "locust") & (t["seed"] == 1)]
    points = pd.read_csv(RESULTS_DIR / "open" / "estimates.csv")
    sync = points[(points["hand_off"] == "sync") & (points["rho"] == 0.9)].iloc[0]
    celery = points[(points["hand_off"] == "celery") & (points["rho"] == 0.9)].iloc[0]
    over = first[(first["hand_off"] == "sync") & (first["rho"] > 1)].iloc[0]
    rho_over = over["achieved_rate"] * over["delay_s"]
    job_s = over["delay_s"] + over["cheap_service_ms"] / 1000
    regimes = pd.read_csv(RESULTS_DIR / "regimes" / "summary.csv").set_index("start")
    plan = json.loads((RESULTS_DIR / "regimes" / "summary.json").read_text())["plan"]
    email = pd.read_csv(RESULTS_DIR / "capacity" / "email.csv").sort_values("load_x")
    above, below = email.iloc[-1], email.iloc[0]
    bench = pd.read_csv(RESULTS_DIR / "summary.csv")
    live = bench[
        (bench["app"] == "sync")
        & (bench["visitors"] == 4)
        & (bench["endpoint"] == "home")
        & (bench["generator"] == "locust")
        & (bench["repeat"] == 1)
    ].iloc[0]
    md1 = sync["md1_mean_ms"] / 1000
    textbook_over = over["achieved_rate"] * job_s - 1
    near_8 = {s: 0.8 <= regimes.loc[s, "p50_ms"] / 8000 <= 1.25 for s in regimes.index}
    return {
        1: {
            "measured": [sync["windows_p95_ms"] / 1000, celery["windows_p95_ms"] / 1000],
            "intervals": [
                (sync["windows_p95_low_ms"] / 1000, sync["windows_p95_high_ms"] / 1000),
                (celery["windows_p95_low_ms"] / 1000, celery["windows_p95_high_ms"] / 1000),
            ],
            "textbook": [None, None],
            "quotes": [
                0.9,
                sync["windows_mean_ms"] / 1000,
                _pm_share(sync, "windows_mean"),
                sync["home_p95_ms"] / 1000,
                _pm_share(sync, "home_p95"),
                sync["schedules"],
                0.95,  # the interval's 95%
                md1,
                sync["true_rho"],
                sync["longrun_mean_ms"] / 1000,
                sync["home_over_100ms"],
                0.1,
                sync["window_s"],
                sync["window_p95_p10_ms"] / 1000,
                sync["window_p95_p90_ms"] / 1000,
                sync["offered_rate"],
                sync["post_service_ms"] / 1000,
                sync["delay_s"],
                sync["warmup_s"],
                8,  # schedules in 10: the spread's 10th to 90th percentile
                10,
            ],
            "true": {
                "most probes find": sync["home_over_100ms"] > 0.5,
                "most windows read low": sync["window_p95_p90_ms"] < sync["longrun_p95_ms"],
                "the probe waits less than the textbook says": sync["longrun_mean_ms"] / 1000 < md1,
                "over": True,
            },
        },
        2: {
            "measured": [over["wait_growth_s_per_s"]],
            "textbook": [textbook_over],
            "quotes": [
                over["achieved_rate"],
                over["delay_s"],
                rho_over,
                over["predicted_growth_s_per_s"],
            ],
            "true": {
                "past capacity": rho_over > 1,
                "the probe waits less than the textbook says": (
                    over["wait_growth_s_per_s"] < textbook_over
                ),
            },
        },
        3: {
            "measured": [regimes.loc[s, "p50_ms"] / 1000 for s in ("staggered", "synchronized")],
            "textbook": [None, None],
            "quotes": [
                regimes.loc["staggered", "model_p50_ms"] / 1000,
                regimes.loc["synchronized", "model_p50_ms"] / 1000,
                plan["visitors"] * plan["delay_s"],
                8.0,  # the article's ~8 s
                plan["delay_s"],
                *[regimes.loc[s, "p50_ms"] / 1000 for s in regimes.index],
            ],
            "true": {
                "the staggered start here": near_8["staggered"],
                "the synchronized start here": near_8["synchronized"],
                "is within a quarter of it": any(near_8.values()),
                "Neither start is within a quarter": not any(near_8.values()),
            },
        },
        4: {
            "measured": [above["backlog_growth_per_s"]],
            "textbook": [above["formula_growth_per_s"]],
            "quotes": [
                above["sent_per_s"],
                above["worker_capacity_per_s"],
                above["arrived_per_s"] - above["sent_per_s"],
                above["backlog_at_end"],
                below["arrived_per_s"],
                below["backlog_growth_per_s"],
            ],
            "true": {
                "above the worker's capacity": above["arrived_per_s"]
                > above["worker_capacity_per_s"],
                "Below capacity": below["arrived_per_s"] < below["worker_capacity_per_s"],
            },
        },
        5: {
            "measured": [live["p95_ms"] / 1000],
            "textbook": [live["visitors"] * live["smtp_delay_s"]],
            "quotes": [live["window_s"]],
            "true": {},
            "model": True,  # the model's p95 for the setting: a simulation, checked apart
        },
    }


def _pm_share(row: pd.Series, name: str) -> float:
    """Half an estimate's interval as a share of it, as the reveal prints it after a ±."""
    return (row[f"{name}_high_ms"] - row[f"{name}_low_ms"]) / 2 / row[f"{name}_ms"]


def _forms(value: float) -> set[str]:
    """How the notebook may print `value`: as a latency in seconds, a rate, a share, a count."""
    v = float(value)
    forms = {fmt_ms(v * 1000), f"{v:.2f}", f"{v:+.2f}", f"{v:g}", f"{v:.0%}", f"{v:.0f}"}
    return {re.sub(r" (s|ms)$", "", f) for f in forms} | forms


def _number(text: str) -> float:
    """A printed latency or rate in seconds (or per second)."""
    value = float(re.match(r"[+-]?[\d.]+", text).group(0))
    return value / 1000 if text.split()[-1] == "ms" else value


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_every_number_and_comparative_word_in_a_reveal_is_the_datas(predicted, number):
    code = _code(predicted)
    at = next(
        n
        for n, c in enumerate(code)
        if _tagged(c, "prediction") and f"# Prediction {number}" in c.source
    )
    prediction, reveal = code[at], code[at + 1]
    text = _said(reveal)
    expected = _expected()[number]
    said = [PREDICTED[name] for name in re.findall(r"(predicted_\w+) = ", prediction.source)]

    matches = list(REVEAL.finditer(text))
    assert len(matches) == len(expected["measured"]), text
    for m, guess, measured, textbook in zip(
        matches, said, expected["measured"], expected["textbook"], strict=True
    ):
        assert _number(m["said"]) == pytest.approx(guess, rel=0.01)
        shown = _number(m["measured"])
        assert shown == pytest.approx(measured, rel=0.05, abs=0.006), m.group(0)
        assert m["close"] == _closeness(guess, measured, printed=m["measured"]), m.group(0)
        low_high = expected.get("intervals", [None] * len(matches))[matches.index(m)]
        if low_high is None:
            assert m["low"] is None, m.group(0)
        else:
            assert _number(m["low"]) == pytest.approx(max(low_high[0], 0), rel=0.05, abs=0.006)
            assert _number(m["high"]) == pytest.approx(low_high[1], rel=0.05, abs=0.006)
        if textbook is None:
            assert m["formula"] is None, m.group(0)
        else:
            assert _number(m["answer"]) == pytest.approx(textbook, rel=0.05, abs=0.006)
            assert m["close_to_it"] == _closeness(guess, textbook, " it", m["answer"]), m.group(0)

    rest = REVEAL.sub("", text)
    for phrase, holds in expected["true"].items():
        if phrase in rest:
            assert holds, phrase
            rest = rest.replace(phrase, "")
    rest = re.sub(r"waited over", "", rest)  # a threshold named, not a comparison made
    assert not COMPARATIVE.findall(rest), rest

    # Every other number is one the data gives (formulas' own constants and labels aside).
    for formula in ("rho x delay / (2 (1 - rho))", "M/D/1", "rho - 1", "rho 0.9"):
        rest = rest.replace(formula, "")
    if expected.get("model"):
        rest = re.sub(r"p95 [\d.]+ (s|ms)", "", rest, count=1)
    allowed = set().union(*(_forms(v) for v in expected["quotes"]))
    quoted = re.findall(r"(?<![\w./])[+-]?\d+(?:\.\d+)?%?", re.sub(r"`[^`]*`", "", rest))
    assert [q for q in quoted if q not in allowed] == [], rest


def test_the_instructors_page_shows_the_plan_the_notebook_prints():
    """docs/teaching.md's plan is the one `class_plan.CLASS_PLAN` holds, each heading one the
    notebook shows on screen."""
    page = (CLASS_NOTEBOOK.parents[1] / "docs" / "teaching.md").read_text()
    section = page.split("<!-- class-plan:start -->\n")[1].split("<!-- class-plan:end -->")[0]
    assert section == class_plan.class_plan_section()
    headings = re.findall(r"^#+ (.+)$", "\n".join(c.source for c in _markdown()), re.M)
    for part in class_plan.CLASS_PLAN:
        assert f"| {part.start}-{part.end} | {part.heading} |" in section
        assert any(h.startswith(part.heading) for h in headings), part.heading


def _markdown() -> list:
    return [
        c for c in nbformat.read(CLASS_NOTEBOOK, as_version=4).cells if c.cell_type == "markdown"
    ]
