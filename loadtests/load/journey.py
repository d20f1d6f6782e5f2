"""The visitor's journey as plain HTTP, shared by the Locust scenario, the tests and the demo."""

from __future__ import annotations

import re
import time

import requests

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


def final_update(push_url: str, task_id: str, timeout_s: float = 60) -> dict[str, object]:
    """A Celery task's final update, followed as the page's fallback does: by long polling."""
    since, deadline = 0.0, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = requests.get(f"{push_url}/updates/{task_id}?since={since}", timeout=30)
        if answer.status_code == 200:
            update = answer.json()
            if update["final"]:
                return update
            since = update["at"]
    raise TimeoutError(f"no final update for task {task_id} within {timeout_s} s")
