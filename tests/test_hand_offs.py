"""Which hand-offs exist is said in one place (`lab_hand_offs`): one registered there reaches the
stack runner, the plans, the figures' legends and the tables with no other change."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.colors import to_hex

import lab_hand_offs
from lab_hand_offs import HandOff, names, registered
from lab_settings import Settings
from lab_stack.stack import open_stack
from loadtests.analysis import plots
from loadtests.analysis.results import RESULTS_DIR, load_summary
from loadtests.analysis.summary import collapse_repeats
from loadtests.publishing import compare, tables
from loadtests.runners import bench_plan
from loadtests.runners.open_arrivals_plan import OpenPlan

FAKE = HandOff(
    "celery/gevent",
    "celery",
    "#000000",
    "the Celery app's web tier under gunicorn's gevent worker",
    {"web_worker_class": "gevent"},
    kind="web tier",
    post_waits_for_email=False,
)


def with_fake_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The committed summary, and the Celery rows again under the fake's name."""
    copy = summary[summary["app"] == "celery"].assign(app=FAKE.name)
    return pd.concat([summary, copy], ignore_index=True)


def test_a_registered_hand_off_reaches_the_stack_the_plans_the_legends_and_the_tables():
    summary = collapse_repeats(load_summary(RESULTS_DIR).query("generator == 'locust'"))
    with registered(FAKE):
        stack = open_stack(FAKE.name, Settings())
        plan, _ = bench_plan.parse_args(["--apps", "sync", FAKE.name], "bench")
        planned = {p.app for p in plan.sustained_points()}
        estimate = plan.estimate_s(next(p for p in plan.sustained_points() if p.visitors))
        figure = plots.homepage_latency(with_fake_rows(summary))
        lines = {line.get_label(): to_hex(line.get_color()) for line in figure.axes[0].lines}
        headline = tables.headline_table(with_fake_rows(summary), None)
        side = compare.side_by_side(with_fake_rows(summary), with_fake_rows(summary))
        in_open_plan = FAKE.name in OpenPlan().hand_offs

    assert (stack.app, stack.label, stack.settings.web_worker_class) == (
        "celery",
        FAKE.name,
        "gevent",
    )
    assert "push" in stack.processes and "worker" in stack.processes
    assert planned == {"sync", FAKE.name} and estimate > 0
    assert lines[f"{FAKE.name} p50"] == FAKE.colour
    assert FAKE.name in headline.columns and FAKE.name in side.columns
    assert in_open_plan
    # Gone with the block: nothing keeps a copy of the list it was read from.
    assert FAKE.name not in names() and FAKE.name not in OpenPlan().hand_offs


def test_a_hand_off_names_an_app_and_a_kind_that_exist_and_is_registered_once():
    with pytest.raises(ValueError, match="app must be one of"):
        HandOff("flask/rq", "rq", "#000000", "queued in RQ")
    with pytest.raises(ValueError, match="kind must be one of"):
        HandOff("sync/2", "sync", "#000000", "the same", kind="variant")
    with pytest.raises(ValueError, match="already registered"):
        lab_hand_offs.register(lab_hand_offs.hand_off("sync"))
    with pytest.raises(KeyError, match="no hand-off named 'nope'"):
        lab_hand_offs.hand_off("nope")


def test_every_hand_off_has_its_own_colour_and_its_settings_are_settings():
    colours = [lab_hand_offs.colour_of(name) for name in names()]
    assert len(set(colours)) == len(colours)
    for name in names():
        Settings().replace(**lab_hand_offs.hand_off(name).settings)  # raises on a wrong one
