"""What the shared pages say, independent of Flask or Quart: page content, limits, error texts."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bakery_site.forms import EMAIL_MAX, MESSAGE_MAX, NAME_MAX
from bakery_site.rate_limit import retry_after_header
from lab_settings import Settings

# A request body larger than this is refused with 413 before the form is parsed.
MAX_BODY_BYTES = 64 * 1024

FIELD_LIMITS = {"name": NAME_MAX, "email": EMAIL_MAX, "message": MESSAGE_MAX}

PROBLEMS = {
    404: ("Page not found", "There is no page at this address."),
    405: ("Method not allowed", "This page cannot be used that way."),
    403: ("Not for visitors", "This page is for the site's staff."),
    408: (
        "The form took too long to arrive",
        "Your browser sent the form too slowly, so we stopped waiting; nothing was sent.",
    ),
    410: ("This report is gone", "Reports are deleted after a while; please make a new one."),
    413: (
        "Message too large",
        f"The form sent more than {MAX_BODY_BYTES // 1024} KiB; nothing was sent.",
    ),
    429: ("Please wait a moment", "You have sent a message very recently; please try again soon."),
    503: (
        "Please try again in a moment",
        "Part of the site is not answering right now; please try again in a few seconds.",
    ),
}


def admin_rows(raw: list[dict[str, str]]) -> list[dict[str, str]]:
    """Task-log entries as the admin page shows them: with a readable time."""
    rows = []
    for entry in raw:
        updated = datetime.fromtimestamp(float(entry.get("updated", 0)), UTC)
        rows.append({**entry, "updated_text": updated.strftime("%Y-%m-%d %H:%M:%S UTC")})
    return rows


FAILURE_CODES = "502 when the provider refuses, 504 when it does not answer in time"


# What each rate limit counts, in the visitor's words.
LIMITED = {"contact": "message", "prices": "price lookup", "reports": "report"}


def refusal(settings: Settings, action: str, wait_s: float) -> tuple[str, dict[str, str]]:
    """What to tell a visitor that `action`'s rate limit refused, and the Retry-After header."""
    seconds = retry_after_header(wait_s)
    window_s = settings.rate_limits()[action]
    note = (
        f"we accept one {LIMITED[action]} every {window_s:g} seconds from each visitor, and "
        f"yours came sooner (please wait {seconds} s)"
    )
    return note, {"Retry-After": seconds}


def problem_text(code: int, fallback_title: str, fallback_explanation: str) -> tuple[str, str]:
    return PROBLEMS.get(code, (fallback_title, fallback_explanation))


def template_context(site_name: str, csp_nonce: str) -> dict[str, object]:
    return {"site_name": site_name, "field_limits": FIELD_LIMITS, "csp_nonce": csp_nonce}


def new_csp_nonce() -> str:
    """A fresh nonce for each page: only the scripts and styles that carry it may run."""
    return secrets.token_urlsafe(16)


def push_origins(request_host: str, push_port: int) -> tuple[str, ...]:
    """The push service's origins as the page reaches it: this host name, the push port."""
    hostname = urlsplit(f"//{request_host}").hostname or "localhost"
    host = f"[{hostname}]" if ":" in hostname else hostname
    return tuple(f"{scheme}://{host}:{push_port}" for scheme in ("http", "ws"))


def security_headers(csp_nonce: str, connect_to: tuple[str, ...] = ()) -> dict[str, str]:
    """What every page of every app is sent with: the browser runs only the site's own scripts,
    no other site may frame it, and the address of a page does not leak to other sites."""
    policy = {
        "default-src": "'none'",
        "script-src": f"'nonce-{csp_nonce}'",
        "style-src": f"'nonce-{csp_nonce}'",
        "img-src": "'self'",
        "connect-src": " ".join(("'self'", *connect_to)),
        "form-action": "'self'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
    }
    return {
        "Content-Security-Policy": "; ".join(f"{name} {value}" for name, value in policy.items()),
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    }
