"""A student's `make bench` beside the committed reference: both runs' numbers, and a verdict on
the shape (absolute times belong to a machine; the shape is the claim).

    python -m loadtests.publishing.compare                 # results/local/ against results/
    python -m loadtests.publishing.compare results/quick   # any run against results/
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol

import pandas as pd

from lab_hand_offs import names
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import (
    LOCAL_DIR,
    RESULTS_DIR,
    Point,
    load_environment,
    load_summary,
)
from loadtests.analysis.shape import shape
from loadtests.analysis.summary import collapse_repeats
from loadtests.publishing.tables import text_table

PAGES = {"home": "homepage", "contact_post": "POST /contact"}


def _table(results_dir: Path) -> pd.DataFrame:
    summary = load_summary(results_dir)
    return collapse_repeats(summary[summary["generator"] == "locust"])


def side_by_side(yours: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """p50 of each page, visitors and app that both runs measured with the same provider delay:
    yours, then the reference's in brackets."""
    keys = ["endpoint", "app", "visitors", "smtp_delay_s"]
    both = yours.merge(reference, on=keys, suffixes=("_yours", "_reference"))
    both = both[both["endpoint"].isin(list(PAGES)) & both["n_yours"].gt(0)]
    both["cell"] = [
        f"{fmt_ms(mine)} ({fmt_ms(theirs)})"
        for mine, theirs in zip(both["p50_ms_yours"], both["p50_ms_reference"], strict=True)
    ]
    apps = [a for a in names() if a in set(both["app"])]
    table = both.pivot_table(
        index=["endpoint", "visitors"], columns="app", values="cell", aggfunc="first"
    )
    table = table.reindex(columns=apps).reset_index()
    table["endpoint"] = table["endpoint"].map(PAGES)
    table = table.sort_values(["endpoint", "visitors"], key=lambda c: c.map(_page_order))
    return table.rename(columns={"endpoint": "page"}).reset_index(drop=True)


def _page_order(value: object) -> object:
    return list(PAGES.values()).index(value) if value in PAGES.values() else value


def verdict(yours: pd.DataFrame, reference: pd.DataFrame) -> str:
    mine, theirs = shape(yours), shape(reference)
    if not (mine.climbs or mine.flat):
        return mine.text
    if mine.as_claimed and theirs.as_claimed:
        head = "Same shape as the reference"
    else:
        apart = [
            app
            for app, ok in {**mine.climbs, **mine.flat}.items()
            if ok != {**theirs.climbs, **theirs.flat}.get(app, True)
        ]
        head = "Not the reference's shape (" + ", ".join(apart) + ")"
    return f"{head}:\n  " + "\n  ".join(mine.text.split(". "))


def report(results_dir: Path, reference_dir: Path = RESULTS_DIR) -> str:
    """What the terminal shows after a run that is not the reference."""
    yours = _table(results_dir)
    if not (reference_dir / "summary.csv").exists():
        return "Shape of your run: " + shape(yours).text
    reference = _table(reference_dir)
    env = load_environment(reference_dir)
    machine = env["machine"]
    rel = os.path.relpath(reference_dir, Path.cwd())
    lines = [
        f"Your run beside the reference ({rel}/: {machine['cpu_model']}, {machine['cores']} "
        f"cores, Python {machine['python']}, {str(env['date'])[:10]}); p50, yours (reference's):",
    ]
    table = side_by_side(yours, reference)
    lines.append(
        text_table(table) if len(table) else "  (no point in common: another delay or visitors)"
    )
    advice = steadiness_advice(yours)
    lines += [advice] if advice else []
    lines += [
        "",
        "Absolute times belong to a machine; the claim is the shape. " + verdict(yours, reference),
    ]
    return "\n".join(lines)


def steadiness_advice(table: pd.DataFrame) -> str:
    """What to do about points whose two window halves disagreed (marked "not steady")."""
    # A page nobody requested (no form posts at 0 visitors) has no halves to disagree.
    shaky = table[table["n"].gt(0) & ~table["steady"].astype(bool)]
    if shaky.empty:
        return ""
    where = ", ".join(
        f"{r.app} at {int(r.visitors)} visitors ({PAGES.get(r.endpoint, r.endpoint)})"
        for r in shaky.itertuples()
    )
    return (
        f"\nNot steady: {where}. The two halves of the window disagreed, so that figure may "
        "belong to the moment more than to the app. Close other programs (a browser, a video "
        "call), then run that point longer (`python -m loadtests.runners.bench --apps APP "
        "--visitors N --window-scale 2`) or several times (`--repeats 3`)."
    )


class BenchPlan(Protocol):
    """What the report reads of `make bench`'s plan (`analysis.bench_plan.Plan`)."""

    out: Path
    apps: tuple[str, ...]
    visitors: tuple[int, ...]
    delay_s: float
    repeats: int

    def timing(self, point: Point) -> tuple[float, float, float]: ...
    def sustained_points(self) -> list[Point]: ...


def notes(plan: BenchPlan) -> list[str]:
    """What a reader of a run's claims should know about how far they go."""
    found = []
    if plan.repeats == 1 and plan.out.resolve() == LOCAL_DIR.resolve():
        found.append(
            "Each point ran once: `make bench-reference` repeats the headline points 3 times."
        )
    if plan.delay_s != 2.0 or max(plan.visitors) < 10:
        found.append(
            f"Note: this run's provider delay is {plan.delay_s:g} s with up to "
            f"{max(plan.visitors)} visitors; the article's figures assume 2 s and ~10 visitors, "
            "so read the verdicts as a smoke test."
        )
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(report(Path(args[0]) if args else LOCAL_DIR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
