"""Which Chromium the browser tests and `make doctor` use: Debian's or Ubuntu's package on PATH,
else the one Playwright downloads (macOS and elsewhere)."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_HINT = (
    "no Chromium: `apt-get install chromium` (Debian, Ubuntu) or "
    "`.venv/bin/playwright install chromium` (macOS, elsewhere)"
)


def find_chromium() -> str | None:
    """The Chromium to launch, or None where there is none."""
    on_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if on_path:
        return on_path
    with sync_playwright() as playwright:
        downloaded = playwright.chromium.executable_path
    return downloaded if Path(downloaded).exists() else None
