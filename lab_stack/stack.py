"""A whole stack for one app: Redis, the slow provider, the app under gunicorn, the Celery worker.

Everything is started as a command line and checked through its port or log, never imported:
the stack runner knows the apps only by their gunicorn target and URLs.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import redis

import lab_hand_offs
from lab_settings import Settings
from lab_stack.processes import (
    ManagedProcess,
    StartupError,
    free_port,
    signal_group,
    sigterm_like_ctrl_c,
)
from lab_stack.proxy import find_nginx, native_config
from lab_stack.redis_server import find_redis_server
from slow_provider.client import ProviderClient

PROJECT_ROOT = Path(__file__).resolve().parents[1]
APPS = tuple(lab_hand_offs.APPS)


WEB_READY_WAIT_S = 15.0
# Where a stack's nginx reaches its web app: the one address whose forwarded headers the app reads.
PROXY_TO_APP = "127.0.0.1"


def with_free_ports(settings: Settings) -> Settings:
    """The same settings on ports nobody uses, so stacks can run beside each other."""
    return settings.replace(
        web_port=free_port(),
        smtp_port=free_port(),
        provider_control_port=free_port(),
        redis_port=free_port(),
        rates_api_port=free_port(),
        push_port=free_port(),
        proxy_port=free_port(),
    )


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


class Stack:
    """Start with `with Stack("celery", settings) as stack:`; every process stops on exit."""

    def __init__(
        self,
        app: str,
        settings: Settings,
        *,
        beat: bool = False,
        web_servers: int = 1,
        proxy: bool = False,
        label: str | None = None,
    ) -> None:
        if app not in APPS:
            raise ValueError(f"app must be one of {APPS}, not {app!r}")
        self.app = app
        self.label = label or app  # what results call it: the hand-off's name
        self.settings = settings
        # DATA_DIR is relative to where the stack is started (the repository, for `make`), so an
        # installed lab writes beside its user, never into site-packages. One folder per
        # hand-off and port: two hand-offs of one app never share logs or pid files.
        self.work_dir = Path.cwd()
        folder = lab_hand_offs.folder_name(self.label)
        self.run_dir = self.work_dir / settings.data_dir / f"{folder}-{settings.web_port}"
        self.provider = ProviderClient(settings.provider_control_url)
        # The rates API has the same control endpoints as the email provider.
        self.rates_api = ProviderClient(settings.rates_api_url)
        self.processes: dict[str, ManagedProcess] = {}
        self.web_settings = self._web_settings(proxy)
        self.extra_web_urls: list[str] = []
        env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
        self._add_third_parties(env)
        if self.has_queue:
            self._add_queue(env, beat=beat)
        elif beat:
            raise ValueError("only an app with a queue (Celery) has a beat")
        self._add_web_servers({**env, **self.web_settings.to_env()}, web_servers)
        if proxy:
            self._add_proxy(env)

    @property
    def has_queue(self) -> bool:
        return lab_hand_offs.APPS[self.app].has_queue

    def _web_settings(self, proxy: bool) -> Settings:
        """The web app's own settings. Behind its nginx it listens where only this machine (and
        so the proxy) reaches it, and believes the forwarded client address from that proxy
        alone: every request then comes from the proxy's address, which must not pass for the
        client's."""
        if not proxy:
            return self.settings
        return self.settings.replace(
            web_host=PROXY_TO_APP,
            trusted_proxies=max(1, self.settings.trusted_proxies),
            forwarded_allow_ips=PROXY_TO_APP,
        )

    def _add_third_parties(self, env: dict[str, str]) -> None:
        """Redis unless REDIS_URL names one (every app's ledger of sent emails and rate-limit
        store; the Celery app's queue), the email provider and the rates API."""
        if not self.settings.redis_url:
            url = self.settings.effective_redis_url
            self._add("redis", self._redis_argv(), env, lambda: redis_answers(url))
        self._add("provider", self._provider_argv(), env, self.provider.is_up)
        self._add("rates_api", self._rates_api_argv(), env, self.rates_api.is_up)

    def _add_queue(self, env: dict[str, str], *, beat: bool) -> None:
        """The Celery workers, the push service and (with `beat`) the scheduler."""
        self._add("worker", self._worker_argv(), env, self._worker_ready, ready_timeout_s=60)
        if self.settings.report_queue != "celery":  # the long reports' own queue and worker
            self._add(
                "report_worker",
                self._worker_argv("report_worker"),
                env,
                lambda: self._worker_ready("report_worker"),
                ready_timeout_s=60,
            )
        push_health = f"{self.settings.push_url}/healthz"
        self._add("push", self._push_argv(), env, lambda: http_ok(push_health), ready_timeout_s=60)
        if beat:
            self._add("beat", self._beat_argv(), env, self._beat_ready)

    def _add_web_servers(self, web_env: dict[str, str], web_servers: int) -> None:
        # A web server restarted under load (make chaos) finds its one worker busy with the
        # visitors' POSTs, each holding it for the provider's delay: its health check waits
        # its turn in that queue, so it may take several seconds to be answered.
        self._add(
            "web",
            self._web_argv(),
            web_env,
            lambda: http_ok(f"{self.url}/healthz", timeout_s=WEB_READY_WAIT_S),
            ready_timeout_s=60,
        )
        # More web servers of the same app, as behind a load balancer (use case 4).
        for n in range(2, web_servers + 1):
            port = free_port()
            url = f"http://{self.web_settings.web_host}:{port}"
            self.extra_web_urls.append(url)
            self._add(
                f"web{n}",
                self._web_argv(),
                {**web_env, "WEB_PORT": str(port)},
                lambda url=url: http_ok(f"{url}/healthz"),
                ready_timeout_s=60,
            )

    def _add_proxy(self, env: dict[str, str]) -> None:
        """The buffering reverse proxy production puts in front (nginx): PROXY_PORT."""
        argv = [
            find_nginx(),
            "-p",
            str(self.proxy_dir),
            "-c",
            str(self.proxy_dir / "nginx.conf"),
            "-e",
            str(self.proxy_dir / "error.log"),
            "-g",
            "daemon off;",
        ]
        proxy_health = f"{self.settings.proxy_url}/healthz"
        self._add("proxy", argv, env, lambda: http_ok(proxy_health))

    def _add(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        ready: object,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self.processes[name] = ManagedProcess(
            name, argv, env, self.work_dir, self.run_dir, ready, ready_timeout_s=ready_timeout_s
        )

    @property
    def redis_dir(self) -> Path:
        return self.run_dir / "redis"

    @property
    def proxy_dir(self) -> Path:
        return self.run_dir / "proxy"

    def _redis_argv(self) -> list[str]:
        # appendonly: the queue is written to disk, so tasks survive a Redis restart; fsync once
        # a second bounds the loss on a power cut to about a second of tasks.
        return [
            find_redis_server().path,
            "--port",
            str(self.settings.redis_port),
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--dir",
            str(self.redis_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
        ]

    def _provider_argv(self) -> list[str]:
        s = self.settings
        return [
            sys.executable,
            "-m",
            "slow_provider",
            "--host",
            s.smtp_host,
            "--smtp-port",
            str(s.smtp_port),
            "--control-port",
            str(s.provider_control_port),
            "--db",
            str(self.run_dir / "provider.sqlite3"),
            "--delay",
            str(s.provider_delay_s),
            "--distribution",
            s.provider_delay_distribution,
            "--transient-failure-rate",
            str(s.provider_transient_failure_rate),
            "--seed",
            str(s.provider_seed),
        ]

    def _rates_api_argv(self) -> list[str]:
        s = self.settings
        return [
            sys.executable,
            "-m",
            "slow_provider.rates_api",
            "--host",
            s.rates_api_host,
            "--port",
            str(s.rates_api_port),
            "--delay",
            str(s.rates_api_delay_s),
        ]

    def _push_argv(self) -> list[str]:
        s = self.settings
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: then any local
        # client could name a new address per connection and take every per-client slot.
        proxy_headers = (
            ["--proxy-headers", "--forwarded-allow-ips", s.forwarded_allow_ips]
            if s.trusted_proxies
            else ["--no-proxy-headers"]
        )
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "celery_app.push:create_push_app",
            "--host",
            s.web_host,
            "--port",
            str(s.push_port),
            "--ws",
            "wsproto",
            # The guard's WEB_MAX_CONNECTIONS is this process's one connection budget: no
            # --limit-concurrency, which counts half-sent heads too and, set below that budget,
            # refuses everyone with 503 before the guard evicts the longest-waiting one.
            "--http",
            "site_glue.guarded_uvicorn:GuardedH11Protocol",
            "--ws-max-size",
            "4096",
            *proxy_headers,
            "--no-access-log",
            "--log-level",
            "warning",
        ]

    def _worker_argv(self, name: str = "worker") -> list[str]:
        s = self.settings
        queue, pool, concurrency = (
            (s.report_queue, "prefork", s.report_concurrency)
            if name == "report_worker"
            else ("celery", s.celery_pool, s.celery_concurrency)
        )
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app.worker",
            "worker",
            "--queues",
            queue,
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"lab-{name}-{s.web_port}@%h",
        ]

    def _beat_argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app.worker",
            "beat",
            "--schedule",
            str(self.run_dir / "beat-schedule"),
            "--loglevel",
            "INFO",
        ]

    def _beat_ready(self) -> bool:
        beat = self.processes["beat"]
        return beat.log_path.exists() and "beat: Starting" in beat.log_path.read_text(
            errors="replace"
        )

    def _web_argv(self) -> list[str]:
        app = lab_hand_offs.APPS[self.app]
        own_worker = ["--worker-class", app.worker_class] if app.worker_class else []
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:lab_stack.gunicorn_conf",
            *own_worker,
            app.gunicorn_target,
        ]

    def _worker_ready(self, name: str = "worker") -> bool:
        worker = self.processes[name]
        return worker.log_path.exists() and " ready." in worker.log_path.read_text(errors="replace")

    # Life cycle

    def start(self) -> Stack:
        """Clear what an earlier stack on these ports left in `run_dir`, then start everything.

        Only here: a Stack built to be described (its processes, its URLs) touches no file, so
        building one beside a running stack of the same app and port harms nothing."""
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if "redis" in self.processes:
            self.redis_dir.mkdir(parents=True)
        if "proxy" in self.processes:
            self.proxy_dir.mkdir(parents=True)
            config = native_config(self.proxy_dir, self.settings, self.web_settings)
            (self.proxy_dir / "nginx.conf").write_text(config)
        try:
            for process in self.processes.values():
                process.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def restart(self, name: str) -> None:
        process = self.processes[name]
        process.stop()
        if name in ("worker", "report_worker", "beat"):
            process.log_path.unlink(missing_ok=True)  # readiness is read from a fresh log
        process.start()

    def dead(self) -> list[str]:
        return [name for name, process in self.processes.items() if not process.alive()]

    @property
    def url(self) -> str:
        """The web app's own address (behind a proxy: where the proxy reaches it)."""
        return self.web_settings.web_url

    def describe(self) -> str:
        lines = [
            f"{self.app} app stack (web: {self.settings.web_workers} worker(s) x "
            f"{self.settings.web_threads} thread(s)):",
            f"  site      {self.url}/",
            *(
                [f"  proxy     {self.settings.proxy_url}/ (nginx, in front of the site)"]
                if "proxy" in self.processes
                else []
            ),
            f"  provider  {self.settings.provider_smtp_url} "
            f"(control {self.settings.provider_control_url}/stats)",
            f"  rates API {self.settings.rates_api_url}/v1/rates?symbols=USD "
            f"(control {self.settings.rates_api_url}/stats)",
        ]
        if self.has_queue:
            lines.append(f"  push      {self.settings.push_url}/updates/<task id>")
        lines.append(f"  redis     {self.settings.effective_redis_url}")
        lines.append(f"  logs      {self.run_dir / 'logs'}")
        return "\n".join(lines)


