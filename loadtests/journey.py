"""The visitor's journey as plain HTTP, shared by the Locust scenario, the tests and the demo."""

from __future__ import annotations

import re

CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    """The CSRF token in the contact form's HTML; ValueError if the page has no form."""
    match = CSRF_INPUT.search(html)
    if match is None:
        raise ValueError("no CSRF token in the page: is this the contact form?")
    return match.group(1)


def contact_fields(visitor: int, sequence: int) -> dict[str, str]:
    """A valid submission, different for every visitor and message."""
    return {
        "name": f"Visitor {visitor}",
        "email": f"visitor{visitor}@example.com",
        "message": f"Message {sequence} from visitor {visitor}: do you bake rye on Sundays?",
    }
