"""A flood of connections that send half a request and stop, against the two uvicorn processes
(the async app and the Celery app's push service): the process holds a bounded number, cuts
each one off at the head deadline, keeps answering visitors, and its log stays small."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time

import pytest
import requests

from lab_stack.stack import Stack

CAP = 200  # WEB_MAX_CONNECTIONS
FLOOD = 3 * CAP
DEADLINE_S = 3.0  # REQUEST_BODY_TIMEOUT_S: the head deadline too


@pytest.fixture(scope="module", autouse=True)
def room_for_the_flood():
    """The flood needs FLOOD descriptors in this process (macOS starts with 256)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FLOOD + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this process may open only {hard} files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def half_requests(host: str, port: int, n: int) -> list[socket.socket]:
    sockets = []
    for _ in range(n):
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: lab\r\nX-Pad")
        sockets.append(sock)
    return sockets


def closed_by_the_server(sock: socket.socket, by: float) -> bool:
    sock.settimeout(max(0.01, by - time.monotonic()))
    try:
        return sock.recv(100) == b""
    except TimeoutError:
        return False
    except OSError:
        return True  # reset


def flood_and_visit(stack: Stack, port: int, url: str) -> dict[str, object]:
    host = stack.settings.web_host
    logs = {name: p.log_path for name, p in stack.processes.items()}
    before = {name: path.stat().st_size for name, path in logs.items()}
    flood = half_requests(host, port, FLOOD)
    try:
        started = time.monotonic()
        visit = requests.get(url, timeout=30)
        visit_s = time.monotonic() - started
        by = started + DEADLINE_S + 2
        closed = sum(closed_by_the_server(sock, by) for sock in flood)
    finally:
        for sock in flood:
            sock.close()
    after = requests.get(url, timeout=10)
    return {
        "visit": visit.status_code,
        "visit_s": visit_s,
        "closed": closed,
        "after": after.status_code,
        "log_growth": {name: path.stat().st_size - before[name] for name, path in logs.items()},
    }


@pytest.mark.parametrize("target", ["asyncio web", "celery push"])
def test_half_sent_requests_are_bounded_cut_off_and_do_not_flood_the_log(start_stack, target):
    app, process = target.split()
    stack = start_stack(app, web_max_connections=CAP, request_body_timeout_s=DEADLINE_S)
    if process == "web":
        port, url = stack.settings.web_port, f"{stack.url}/"
    else:
        port, url = stack.settings.push_port, f"{stack.settings.push_url}/healthz"

    seen = flood_and_visit(stack, port, url)

    # The visitor is served at once, not after the deadline: the longest-waiting half request
    # made room for it.
    assert seen["visit"] == 200 and seen["visit_s"] < DEADLINE_S, seen
    # Every half request is closed by the deadline (or earlier, to make room).
    assert seen["closed"] == FLOOD, seen
    assert seen["after"] == 200
    assert all(grown < 64 * 1024 for grown in seen["log_growth"].values()), seen


def test_at_the_default_settings_the_push_service_answers_under_450_half_sent_requests(
    shared_stacks,
):
    """One connection budget per process: whatever else limits the push service's connections
    (uvicorn's --limit-concurrency refused everyone past 400) must not sit below the lab's own
    cap, WEB_MAX_CONNECTIONS (1000 by default), or the eviction of the longest-waiting head
    never runs."""
    stack = shared_stacks["celery"]
    half_sent = 450
    assert stack.settings.web_max_connections > half_sent  # the defaults, unlowered
    flood = half_requests(stack.settings.web_host, stack.settings.push_port, half_sent)
    try:
        answers = [
            requests.get(f"{stack.settings.push_url}/healthz", timeout=10).status_code
            for _ in range(20)
        ]
    finally:
        for sock in flood:
            sock.close()

    assert answers == [200] * 20, answers


def test_heads_that_announce_a_body_and_never_send_it_make_room_too(start_stack):
    """A whole head with `Content-Length: 60000` and no body is still a request waiting to
    arrive, not one the app can answer: past the cap it is evicted like a half-sent head, so
    visitors keep getting in (without nginx in front, nothing else would stop it)."""
    cap = 40
    stack = start_stack("asyncio", web_max_connections=cap)
    head = (
        b"POST /contact HTTP/1.1\r\nHost: lab\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n"
    )
    withheld = []
    try:
        for _ in range(3 * cap):
            sock = socket.create_connection((stack.settings.web_host, stack.settings.web_port))
            sock.sendall(head)
            withheld.append(sock)
        answers = []
        for _ in range(10):
            try:
                answers.append(requests.get(f"{stack.url}/", timeout=10).status_code)
            except requests.ConnectionError:
                answers.append("reset")
    finally:
        for sock in withheld:
            sock.close()

    assert answers == [200] * 10, answers


def test_the_connection_cap_fits_under_the_process_file_limit():
    """Where the system's file limit is below WEB_MAX_CONNECTIONS and cannot be raised, the
    cap shrinks to what fits, so accept() never runs out of descriptors (in a child process:
    lowering a hard limit cannot be undone)."""
    code = (
        "import resource\n"
        "from site_glue.guarded_uvicorn import OTHER_FILES, fit_file_limit\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (400, 400))\n"
        "print(fit_file_limit(1000), 400 - OTHER_FILES)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (300, 390))\n"
        "print(fit_file_limit(100), resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    (capped, fits), (small, raised_to) = (line.split() for line in out.stdout.splitlines())

    assert capped == fits  # 1000 wanted, what fits under 400 files given
    assert small == "100" and raised_to == "300"  # fits already: nothing raised


def test_a_flood_of_log_lines_is_gated():
    import logging

    from site_glue.log_limit import LINES_PER_WINDOW, FloodGate

    gate = FloodGate(window_s=3600)
    passed = [gate.filter(logging.makeLogRecord({"msg": "accept failed"})) for _ in range(1000)]
    assert sum(passed) == LINES_PER_WINDOW
    gate.window_start -= 3600  # the next window
    record = logging.makeLogRecord({"msg": "accept failed"})
    assert gate.filter(record)
    assert record.getMessage().startswith(f"[{1000 - LINES_PER_WINDOW} similar lines dropped")
