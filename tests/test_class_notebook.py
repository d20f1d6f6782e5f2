"""The one-class notebook as a class meets it: no answer before its prediction, givens in the
prediction's own cell, a plan that fits fifty minutes, and reveals whose every number and
comparative word is the data's (read here from `results/` directly, not through the notebook's
own helpers)."""

from __future__ import annotations

import itertools
import json
import math
import re

import nbformat
import pandas as pd
import pytest

from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR
from loadtests.publishing import lesson
from loadtests.publishing.notebooks import CLASS_NOTEBOOK, execute, images, student_copy

# What a class might type: some near the data, some near the textbook, some far from both.
PREDICTED = {
    "predicted_sync_p95_s": 2.0,
    "predicted_celery_p95_s": 0.01,
    "predicted_growth_s_per_s": 0.2,
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
    assert [c.source for c in copy.cells] == [c.source for c in stored.cells]
    assert all(not c.outputs and c.execution_count is None for c in _code(copy))
    assert "widgets" not in copy.metadata


def test_the_instructors_flag_reveals_every_answer_without_a_prediction(tmp_path):
    ran = _copy(tmp_path, predictions={}, instructor=True)
    reveals = [_said(c) for c in _code(ran) if _tagged(c, "reveal")]
    assert all(text and not LOCK.search(text) and "measured **" in text for text in reveals)
    assert images(ran) >= 4


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
    delay_open = f"{open_record['plan']['delay_s']:g} s"
    assert delay_open in givens[1] and "1 worker x 1 thread" in givens[1]
    assert "/s" in givens[2] and delay_open in givens[2]
    plan = regimes_record["plan"]
    for given in (f"{plan['visitors']} visitors", f"{plan['delay_s']:g} s", "think time"):
        assert given in givens[3], givens[3]
    assert delay_open in givens[4] and "arrived at" in givens[4]
    assert "visitors" in givens[5] and "think time" in givens[5]


def test_the_class_plan_fits_fifty_minutes_and_seven_hundred_words():
    plan = lesson.CLASS_PLAN
    assert plan[0].start == 0 and plan[-1].end == 50
    assert all(a.end == b.start for a, b in itertools.pairwise(plan))
    live = next(s for s in plan if s.heading == "A live minute")
    assert live.end - live.start >= 5
    sections = lesson.class_sections(json.loads(CLASS_NOTEBOOK.read_text()))
    assert set(sections) == {s.heading for s in plan}  # every section has its cells
    assert sum(part["words"] for part in sections.values()) <= 700


def test_words_aloud_count_prose_not_the_instructors_notes():
    assert lesson._aloud("One two three.\n> a note for the instructor\n| a | table |") == 3


# The reveals' checks: each number is one the data gives, each comparative word is true.

REVEAL = re.compile(
    r"\*\*(?P<what>[^*]+)\*\*: you predicted (?P<said>\S+(?: s| ms)?(?: s/s|/s)?); measured "
    r"\*\*(?P<measured>[^*]+)\*\* \((?P<close>[^)]+)\)\."
    r"(?: The (?P<formula>[^.]+?) gives (?P<answer>\S+(?: s| ms)?(?: s/s|/s)?) "
    r"\(your prediction: (?P<close_to_it>[^)]+)\)\.)?"
)
COMPARATIVE = re.compile(
    r"\b(under|over|within|above|below|past|most|minority|more|less|fewer|faster|slower|"
    r"higher|lower|longer|shorter|exceeds?)\b",
    re.I,
)


def _closeness(predicted: float, value: float, it: str = "") -> str:
    """The words a prediction earns, derived here from the rule the notebook states."""
    if predicted == value:
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
    sync = first[(first["hand_off"] == "sync") & (first["rho"] == 0.9)].iloc[0]
    celery = first[(first["hand_off"] == "celery") & (first["rho"] == 0.9)].iloc[0]
    repeats = t[(t["hand_off"] == "sync") & (t["rho"] == 0.9)]["home_p95_ms"]
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
    rho = sync["achieved_rate"] * sync["delay_s"]
    return {
        1: {
            "measured": [sync["home_p95_ms"] / 1000, celery["home_p95_ms"] / 1000],
            "textbook": [None, None],
            "quotes": [
                0.9,
                sync["achieved_rate"],
                sync["home_mean_ms"] / 1000,
                rho * sync["delay_s"] / (2 * (1 - rho)),
                sync["model_mean_ms"] / 1000,
                sync["home_over_100ms"],
                0.1,
                sync["home_p50_ms"] / 1000,
                len(repeats),
                repeats.min() / 1000,
                repeats.max() / 1000,
            ],
            "true": {"most probes find": sync["home_over_100ms"] > 0.5, "over": True},
        },
        2: {
            "measured": [over["wait_growth_s_per_s"]],
            "textbook": [over["achieved_rate"] * job_s - 1],
            "quotes": [1 - 1 / math.sqrt(rho_over), over["predicted_growth_s_per_s"]],
            "true": {"past capacity": rho_over > 1},
        },
        3: {
            "measured": [regimes.loc[s, "p50_ms"] / 1000 for s in ("staggered", "synchronized")],
            "textbook": [None, None],
            "quotes": [
                regimes.loc["staggered", "model_p50_ms"] / 1000,
                regimes.loc["synchronized", "model_p50_ms"] / 1000,
                plan["visitors"] * plan["delay_s"],
            ],
            "true": {},
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
        assert m["close"] == _closeness(guess, measured), m.group(0)
        if textbook is None:
            assert m["formula"] is None, m.group(0)
        else:
            assert _number(m["answer"]) == pytest.approx(textbook, rel=0.05, abs=0.006)
            assert m["close_to_it"] == _closeness(guess, textbook, " it"), m.group(0)

    rest = REVEAL.sub("", text)
    for phrase, holds in expected["true"].items():
        if phrase in rest:
            assert holds, phrase
            rest = rest.replace(phrase, "")
    rest = re.sub(r"waited over", "", rest)  # a threshold named, not a comparison made
    assert not COMPARATIVE.findall(rest), rest

    # Every other number is one the data gives (formulas' own constants and labels aside).
    for formula in ("rho x delay / (2 (1 - rho))", "1 - 1/sqrt(rho)", "rho - 1", "rho 0.9"):
        rest = rest.replace(formula, "")
    if expected.get("model"):
        rest = re.sub(r"p95 [\d.]+ (s|ms)", "", rest, count=1)
    allowed = set().union(*(_forms(v) for v in expected["quotes"]))
    quoted = re.findall(r"(?<![\w./])[+-]?\d+(?:\.\d+)?%?", re.sub(r"`[^`]*`", "", rest))
    assert [q for q in quoted if q not in allowed] == [], rest
