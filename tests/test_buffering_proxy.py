"""The production path: a real nginx in front of the sync app's one worker.

Without it, each idle or trickling connection holds the only worker up to the request deadline
(six of them: the homepage waits about six deadlines). With it, nginx reads every request whole
before the app sees it, so slow clients never reach the worker; and with TRUSTED_PROXIES=1 the
app reads each client's own address from nginx's X-Forwarded-For.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lab_stack.proxy import COMPOSE_CONF, NginxNotFound, compose_config, find_nginx
from lab_stack.stack import Stack, open_stack
from loadtests.load.journey import contact_fields
from tests.conftest import FromAddress, Visitor, loopback_alias, settings_for_tests

DEADLINE_S = 3.0  # the app's own whole-request deadline, and nginx's
SLOW_CLIENTS = 6

try:
    find_nginx()
    NGINX_MISSING = ""
except NginxNotFound as exc:
    NGINX_MISSING = str(exc)

# CI sets LAB_REQUIRE_NGINX=1: there a missing nginx fails the tests instead of skipping them.
needs_nginx = pytest.mark.skipif(
    bool(NGINX_MISSING) and not os.environ.get("LAB_REQUIRE_NGINX"), reason=NGINX_MISSING
)


@pytest.fixture(scope="module")
def proxied() -> Iterator[Stack]:
    # No TRUSTED_PROXIES here: a stack started with its nginx trusts that nginx by itself.
    settings = settings_for_tests(rate_limit_s=30.0, request_body_timeout_s=DEADLINE_S)
    stack = open_stack("sync", settings, proxy=True)
    with stack:
        yield stack


def slow_clients(host: str, port: int) -> list[socket.socket]:
    """Half a request each: three stop in the headers, three in the body."""
    head = (
        b"POST /contact HTTP/1.1\r\nHost: lab\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\nname=Sl"
    )
    sockets = []
    for n in range(SLOW_CLIENTS):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(head[:30] if n % 2 else head)
        sockets.append(sock)
    return sockets


def homepage_wait_s(url: str) -> float:
    started = time.monotonic()
    assert requests.get(url + "/", timeout=DEADLINE_S * (SLOW_CLIENTS + 2)).status_code == 200
    return time.monotonic() - started


@needs_nginx
def test_slow_clients_wait_in_the_proxy_not_in_the_only_worker(proxied):
    host = proxied.settings.web_host
    through_proxy = slow_clients(host, proxied.settings.proxy_port)
    try:
        time.sleep(0.5)  # every one of them has sent its part
        behind_proxy = homepage_wait_s(proxied.settings.proxy_url)
    finally:
        for sock in through_proxy:
            sock.close()
    direct = slow_clients(host, proxied.settings.web_port)
    try:
        time.sleep(0.5)
        without_proxy = homepage_wait_s(proxied.url)
    finally:
        for sock in direct:
            sock.close()

    # Straight to gunicorn the homepage queues behind the slow clients, each holding the only
    # worker until the deadline; through nginx it is served while they are all still sending.
    assert without_proxy >= DEADLINE_S
    assert behind_proxy < DEADLINE_S / 2, behind_proxy


@needs_nginx
def test_behind_the_proxy_each_client_address_has_its_own_rate_limit(proxied):
    """nginx appends the address it saw to X-Forwarded-For; the app (TRUSTED_PROXIES=1)
    believes only that last one. A forged header therefore buys a new bucket to nobody, and two
    addresses get two buckets, which they would not if the app saw only nginx's address."""
    url = proxied.settings.proxy_url

    def visitor(address: str) -> Visitor:
        person = Visitor(url)
        person.session.mount("http://", FromAddress(loopback_alias(address)))
        return person

    first, second = visitor("127.0.0.4"), visitor("127.0.0.5")
    forged = {"X-Forwarded-For": "198.51.100.7"}
    answers = [
        first.submit(contact_fields(1, 1)).status_code,
        first.submit(contact_fields(1, 2), headers=forged).status_code,
        second.submit(contact_fields(2, 1)).status_code,
    ]

    assert answers == [302, 429, 302]


def staff_pages_status(url: str, source: str, **headers: str) -> set[int]:
    """The statuses of the admin page and the accounts report, asked from `source`."""
    session = requests.Session()
    session.mount("http://", FromAddress(loopback_alias(source)))
    return {
        session.get(f"{url}{path}", headers=headers, timeout=10).status_code
        for path in ("/admin/tasks", "/reports")
    }


@needs_nginx
def test_through_the_proxy_the_staff_pages_see_the_client_not_the_proxy(proxied):
    """Every request reaches gunicorn from nginx's address; the admin rule must judge the client
    nginx names (127.0.0.2 stands for another machine), never nginx's own loopback address."""
    url = proxied.settings.proxy_url

    assert staff_pages_status(url, "127.0.0.2") == {403}
    assert staff_pages_status(url, "127.0.0.2", **{"X-Forwarded-For": "127.0.0.1"}) == {403}
    assert staff_pages_status(url, "127.0.0.1") == {200}  # a browser on this machine


@needs_nginx
def test_a_forged_forwarded_for_straight_to_the_app_is_not_believed(proxied):
    """Only nginx's connections may name the client: another address that reaches gunicorn's own
    port and claims to be this machine is judged by its own address."""
    forged = {"X-Forwarded-For": "127.0.0.1"}

    assert staff_pages_status(proxied.url, "127.0.0.2", **forged) == {403}


def test_behind_its_proxy_the_app_listens_on_loopback_and_trusts_only_the_proxy():
    """A stack whose site is public (WEB_HOST=0.0.0.0) publishes the proxy, not gunicorn."""
    settings = settings_for_tests(web_host="0.0.0.0")

    web = Stack("sync", settings, proxy=True).processes["web"].env

    assert (web["WEB_HOST"], web["TRUSTED_PROXIES"], web["FORWARDED_ALLOW_IPS"]) == (
        "127.0.0.1",
        "1",
        "127.0.0.1",
    )
    assert Stack("sync", settings).processes["web"].env["TRUSTED_PROXIES"] == "0"


@needs_nginx
def test_the_proxy_answers_under_3000_half_sent_heads_and_its_log_stays_small(proxied):
    host, port = proxied.settings.web_host, proxied.settings.proxy_port
    log = proxied.proxy_dir / "error.log"
    before = log.stat().st_size
    flood = []
    try:
        for _ in range(3000):
            sock = socket.create_connection((host, port), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\nX-Pad")
            flood.append(sock)
        answers = []
        for _ in range(20):
            try:
                answers.append(requests.get(f"{proxied.settings.proxy_url}/healthz", timeout=10))
            except requests.ConnectionError:
                answers.append(None)
    finally:
        for sock in flood:
            sock.close()
    time.sleep(0.5)  # nginx has logged whatever the flood made it log

    assert [a.status_code if a else "reset" for a in answers] == [200] * 20
    assert log.stat().st_size - before < 16 * 1024


@needs_nginx
def test_started_as_root_the_proxys_workers_are_not_root(proxied):
    master = proxied.processes["proxy"].pid
    children = Path(f"/proc/{master}/task/{master}/children")
    if not children.exists():
        pytest.skip("no /proc here to read the workers' owners from")
    workers = children.read_text().split()
    owners = {
        next(
            line.split()[1]
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("Uid:")
        )
        for pid in workers
    }

    assert workers and "0" not in owners, owners


def test_the_compose_files_proxy_is_the_one_the_tests_run():
    assert COMPOSE_CONF.read_text() == compose_config(), "run: python -m lab_stack.proxy"
