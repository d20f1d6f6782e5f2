"""The stack runner: starts every part, and leaves no process behind, however it is stopped."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import psutil
import pytest

from lab_hand_offs import folder_name, names
from lab_settings import Settings
from lab_stack.__main__ import up_stack
from lab_stack.processes import LOWEST_PORT, ephemeral_start, free_port, port_candidates
from lab_stack.stack import PROJECT_ROOT, Stack, open_stack
from loadtests.publishing import hand_offs, lesson
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


def files_under(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def test_describing_a_stack_touches_nothing_under_a_running_stacks_folder(tmp_path, monkeypatch):
    """Notebook 03 and the summary tables list each hand-off's processes by building its Stack
    with the default settings: the very folder of a `make up` that may be running."""
    monkeypatch.chdir(tmp_path)  # where `make up` keeps its data (DATA_DIR is relative)
    settings = Settings()
    for name in names():
        run_dir = tmp_path / settings.data_dir / f"{folder_name(name)}-{settings.web_port}"
        for part in ("redis/appendonly.aof", "logs/web.log", "pids/web.pid", "provider.sqlite3"):
            (run_dir / part).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / part).write_text(f"{name}: {part}")
    before = files_under(tmp_path)

    described = [open_stack(name, settings).describe() for name in names()]
    parts = {name: hand_offs.moving_parts(name) for name in names()}
    hand_offs.table()
    lesson.summary_table()

    assert files_under(tmp_path) == before
    assert all("site" in text for text in described)
    assert "worker" in parts["celery"] and "worker" not in parts["sync"]


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
    # Up once it says where the site is: it prints that when every process answers (the web
    # app answers before the worker, the push service and beat do).
    site = f"site      {settings.web_url}/"
    printed, deadline = "", time.monotonic() + 60
    while site not in printed and time.monotonic() < deadline:
        if select.select([runner.stdout], [], [], 0.5)[0]:  # read the pipe itself, unbuffered
            chunk = os.read(runner.stdout.fileno(), 65536).decode()
            if not chunk:  # the runner ended
                break
            printed += chunk
    children = process_tree(runner.pid)[1:]

    runner.send_signal(stop_signal)
    output = printed + runner.communicate(timeout=60)[0]

    assert site in output
    assert "stack stopped." in output
    assert runner.returncode == 0
    assert len(children) >= 6
    assert all_gone(children)


def test_free_ports_lie_below_the_range_outgoing_connections_take_theirs_from():
    """A port chosen for a server stays free until it binds: no client socket gets it."""
    ports = [free_port() for _ in range(200)]

    assert len(set(ports)) == len(ports)
    assert all(LOWEST_PORT <= port < ephemeral_start() for port in ports)


def test_two_pytest_workers_are_never_handed_the_same_port(monkeypatch):
    """Each worker remembers only the ports it handed out: the workers pick from shares that do
    not overlap, and together cover every port a lone process would pick from."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    shares = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        shares.append(set(port_candidates()))
        assert {free_port() for _ in range(50)} <= shares[-1]
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert not shares[0] & shares[1]
    assert shares[0] | shares[1] == set(port_candidates())


def test_make_up_starts_the_beat_of_an_app_with_a_queue():
    """Without it the hourly sweep of old reports never runs under `make up APP=celery`."""
    settings = settings_for_tests()

    assert "beat" in up_stack("celery", settings, proxy=False).processes
    assert "beat" not in up_stack("sync", settings, proxy=False).processes
