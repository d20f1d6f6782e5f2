"""Client addresses behind a reverse proxy: believed only from TRUSTED_PROXIES, in all three apps.

The admin rule and the rate limit both go by the client's address, so a spoofed
X-Forwarded-For must change nothing by default, and a real proxy's must be read when it is set.
"""

from __future__ import annotations

import pytest
import requests

from lab_stack.stack import APPS
from loadtests.load.journey import contact_fields
from tests.conftest import FromAddress, Visitor, loopback_alias, start_at_once

OUTSIDER = "203.0.113.9"  # TEST-NET-3: an address on the internet, never this machine


@pytest.fixture(scope="module")
def proxied_stacks(start_stack):
    """Each app behind one (pretend) reverse proxy on this machine, with the rate limit on."""
    return start_at_once(start_stack, trusted_proxies=1, rate_limit_s=30.0)


def admin_status(url: str, forwarded_for: str) -> int:
    headers = {"X-Forwarded-For": forwarded_for}
    return requests.get(f"{url}/admin/tasks", headers=headers, timeout=10).status_code


@pytest.mark.parametrize("app", APPS)
def test_by_default_a_spoofed_forwarded_for_changes_nobodys_address(shared_stacks, app):
    # From loopback, the admin page opens; a header claiming otherwise is not believed.
    assert admin_status(shared_stacks[app].url, OUTSIDER) == 200


@pytest.mark.parametrize("app", APPS)
def test_behind_a_trusted_proxy_the_admin_rule_checks_the_real_client(proxied_stacks, app):
    url = proxied_stacks[app].url

    assert admin_status(url, OUTSIDER) == 403  # the proxy says: someone on the internet
    assert admin_status(url, "127.0.0.1") == 200  # the proxy says: this machine
    # A client's own X-Forwarded-For comes first; the trusted proxy appends the real address.
    assert admin_status(url, f"127.0.0.1, {OUTSIDER}") == 403


@pytest.mark.parametrize("app", APPS)
def test_behind_a_trusted_proxy_each_client_has_its_own_rate_limit(proxied_stacks, app):
    stack = proxied_stacks[app]

    def send(client: str, n: int) -> int:
        headers = {"X-Forwarded-For": client}
        return Visitor(stack.url).submit(contact_fields(n, 1), headers=headers).status_code

    answers = [send("198.51.100.1", 1), send("198.51.100.2", 2), send("198.51.100.1", 3)]

    assert answers == [302, 302, 429]  # two clients, one bucket each


@pytest.mark.parametrize("app", APPS)
def test_behind_a_trusted_proxy_only_the_proxys_address_may_forward(proxied_stacks, app):
    """TRUSTED_PROXIES=1 believes X-Forwarded-For from FORWARDED_ALLOW_IPS (127.0.0.1 here):
    a client on another address (127.0.0.2 stands for another machine) that reaches the app
    directly and claims to be this machine is judged by its own address."""
    session = requests.Session()
    session.mount("http://", FromAddress(loopback_alias("127.0.0.2")))
    url = proxied_stacks[app].url
    forged = {"X-Forwarded-For": "127.0.0.1"}

    answers = {
        path: session.get(f"{url}{path}", headers=forged, timeout=10).status_code
        for path in ("/admin/tasks", "/reports")
    }

    assert answers == {"/admin/tasks": 403, "/reports": 403}
