"""The reference's settings table, rewritten from `lab_settings` (every field's variable, default
and documentation), so that a new or changed setting reaches the page by a command.

    python -m loadtests.publishing.settings_page
"""

from __future__ import annotations

from lab_settings import settings_markdown
from loadtests.publishing.records import update_section


def main() -> int:
    update_section(settings_markdown() + "\n", marker="settings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
