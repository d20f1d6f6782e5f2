"""Who may open the admin pages: a request from this machine, or one that carries the token.

The token is ADMIN_TOKEN, sent as the `X-Admin-Token` header or `?token=`. Behind a reverse
proxy every request comes from loopback, so there set ADMIN_LOOPBACK=0 and use the token.
"""

from __future__ import annotations

import hmac
import ipaddress

from contact_form.settings import Settings


def admin_allowed(remote_addr: str | None, token: str | None, settings: Settings) -> bool:
    if settings.admin_token and token and hmac.compare_digest(token, settings.admin_token):
        return True
    if not settings.admin_loopback or not remote_addr:
        return False
    try:
        return ipaddress.ip_address(remote_addr).is_loopback
    except ValueError:
        return False
