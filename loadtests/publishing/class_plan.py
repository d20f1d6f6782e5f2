"""The one-class notebook's timed plan (`notebooks/00-one-class.ipynb`): its sections, the minutes
each takes, and the words each reads aloud or prints, counted from the notebook itself; the same
plan, without the counts, for `docs/teaching.md`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from IPython.display import Markdown


@dataclass(frozen=True)
class Section:
    """One part of the class: its minutes, the heading its cells start under, what happens."""

    start: int
    end: int
    heading: str
    does: str


CLASS_PLAN = (
    Section(0, 4, "One class", "the claim; the one line that differs, app by app"),
    Section(4, 14, "Prediction 1", "predict (2 min), reveal, table and figure"),
    Section(14, 20, "Prediction 2", "predict (2 min), reveal: the textbook against the journey"),
    Section(20, 28, "Prediction 3", "predict (2 min), reveal, figure, the article's ~8 s"),
    Section(28, 33, "The model", "one slider: the p50 against the p95 as rho rises"),
    Section(33, 40, "Prediction 4", "predict (2 min), reveal"),
    Section(40, 48, "A live minute", "predict, run (about two minutes), or the stored run"),
    Section(48, 50, "Homework", "the full model and the notebooks, to go deeper"),
)
WORDS_PER_MINUTE = 130  # reading aloud


def words(text: str) -> int:
    """The words in `text`, a code span counting as one."""
    return len(re.findall(r"[A-Za-z0-9][\w'.,/-]*", re.sub(r"`[^`]*`", "x", text)))


def _aloud(markdown: str) -> int:
    """The words an instructor reads aloud from a markdown cell: not the blockquoted notes
    for the instructor, nor tables."""
    kept = [line for line in markdown.splitlines() if not line.lstrip().startswith((">", "|"))]
    return words("\n".join(kept))


def class_sections(notebook: dict) -> dict[str, dict[str, object]]:
    """Each section of `CLASS_PLAN` in `notebook` (nbformat JSON): its cells and words aloud."""
    found: dict[str, dict[str, object]] = {}
    current = None
    for number, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            heading = next(
                (s.heading for s in CLASS_PLAN if re.match(rf"#+ {re.escape(s.heading)}", source)),
                None,
            )
            current = heading or current
        if current is None:
            continue
        part = found.setdefault(current, {"cells": [], "words": 0})
        part["cells"].append(number)
        if cell["cell_type"] == "markdown":
            part["words"] += _aloud(source)
    return found


def class_plan(path: Path, on_screen: dict[str, int] | None = None) -> Markdown:
    """The timed plan of the class notebook at `path`: minutes, the heading each part starts
    under, the words of its text cells (read aloud) and, given `on_screen` (section: words),
    those its givens and reveals print (read on screen)."""
    sections = class_sections(json.loads(path.read_text()))
    on_screen = on_screen or {}
    rows, aloud, shown = [], 0, 0
    for s in CLASS_PLAN:
        said = int(sections.get(s.heading, {"words": 0})["words"])
        printed = on_screen.get(s.heading, 0)
        aloud, shown = aloud + said, shown + printed
        rows.append(f"| {s.start}-{s.end} | **{s.heading}** | {s.does} | {said} | {printed} |")
    minutes = (aloud + shown) / WORDS_PER_MINUTE
    return Markdown(
        "| minutes | heading on screen | what happens | words in its text | words its givens "
        "and reveals print |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nIn all, {aloud} words of text and {shown} printed by the givens and reveals: "
        f"about {minutes:.0f} minutes at {WORDS_PER_MINUTE} a minute, read aloud or on screen."
    )


def class_plan_section() -> str:
    """The timed plan for `docs/teaching.md`: minutes, the heading on screen, what happens."""
    rows = [f"| {s.start}-{s.end} | {s.heading} | {s.does} |" for s in CLASS_PLAN]
    return (
        "| minutes | heading on screen | what happens |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )
