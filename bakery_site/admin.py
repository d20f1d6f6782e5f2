"""Who may open the admin pages: a request from this machine, or one that carries the token.

The token is ADMIN_TOKEN, sent as the `X-Admin-Token` header; never in the query string, which
ends up in access logs and browser history. Behind a reverse proxy every request comes from
the proxy: set TRUSTED_PROXIES and FORWARDED_ALLOW_IPS (a stack started with its nginx does) so
that the client's own address is checked, or ADMIN_LOOPBACK=0.
"""

from __future__ import annotations

import hmac
import ipaddress

from lab_settings import Settings

# The addresses a browser on this machine connects from. Not all of 127/8: on Linux any local
# process may pick another source there, and the tests stand for other machines with 127.0.0.2.
THIS_MACHINE = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def admin_allowed(remote_addr: str | None, token: str | None, settings: Settings) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters, which any client can send.
    given, expected = (
        text.encode("utf-8", "surrogatepass") for text in (token or "", settings.admin_token)
    )
    if expected and given and hmac.compare_digest(given, expected):
        return True
    if not settings.admin_loopback or not remote_addr:
        return False
    try:
        return ipaddress.ip_address(remote_addr) in THIS_MACHINE
    except ValueError:
        return False
