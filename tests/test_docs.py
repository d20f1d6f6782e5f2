"""The README and the compose file say what the code does."""

from __future__ import annotations

import importlib.util
import itertools
import re
import subprocess
import sys
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


def test_compose_file_follows_the_compose_specification():
    """No Docker engine runs here: the file is at least valid for one that does."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(ROOT / "docker-compose.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr


def _named_in(argv: list[str]) -> tuple[set[str], set[str]]:
    """The modules (`-m X`, `-A X`, `--worker-class X`, `X:factory`) and files a command names."""
    modules, files = set(), set()
    for flag, value in itertools.pairwise(argv):
        if flag in ("-m", "-A", "--factory"):
            modules.add(value.partition(":")[0])
        if flag == "--worker-class":  # a class: module.Class
            modules.add(value.rpartition(".")[0])
        if flag == "--config":
            files.add(value)
    modules |= {arg.partition(":")[0] for arg in argv if re.fullmatch(r"[\w.]+:\w+(\(\))?", arg)}
    return modules, files


def test_every_command_in_the_compose_file_exists_in_the_image():
    """The image is this project installed (Dockerfile): its scripts, modules and files."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    ours = {name: svc["command"] for name, svc in services.items() if svc.get("build") == "."}
    scripts = Path(sys.executable).parent

    assert set(ours) == set(services) - {"redis"}
    for name, argv in ours.items():
        modules, files = _named_in(argv)
        assert argv[0] == "python" or (scripts / argv[0]).exists(), f"{name}: no {argv[0]}"
        assert modules, f"{name}: names no module of the lab"
        for module in modules:
            assert importlib.util.find_spec(module), f"{name}: no module {module}"
        for file in files:
            assert (ROOT / file).is_file(), f"{name}: no file {file}"
