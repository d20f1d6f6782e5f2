"""The class notebook's live minute, at the quick scale: it measures, and leaves nothing
running, whether it ends or is interrupted."""

from __future__ import annotations

import os
import signal
import threading

import psutil
import pytest

from loadtests.analysis.live_minute import LiveMinute, homepage, stored
from loadtests.runners import live_minute
from tests.conftest import settings_for_tests

QUICK = LiveMinute(visitors=2, delay_s=0.3, seconds=6.0, think_s=0.3)


def children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.is_running()]


def test_the_live_minute_measures_the_homepage_and_stops_what_it_started():
    before = {p.pid for p in children()}
    requests = live_minute.run(QUICK, settings_for_tests())
    probes = homepage(requests)

    assert len(probes) >= QUICK.probe_rate * QUICK.seconds * 0.8
    assert {"contact_post", "home"} <= set(requests["endpoint"])
    assert {p.pid for p in children()} <= before  # every process it started is gone


def test_an_interrupted_live_minute_stops_what_it_started():
    """A kernel interrupt is a SIGINT to the kernel's process: here, this one (a real signal,
    so that a wait in a system call, for Locust or a process to start, is interrupted too)."""
    before = {p.pid for p in children()}
    # A kernel takes SIGINT as KeyboardInterrupt; a test run started in the background (CI's
    # make) inherits it ignored, so take it the way a kernel does for the length of the test.
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(8.0, os.kill, (os.getpid(), signal.SIGINT))  # starting, or running
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            live_minute.run(LiveMinute(seconds=60.0), settings_for_tests())
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, handler)

    assert {p.pid for p in children()} <= before


def test_the_fallback_is_the_stored_run_of_the_same_setting():
    """When the live minute cannot run, the class sees the reference's `make bench` run of the
    sync app at the same visitors and provider delay."""
    plan = LiveMinute(delay_s=2.0)
    requests = stored(plan)

    assert set(requests["app"]) == {"sync"}
    assert set(requests["visitors"]) == {plan.visitors}
    assert set(requests["smtp_delay_s"]) == {plan.delay_s}
    assert len(homepage(requests)) > 0
    with pytest.raises(LookupError):
        stored(LiveMinute(visitors=3, delay_s=2.0))