def open_stack(name: str, settings: Settings, **stack_options: object) -> Stack:
    """The stack of a registered hand-off: its app, with the settings that make it that
    hand-off over `settings`; `stack.label` is the hand-off's name."""
    hand_off = lab_hand_offs.hand_off(name)
    return Stack(hand_off.app, settings.replace(**hand_off.settings), label=name, **stack_options)


def run_until_stopped(stack: Stack, start: Callable[[], str], stopped: str) -> int:
    """Start with `start()` (it returns what to show once everything is up), keep running until
    Ctrl-C, SIGTERM or a process dies, then stop every process. Returns the exit status."""
    sigterm_like_ctrl_c()
    try:
        print(start(), flush=True)
        while not stack.dead():
            time.sleep(0.5)
        print(f"stopped unexpectedly: {', '.join(stack.dead())}; see the logs", file=sys.stderr)
        return 1
    except StartupError as exc:
        print(f"could not start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        print(stopped, flush=True)


def stop_leftovers(data_dir: Path) -> list[str]:
    """Stop the processes of stacks whose runner died without cleaning up, from their pid files."""
    stopped = []
    for pid_file in sorted(data_dir.rglob("pids/*.pid")):  # var/*, var/bench/*, var/test/*
        pgid = int(pid_file.read_text())
        signal_group(pgid, signal.SIGKILL)
        pid_file.unlink()
        stopped.append(f"{pid_file.parent.parent.name}/{pid_file.stem} (pid {pgid})")
    return stopped


__all__ = [
    "APPS",
    "Stack",
    "StartupError",
    "run_until_stopped",
    "stop_leftovers",
    "with_free_ports",
]
