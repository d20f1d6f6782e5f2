"""What the shared pages say, independent of Flask or Quart: page content, limits, error texts."""

from __future__ import annotations

from datetime import UTC, datetime

from contact_form.form import EMAIL_MAX, MESSAGE_MAX, NAME_MAX

# A request body larger than this is refused with 413 before the form is parsed.
MAX_BODY_BYTES = 64 * 1024

FIELD_LIMITS = {"name": NAME_MAX, "email": EMAIL_MAX, "message": MESSAGE_MAX}

LOAVES = ["Country sourdough", "Seeded rye", "Olive fougasse", "Brioche", "Baguette tradition"]

PROBLEMS = {
    404: ("Page not found", "There is no page at this address."),
    405: ("Method not allowed", "This page cannot be used that way."),
    403: ("Not for visitors", "This page is for the site's staff."),
    408: (
        "The form took too long to arrive",
        "Your browser sent the form too slowly, so we stopped waiting; nothing was sent.",
    ),
    413: (
        "Message too large",
        f"The form sent more than {MAX_BODY_BYTES // 1024} KiB; nothing was sent.",
    ),
    429: ("Please wait a moment", "You have sent a message very recently; please try again soon."),
}


def admin_rows(raw: list[dict[str, str]]) -> list[dict[str, str]]:
    """Task-log entries as the admin page shows them: with a readable time."""
    rows = []
    for entry in raw:
        updated = datetime.fromtimestamp(float(entry.get("updated", 0)), UTC)
        rows.append({**entry, "updated_text": updated.strftime("%Y-%m-%d %H:%M:%S UTC")})
    return rows


FAILURE_CODES = "502 when the provider refuses, 504 when it does not answer in time"


def rate_limit_note(window_s: float, wait_s: str) -> str:
    return (
        f"we accept one message every {window_s:g} seconds from each visitor, and yours came "
        f"sooner (please wait {wait_s} s)"
    )


def problem_text(code: int, fallback_title: str, fallback_explanation: str) -> tuple[str, str]:
    return PROBLEMS.get(code, (fallback_title, fallback_explanation))


def template_context(site_name: str) -> dict[str, object]:
    return {"site_name": site_name, "field_limits": FIELD_LIMITS}
