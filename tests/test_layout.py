"""The layout shows the design: packages depend one way, the fakes stand alone, the twins match.

The import graph is read from the source (every `import` and `from ... import`, at any depth),
so a new edge shows up here before it shows up as a cycle at import time.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(
    p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "tests"
)
FAKES = ("slow_provider",)  # stand-ins for third parties: they import nothing of the lab


def imported_packages(package: str) -> dict[str, set[str]]:
    """For each of `package`'s modules, the lab's top-level packages it imports."""
    found = defaultdict(set)
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES and top != package:
                    found[str(path.relative_to(ROOT))].add(top)
    return found


def graph() -> dict[str, set[str]]:
    return {p: set().union(*imported_packages(p).values()) for p in PACKAGES}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle of the graph, each once (depth-first, from its smallest node)."""
    found = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                found.append([*path, start])
            elif nxt > start and nxt not in path:
                walk(start, nxt, [*path, nxt])

    for start in sorted(edges):
        walk(start, start, [start])
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_two_top_level_packages_import_each_other_even_through_others():
    assert len(PACKAGES) >= 10, PACKAGES
    assert cycles(graph()) == []


@pytest.mark.parametrize("fake", FAKES)
def test_the_fake_third_parties_import_nothing_of_the_lab(fake):
    assert dict(imported_packages(fake)) == {}


def test_the_shared_site_and_the_use_cases_know_no_web_framework_and_no_app():
    apps_and_glue = {"sync_app", "celery_app", "asyncio_app", "site_glue", "lab_stack", "loadtests"}
    for package in (
        "lab_settings",
        "bakery_site",
        "contact_email",
        "price_lookup",
        "long_report",
        "idle_accounts",
    ):
        assert graph()[package] & apps_and_glue == set(), package
        source = "\n".join(p.read_text() for p in (ROOT / package).rglob("*.py"))
        assert "import flask" not in source and "from flask" not in source, package
        assert "from quart" not in source, package


def test_settings_depend_on_nothing_of_the_lab():
    assert graph()["lab_settings"] == set()


def _routes(app) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint != "static"
    }


# What only the Celery app has: the pages that follow a task (its result is pushed to them).
CELERY_ONLY = {
    ("/prices/<task_id>", "GET"),
    ("/reports/<task_id>", "GET"),
    ("/reports/<task_id>/download", "GET"),
}


def test_the_three_apps_expose_the_same_routes_and_methods():
    from asyncio_app import create_app as asyncio_app
    from celery_app import create_app as celery_app
    from lab_settings import Settings
    from sync_app import create_app as sync_app

    settings = Settings()
    sync, celery, asyncio = (f(settings) for f in (sync_app, celery_app, asyncio_app))

    assert _routes(sync) == _routes(asyncio)
    assert _routes(celery) == _routes(sync) | CELERY_ONLY
    assert ("/contact", "POST") in _routes(sync)
