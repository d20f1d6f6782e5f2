"""The stack runner: starts every part, and leaves no process behind, however it is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from lab_stack.stack import PROJECT_ROOT, Stack, http_ok
from tests.conftest import settings_for_tests


def process_tree(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def all_gone(processes: list[psutil.Process], timeout_s: float = 10) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    return not alive


def test_stack_stop_ends_every_process_it_started():
    stack = Stack("celery", settings_for_tests()).start()
    processes = [p for m in stack.processes.values() for p in process_tree(m.pid)]

    stack.stop()

    assert {"redis", "provider", "rates_api", "worker", "report_worker", "push", "web"} == set(
        stack.processes
    )
    assert len(processes) >= 6  # gunicorn and Celery each run children of their own
    assert all_gone(processes)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_make_up_stops_everything_on_ctrl_c_or_kill(stop_signal):
    settings = settings_for_tests()
    runner = subprocess.Popen(
        [sys.executable, "-m", "lab_stack", "up", "--app", "celery"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **settings.to_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not http_ok(f"{settings.web_url}/healthz") and time.monotonic() < deadline:
        time.sleep(0.1)
    children = process_tree(runner.pid)[1:]

    runner.send_signal(stop_signal)
    output, _ = runner.communicate(timeout=60)

    assert f"site      {settings.web_url}/" in output
    assert "stack stopped." in output
    assert runner.returncode == 0
    assert len(children) >= 6
    assert all_gone(children)
