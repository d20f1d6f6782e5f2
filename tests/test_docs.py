"""The README and the compose file say what the code does."""

from __future__ import annotations

from pathlib import Path

import yaml

from contact_form.settings import settings_markdown

ROOT = Path(__file__).resolve().parents[1]


def between(text: str, marker: str) -> str:
    return text.split(f"<!-- {marker}:start -->\n")[1].split(f"\n<!-- {marker}:end -->")[0]


def test_readme_settings_table_is_the_one_the_code_prints():
    readme = (ROOT / "README.md").read_text()

    assert between(readme, "settings") == settings_markdown()


def test_compose_publishes_only_what_a_browser_opens_and_only_on_loopback():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]

    published = {name: svc["ports"] for name, svc in services.items() if "ports" in svc}

    # The three web apps, and the push service the Celery app's pages connect to.
    assert set(published) == {"sync", "celery", "asyncio", "celery-push"}
    assert all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports)
