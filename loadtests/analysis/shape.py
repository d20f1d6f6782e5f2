"""The shape of a run, which carries over from one machine to another where absolute times do not.

The lab's claim is a shape: the blocking app's homepage climbs with the visitors, the apps that
do not wait for the provider in the web worker stay flat. A student's laptop answers the idle
homepage in a different time than the reference machine, and its load generator shares other
cores; the shape is what `make bench` judges their run on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from loadtests.analysis.plots import fmt_ms

CLIMB_FACTOR = 10.0  # the blocking app's busiest homepage p50 is at least this x its idle one
FLAT_FACTOR = 3.0  # a flat app's busiest homepage p50 is at most this x its idle one ...
FLAT_SLACK_MS = 20.0  # ... or its idle one plus this much (a busy laptop's noise)


@dataclass(frozen=True)
class Shape:
    climbs: dict[str, bool]  # blocking apps: does the homepage climb with every step?
    flat: dict[str, bool]  # the others: does it stay flat?
    text: str  # what the run shows, in one sentence per app

    @property
    def as_claimed(self) -> bool:
        return (
            bool(self.climbs or self.flat) and all(self.climbs.values()) and all(self.flat.values())
        )


def homepage_p50(summary: pd.DataFrame) -> pd.DataFrame:
    """Homepage p50 (ms), one row per visitors, one column per app, of a collapsed summary."""
    home = summary[summary["endpoint"] == "home"]
    return home.pivot_table(index="visitors", columns="app", values="p50_ms", sort=True)


def shape(summary: pd.DataFrame, blocking: frozenset[str] = frozenset({"sync"})) -> Shape:
    """Judge the homepage curve of every app of `summary` (one row per app, visitors and
    endpoint) that was measured idle (0 visitors) and under load."""
    table = homepage_p50(summary)
    climbs, flat, sentences = {}, {}, []
    if 0 not in table.index or len(table.index) < 2:
        return Shape({}, {}, "No shape to judge: the run needs 0 visitors and at least one load.")
    order = sorted(table.columns, key=lambda app: (app not in blocking, app != "celery", app))
    for app in order:
        curve = table[app].dropna()
        idle, top, busiest = curve.loc[0], curve.iloc[-1], int(curve.index[-1])
        if app in blocking:
            rising = bool((curve.diff().dropna() > 0).all())
            climbs[app] = rising and top >= CLIMB_FACTOR * idle
            verb = "climbs" if climbs[app] else "does not climb as claimed"
            sentences.append(
                f"{app}: the homepage {verb}, {fmt_ms(idle)} idle to {fmt_ms(top)} at "
                f"{busiest} visitors ({top / idle:,.0f}x"
                + ("" if rising else ", not at every step")
                + ")."
            )
        else:
            highest = curve.max()
            flat[app] = highest <= max(FLAT_FACTOR * idle, idle + FLAT_SLACK_MS)
            verb = "stays flat" if flat[app] else "does not stay flat"
            sentences.append(
                f"{app}: the homepage {verb}, {fmt_ms(idle)} idle, at most {fmt_ms(highest)}."
            )
    return Shape(climbs, flat, " ".join(sentences))
