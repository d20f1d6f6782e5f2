"""What the shared pages say, independent of Flask or Quart: page content, limits, error texts."""

from __future__ import annotations

from contact_form.form import EMAIL_MAX, MESSAGE_MAX, NAME_MAX

# A request body larger than this is refused with 413 before the form is parsed.
MAX_BODY_BYTES = 64 * 1024

FIELD_LIMITS = {"name": NAME_MAX, "email": EMAIL_MAX, "message": MESSAGE_MAX}

LOAVES = ["Country sourdough", "Seeded rye", "Olive fougasse", "Brioche", "Baguette tradition"]

PROBLEMS = {
    404: ("Page not found", "There is no page at this address."),
    405: ("Method not allowed", "This page cannot be used that way."),
    413: (
        "Message too large",
        f"The form sent more than {MAX_BODY_BYTES // 1024} KiB; nothing was sent.",
    ),
    429: ("Please wait a moment", "You have sent a message very recently; please try again soon."),
}


def problem_text(code: int, fallback_title: str, fallback_explanation: str) -> tuple[str, str]:
    return PROBLEMS.get(code, (fallback_title, fallback_explanation))


def template_context(site_name: str) -> dict[str, object]:
    return {"site_name": site_name, "field_limits": FIELD_LIMITS}
