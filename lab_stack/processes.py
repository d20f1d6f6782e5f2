"""Child processes the stack runner owns: started in their own process group, stopped by id."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path


class StartupError(RuntimeError):
    """A process died or never became ready."""


class ManagedProcess:
    """One command with a log file and a pid file, that can be started, killed and restarted."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        run_dir: Path,
        ready: Callable[[], bool],
        ready_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = run_dir / "logs" / f"{name}.log"
        self.pid_path = run_dir / "pids" / f"{name}.pid"
        self.ready = ready
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # A session of its own, so that stopping it also stops every process it forked.
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_path.write_text(str(self.popen.pid))
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while not self.ready():
            if not self.alive():
                raise StartupError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{self.name} not ready after {self.ready_timeout_s:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        """Send a signal to the whole process group (gunicorn's and Celery's children too)."""
        if self.popen is not None:
            signal_group(self.popen.pid, signum)

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(self.stop_timeout_s)
        # The leader may be gone while a child it forked lives on: clear the whole group.
        self.signal(signal.SIGKILL)
        self.popen.wait()
        self.pid_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the whole group, as a crash or the OOM killer would; no clean-up runs."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


# Where the kernel picks the local port of an outgoing connection (and of bind(0)). A port
# from that range that nobody listens on yet can be taken by any client socket (a Redis or HTTP
# connection) between the moment it is chosen and the moment the server binds it.
LINUX_EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
IANA_EPHEMERAL_START = 49152  # macOS and the BSDs
LOWEST_PORT = 10000
_handed_out: set[int] = set()
_handing_out = threading.Lock()  # runners start stacks from several threads at once


def ephemeral_start() -> int:
    try:
        return int(LINUX_EPHEMERAL_PORTS.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return IANA_EPHEMERAL_START


def port_candidates() -> range:
    """The ports `free_port` picks from. Each pytest-xdist worker (and what it starts, which
    inherits its environment) gets its own share: `_handed_out` is one process's memory, and
    two workers could otherwise both be handed a port neither had bound yet; the second server
    to bind it then fails, while the first answers in its place (seen: another stack's push
    service answered a Celery app's health check, and every POST /contact got a 404)."""
    ports = range(LOWEST_PORT, max(LOWEST_PORT + 1000, ephemeral_start()))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        return ports[int(worker[2:]) :: int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))]
    return ports


def free_port() -> int:
    """A loopback port nobody listens on, below the ephemeral range, so no outgoing connection
    takes it before the server that gets it binds it; never the same twice in one process,
    never one another pytest worker may be handed (`port_candidates`)."""
    candidates = port_candidates()
    with _handing_out:
        while True:
            port = random.choice(candidates)
            if port in _handed_out:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def sigterm_like_ctrl_c() -> None:
    """Make Ctrl-C and SIGTERM (kill, a closing terminal) unwind the program, so every
    `finally` runs and the stacks this process started are stopped.

    Ctrl-C is how these commands are meant to be stopped, so SIGINT gets Python's handler even
    when whatever started us ignored it (a shell without job control, make in the background).
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
