"""Which hand-offs exist is said in one place (`lab_hand_offs`): one registered there reaches the
stack runner, the plans, the chaos and soak choices, the figures' legends and the tables with no
other change, whether it is a settings variant or a behaviour of its own."""

from __future__ import annotations

import contextlib
import re

import pandas as pd
import pytest
from matplotlib.colors import to_hex

import lab_hand_offs
import sync_app
from lab_hand_offs import (
    PALETTE,
    HandOff,
    check_contact_hand_off,
    colour_of,
    names,
    registered,
)
from lab_settings import Settings
from lab_stack.stack import PROJECT_ROOT, open_stack
from loadtests.analysis import plots
from loadtests.analysis.open_arrivals_plan import OpenPlan
from loadtests.analysis.results import RESULTS_DIR, load_summary
from loadtests.analysis.summary import collapse_repeats
from loadtests.publishing import compare, hand_offs, tables
from loadtests.publishing.records import generated_section
from loadtests.runners import bench_options, soak
from loadtests.runners.chaos_faults import FAULTS

FAKE = HandOff(
    "celery/gevent",
    "celery",
    "the Celery app's web tier under gunicorn's gevent worker",
    {"web_worker_class": "gevent"},
    kind="web tier",
    post_waits_for_email=False,
    colour="#000000",
)
# A behaviour no setting expressed before: the asyncio app puts the email on an asyncio.Queue
# that one task of the web process drains. Its branch of POST /contact is the app's to write;
# everything else reads the registry. No colour: it takes the next free one.
NEW_BEHAVIOUR = HandOff(
    "asyncio+queue",
    "asyncio",
    "put on an asyncio.Queue of the web process, drained by one task (no retries)",
    {"contact_hand_off": "queue"},
    kind="shortcut",
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
        plan, _ = bench_options.parse_args(["--apps", "sync", FAKE.name], "bench")
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
        HandOff("flask/rq", "rq", "queued in RQ")
    with pytest.raises(ValueError, match="kind must be one of"):
        HandOff("sync/2", "sync", "the same", kind="variant")
    with pytest.raises(ValueError, match="already registered"):
        lab_hand_offs.register(lab_hand_offs.hand_off("sync"))
    with pytest.raises(KeyError, match="no hand-off named 'nope'"):
        lab_hand_offs.hand_off("nope")


def test_every_hand_off_has_its_own_colour_and_its_settings_are_settings():
    colours = [lab_hand_offs.colour_of(name) for name in names()]
    assert len(set(colours)) == len(colours)
    for name in names():
        Settings().replace(**lab_hand_offs.hand_off(name).settings)  # raises on a wrong one


def test_a_hand_off_with_a_behaviour_of_its_own_reaches_every_list_and_awaits_its_measurement():
    summary = collapse_repeats(load_summary(RESULTS_DIR).query("generator == 'locust'"))
    mine = summary[summary["app"] == "asyncio"].assign(app=NEW_BEHAVIOUR.name)
    with registered(NEW_BEHAVIOUR) as new:
        stack = open_stack(new.name, Settings())
        beside = open_stack("asyncio+task", Settings())
        plan, _ = bench_options.parse_args(["--kind", "shortcut"], "bench")
        point = next(p for p in plan.sustained_points() if p.app == new.name)
        estimates = (plan.estimate_s(point), plan.estimate_s(point, burst=True))
        in_open_plan = new.name in OpenPlan().hand_offs
        faults = {f.name for f in FAULTS if new.name in f.apps}
        soaked = soak.soaked()
        figure = plots.homepage_latency(pd.concat([summary, mine], ignore_index=True))
        lines = {line.get_label(): to_hex(line.get_color()) for line in figure.axes[0].lines}
        row = hand_offs.table().set_index("hand-off").loc[new.name]
        check_contact_hand_off("asyncio_app", "queue")  # the asyncio app accepts it now
        with pytest.raises(ValueError, match="sync app implements CONTACT_HAND_OFF"):
            sync_app.create_app(Settings().replace(contact_hand_off="queue"))

    assert (stack.app, stack.label, stack.settings.contact_hand_off) == (
        "asyncio",
        new.name,
        "queue",
    )
    assert stack.run_dir.name == f"{new.name}-8000" != beside.run_dir.name
    assert min(estimates) > 0
    assert in_open_plan and {"web-killed", "web-restarted", "provider-outage"} <= faults
    assert new.name in soaked
    assert new.colour == next(c for c in PALETTE if c not in {colour_of(n) for n in names()})
    assert lines[f"{new.name} p50"] == new.colour.lower()
    assert row.iloc[0] == "not measured yet: `make bench-shortcut`"
    # Gone with the block, and the value with it.
    assert new.name not in soak.soaked() and new.name not in OpenPlan().hand_offs
    with pytest.raises(ValueError, match="not 'queue'"):
        check_contact_hand_off("asyncio_app", "queue")


def test_every_hand_off_of_the_table_is_measured_or_names_the_command_that_measures_it():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    table = hand_offs.table().set_index("hand-off")

    for name, row in table.iterrows():
        command = hand_offs.measured_by(name)
        assert re.search(rf"^{command.removeprefix('make ')}:", makefile, re.MULTILINE), command
        if row.iloc[0].startswith(hand_offs.NOT_MEASURED):
            assert row.iloc[0] == f"{hand_offs.NOT_MEASURED}: `{command}`"
    assert list(table.index) == list(names(*hand_offs.MEASURED_BY))


def test_the_glossary_lists_every_registered_hand_off():
    assert generated_section(hand_offs.LIST_MARKER) + "\n" == hand_offs.glossary_list()


def test_the_makefile_lists_no_hand_offs_by_hand():
    recipes = [line for line in (PROJECT_ROOT / "Makefile").read_text().splitlines()]
    listing = [line for line in recipes if sum(f" {n} " in f" {line} " for n in names()) > 1]
    assert listing == []


def test_two_hand_offs_of_one_app_run_in_folders_of_their_own():
    folders = {open_stack(name, Settings()).run_dir for name in names()}
    assert len(folders) == len(names())


def test_the_palette_gives_a_new_hand_off_a_colour_none_has_even_past_its_end():
    extra = [HandOff(f"sync/{n}", "sync", "the same", kind="web tier") for n in range(20)]
    with contextlib.ExitStack() as stack:
        for hand_off in extra:
            stack.enter_context(registered(hand_off))
        colours = [colour_of(name) for name in names()]
    assert len(set(colours)) == len(colours) == len(extra) + 6
    assert all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in colours)
