"""The lab's settings: read from the environment once, in this module only, then passed down.

Every process of a stack (web app, Celery worker, provider, load test) gets its settings from
the same environment variables; `Settings.to_env()` writes them back for child processes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit, urlunsplit

DEVELOPMENT_SECRET_KEY = "dev-only-not-secret"
# Signing keys shorter than this are guessable offline from one signed cookie.
MIN_SECRET_KEY_LENGTH = 32


class SettingsError(ValueError):
    """A setting is missing or malformed."""


def _env(name: str, *, doc: str, default: object, secret: bool = False) -> object:
    """A dataclass field backed by environment variable `name`, with its documentation.

    A secret one is never written into a record of a run (`Settings.public()`).
    """
    return field(default=default, metadata={"env": name, "doc": doc, "secret": secret})


def _without_password(url: str) -> str:
    """redis://user:password@host/0 -> redis://user:***@host/0; a URL without one unchanged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass(frozen=True)
class Settings:
    # The site and its email
    lab_env: str = _env(
        "LAB_ENV",
        default="development",
        doc="`development` allows the built-in secret key; anything else requires a SECRET_KEY of "
        "32 characters or more",
    )
    secret_key: str = _env(
        "SECRET_KEY",
        secret=True,
        default=DEVELOPMENT_SECRET_KEY,
        doc="signs the session cookie (which carries the CSRF token), each contact form's send key "
        "and each task page's watch token",
    )
    site_name: str = _env("SITE_NAME", default="Offload Lab Bakery", doc="shown on every page")
    site_email: str = _env(
        "SITE_EMAIL", default="website@lab.example", doc="From: address of the contact email"
    )
    owner_email: str = _env(
        "OWNER_EMAIL",
        default="owner@lab.example",
        doc="To: address of the contact email (the site owner)",
    )

    # The email provider, as the apps see it
    smtp_host: str = _env("SMTP_HOST", default="127.0.0.1", doc="email provider host")
    smtp_port: int = _env("SMTP_PORT", default=8025, doc="email provider SMTP port")
    smtp_timeout_s: float = _env(
        "SMTP_TIMEOUT_S",
        default=30.0,
        doc="give up on the provider after this many seconds, for the whole send (shorter than "
        "WEB_TIMEOUT_S)",
    )

    # The slow provider itself (started by the stack runner)
    provider_control_port: int = _env(
        "PROVIDER_CONTROL_PORT",
        default=8026,
        doc="HTTP port to read the provider's log and change its settings",
    )
    provider_delay_s: float = _env(
        "PROVIDER_DELAY_S", default=2.0, doc="seconds the provider waits before answering DATA"
    )
    provider_delay_distribution: str = _env(
        "PROVIDER_DELAY_DISTRIBUTION",
        default="fixed",
        doc="`fixed`, `uniform` (0 to 2x the delay) or `exponential` (mean = the delay)",
    )
    provider_transient_failure_rate: float = _env(
        "PROVIDER_TRANSIENT_FAILURE_RATE",
        default=0.0,
        doc="fraction of messages answered with 451 (try again later)",
    )
    provider_seed: int = _env("PROVIDER_SEED", default=1, doc="seed of the provider's random draws")

    # The third-party API (use case 2): a slow fake exchange-rate service
    rates_api_host: str = _env("RATES_API_HOST", default="127.0.0.1", doc="rates API host")
    rates_api_port: int = _env(
        "RATES_API_PORT", default=8027, doc="rates API port (its control endpoints too)"
    )
    rates_api_delay_s: float = _env(
        "RATES_API_DELAY_S", default=2.0, doc="seconds the rates API takes to answer"
    )
    rates_api_timeout_s: float = _env(
        "RATES_API_TIMEOUT_S", default=10.0, doc="give up on the rates API after this many seconds"
    )
    rates_api_retries: int = _env(
        "RATES_API_RETRIES",
        default=2,
        doc="the Celery task retries a failed rate lookup this often (1 s, then 2 s later)",
    )
    push_port: int = _env(
        "PUSH_PORT",
        default=8010,
        doc="port of the Celery app's push service (websocket and long polling), on WEB_HOST",
    )
    push_max_connections: int = _env(
        "PUSH_MAX_CONNECTIONS",
        default=200,
        doc="the push service refuses (503) connections beyond this many at once; each open "
        "one also holds a Redis connection",
    )
    push_max_per_client: int = _env(
        "PUSH_MAX_PER_CLIENT",
        default=20,
        doc="of those, at most this many from one client address, so one client cannot take "
        "every slot (behind a proxy every client has the proxy's address: raise it there)",
    )
    push_max_connection_s: float = _env(
        "PUSH_MAX_CONNECTION_S",
        default=300.0,
        doc="the push service closes a websocket after this long (the page goes on by long "
        "polling)",
    )

    # Redis and Celery
    redis_url: str = _env(
        "REDIS_URL",
        default="",
        doc="an existing Redis; empty starts the embedded redis-server on REDIS_PORT, in every "
        "app's stack (each keeps its ledger of sent emails there)",
    )
    redis_port: int = _env("REDIS_PORT", default=6390, doc="port of the embedded redis-server")
    redis_timeout_s: float = _env(
        "REDIS_TIMEOUT_S",
        default=0.5,
        doc="every Redis command of the apps (queue, rate limit, sent-email ledger, task log, "
        "push) gives up after this long: a stalled Redis gets the visitor an error page, not a "
        "hung request",
    )
    celery_concurrency: int = _env(
        "CELERY_CONCURRENCY",
        default=4,
        doc="emails the Celery worker sends at once: processes (prefork), threads or greenlets",
    )
    celery_pool: str = _env(
        "CELERY_POOL",
        default="prefork",
        doc="the email worker's pool: prefork (processes), threads, or gevent (greenlets)",
    )
    celery_visibility_timeout_s: int = _env(
        "CELERY_VISIBILITY_TIMEOUT_S",
        default=3600,
        doc="an unacknowledged task is handed out again after this long (worker died)",
    )
    retry_base_s: float = _env(
        "RETRY_BASE_S", default=4.0, doc="first retry delay; doubles each try (4, 8, 16, 32, 64 s)"
    )
    retry_max: int = _env("RETRY_MAX", default=5, doc="retries before a task is marked failed")
    retry_jitter: bool = _env(
        "RETRY_JITTER", default=False, doc="randomise retry delays (spreads retries of many tasks)"
    )

    # Abuse control: the same rule in all three apps
    rate_limit_s: float = _env(
        "RATE_LIMIT_S",
        default=10.0,
        doc="one contact email per visitor (client IP) per this many seconds, kept in Redis; "
        "0 turns the limit off (the benchmark does: all its visitors share one IP)",
    )
    prices_rate_limit_s: float = _env(
        "PRICES_RATE_LIMIT_S",
        default=2.0,
        doc="one price lookup per visitor per this many seconds (each one calls the rates API); "
        "0: off",
    )
    report_rate_limit_s: float = _env(
        "REPORT_RATE_LIMIT_S",
        default=60.0,
        doc="one long report per visitor per this many seconds (each one holds a worker); 0: off",
    )

    admin_token: str = _env(
        "ADMIN_TOKEN",
        secret=True,
        default="",
        doc="opens /admin/tasks from anywhere (header X-Admin-Token only); empty: no token",
    )
    admin_loopback: bool = _env(
        "ADMIN_LOOPBACK",
        default=True,
        doc="let requests from this machine (127.0.0.1 or ::1; behind a trusted proxy, the client "
        "address it forwards) open /admin/tasks and /reports without the token",
    )

    # The web tier: identical for all three apps
    web_host: str = _env("WEB_HOST", default="127.0.0.1", doc="address the web app listens on")
    web_port: int = _env("WEB_PORT", default=8000, doc="port the web app listens on")
    web_max_connections: int = _env(
        "WEB_MAX_CONNECTIONS",
        default=1000,
        doc="connections one async web process (the async app's, the push service) holds at "
        "once; more are closed at once, and the process's file limit is raised to fit",
    )
    proxy_port: int = _env(
        "PROXY_PORT",
        default=8080,
        doc="port of the buffering reverse proxy (nginx) in front of the web app, when a stack "
        "starts one (`make up PROXY=1`, the proxy tests)",
    )
    web_workers: int = _env("WEB_CONCURRENCY", default=1, doc="gunicorn worker processes")
    web_threads: int = _env(
        "WEB_THREADS", default=1, doc="threads per gunicorn worker (sync and Celery apps)"
    )
    web_worker_class: str = _env(
        "WEB_WORKER_CLASS",
        default="sync",
        doc="gunicorn's worker for the sync and Celery apps: `sync` (one request at a time per "
        "thread) or `gevent` (greenlets: blocking calls such as SMTP yield to other requests; "
        '"why not just gevent?"); the async app always runs uvicorn\'s',
    )
    contact_hand_off: str = _env(
        "CONTACT_HAND_OFF",
        default="request",
        doc="how the app sends the contact email: `request` (inside the request, waiting for the "
        "provider; the Celery app always queues) or `in-process`, the tempting shortcut: a "
        "thread pool in the sync app, an un-awaited asyncio task in the async app (no queue, no "
        "retries); an app refuses a value that no hand-off of `lab_hand_offs` runs it with",
    )
    shortcut_threads: int = _env(
        "SHORTCUT_THREADS",
        default=0,
        doc="threads of the sync app's in-process shortcut (CONTACT_HAND_OFF=in-process); 0: "
        "`ThreadPoolExecutor()`'s own default, min(32, CPU cores + 4), so it depends on the "
        "machine (each run records the number it used)",
    )
    request_body_timeout_s: float = _env(
        "REQUEST_BODY_TIMEOUT_S",
        default=10.0,
        doc="a client that takes longer to send its request (headers and body) is cut off "
        "(408 while the app reads the body), freeing the worker",
    )
    web_timeout_s: int = _env(
        "WEB_TIMEOUT_S", default=180, doc="gunicorn kills a worker stuck on one request this long"
    )
    trusted_proxies: int = _env(
        "TRUSTED_PROXIES",
        default=0,
        doc="reverse proxies in front of the apps whose X-Forwarded-For/-Proto are believed "
        "(0: nobody's; the client address is the connection's); a stack started with its nginx "
        "sets 1",
    )
    forwarded_allow_ips: str = _env(
        "FORWARDED_ALLOW_IPS",
        default="127.0.0.1",
        doc="addresses or networks (comma-separated) of those proxies: a connection from "
        "anywhere else has its X-Forwarded-For/-Proto ignored, in the apps and the push service",
    )

    # Scheduled work (use case 4)
    accounts_db: str = _env(
        "ACCOUNTS_DB",
        default="",
        doc="SQLite file of the accounts the nightly job reminds "
        "(empty: accounts.sqlite3 in LAB_DATA_DIR)",
    )
    report_duration_s: float = _env(
        "REPORT_DURATION_S",
        default=120.0,
        doc="how long the long report (use case 3) takes to build",
    )
    report_work: str = _env(
        "REPORT_WORK",
        default="wait",
        doc="what each slice of the long report does: `wait` (a query or an export elsewhere) or "
        "`compute` (Python on this CPU, holding the GIL: where async/await stops helping)",
    )
    report_queue: str = _env(
        "REPORT_QUEUE",
        default="reports",
        doc="the Celery queue of the long reports, with a worker of its own so contact emails "
        "never wait behind them; `celery` shares the emails' queue and worker (to compare)",
    )
    report_concurrency: int = _env(
        "REPORT_CONCURRENCY", default=2, doc="worker processes of the reports' own queue"
    )
    report_keep_s: float = _env(
        "REPORT_KEEP_S",
        default=24 * 3600.0,
        doc="a finished report file is deleted after this long (the Celery app keeps them)",
    )
    beat_interval_s: float = _env(
        "BEAT_INTERVAL_S",
        default=0.0,
        doc="0: beat runs the jobs on their crontabs; > 0: the idle-account job every this many "
        "seconds (demos and tests)",
    )
    cron_in_web_s: float = _env(
        "CRON_IN_WEB_S",
        default=0.0,
        doc="> 0: every web server also runs the idle-account job this often, like cron in each "
        "container (the anti-pattern `make run-once` measures); 0: off",
    )

    # Where the lab keeps its runtime files (Redis data, provider log, pid files)
    data_dir: str = _env("LAB_DATA_DIR", default="var", doc="folder for runtime data")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is not None:
                values[f.name] = _parse(f.metadata["env"], raw, type(f.default))
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.lab_env != "development" and (
            self.secret_key == DEVELOPMENT_SECRET_KEY
            or len(self.secret_key.strip()) < MIN_SECRET_KEY_LENGTH
        ):
            raise SettingsError(
                f"SECRET_KEY must be set when LAB_ENV={self.lab_env!r}, at least "
                f"{MIN_SECRET_KEY_LENGTH} characters (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))' makes one)"
            )
        if self.provider_delay_distribution not in ("fixed", "uniform", "exponential"):
            raise SettingsError("PROVIDER_DELAY_DISTRIBUTION must be fixed, uniform or exponential")
        if self.web_worker_class not in ("sync", "gevent"):
            raise SettingsError("WEB_WORKER_CLASS must be sync or gevent")
        if self.report_work not in ("wait", "compute"):
            raise SettingsError("REPORT_WORK must be wait or compute")
        if self.celery_pool not in ("prefork", "threads", "gevent"):
            raise SettingsError("CELERY_POOL must be prefork, threads or gevent")
        if self.shortcut_threads < 0:
            raise SettingsError("SHORTCUT_THREADS must be >= 0")
        if self.trusted_proxies < 0:
            raise SettingsError("TRUSTED_PROXIES must be >= 0")
        try:
            _networks(self.forwarded_allow_ips)
        except ValueError as exc:
            raise SettingsError(f"FORWARDED_ALLOW_IPS: {exc}") from exc
        if self.smtp_timeout_s >= self.web_timeout_s:
            raise SettingsError(
                "SMTP_TIMEOUT_S must be shorter than WEB_TIMEOUT_S: gunicorn would kill a worker "
                "waiting for the provider, mid-send"
            )
        if self.rates_api_retries < 0:
            raise SettingsError("RATES_API_RETRIES must be >= 0")
        if self.redis_timeout_s <= 0:
            raise SettingsError("REDIS_TIMEOUT_S must be > 0")
        if self.web_workers < 1 or self.web_threads < 1 or self.celery_concurrency < 1:
            raise SettingsError("WEB_CONCURRENCY, WEB_THREADS and CELERY_CONCURRENCY must be >= 1")

    @property
    def public_key_warning(self) -> str | None:
        """What to say when the sessions are signed with the built-in key, None otherwise."""
        if self.secret_key != DEVELOPMENT_SECRET_KEY:
            return None
        return (
            "SECRET_KEY is the built-in development key (LAB_ENV=development, the default): "
            "anyone can forge this site's sessions; set LAB_ENV=production and a SECRET_KEY "
            "before anyone else can reach it"
        )

    def replace(self, **changes: object) -> Settings:
        settings = dataclasses.replace(self, **changes)
        settings.check()
        return settings

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        return {f.metadata["env"]: _format(getattr(self, f.name)) for f in fields(self)}

    def public(self) -> dict[str, object]:
        """Every setting but the secrets, for the record of a run; no password in REDIS_URL."""
        public = {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata["secret"]}
        public["redis_url"] = _without_password(self.redis_url)
        return public

    @property
    def provider_smtp_url(self) -> str:
        return f"smtp://{self.smtp_host}:{self.smtp_port}"

    @property
    def provider_control_url(self) -> str:
        return f"http://{self.smtp_host}:{self.provider_control_port}"

    @property
    def rates_api_url(self) -> str:
        return f"http://{self.rates_api_host}:{self.rates_api_port}"

    @property
    def push_url(self) -> str:
        return f"http://{self.web_host}:{self.push_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    @property
    def shortcut_pool_size(self) -> int:
        """The shortcut's threads: SHORTCUT_THREADS, or what `ThreadPoolExecutor()` picks here."""
        return self.shortcut_threads or min(32, (os.cpu_count() or 1) + 4)

    @property
    def proxy_url(self) -> str:
        return f"http://{self.web_host}:{self.proxy_port}"

    @property
    def accounts_db_path(self) -> str:
        return self.accounts_db or os.path.join(self.data_dir, "accounts.sqlite3")

    def rate_limits(self) -> dict[str, float]:
        """Each limited action's window in seconds (0: not limited); one Redis bucket each."""
        return {
            "contact": self.rate_limit_s,
            "prices": self.prices_rate_limit_s,
            "reports": self.report_rate_limit_s,
        }

    def believes_forwarded_headers_from(self, peer: str | None) -> bool:
        """Whether a connection from `peer` may say who the client is (X-Forwarded-For): only
        one from a trusted proxy, and only when TRUSTED_PROXIES is set."""
        if not self.trusted_proxies or not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in _networks(self.forwarded_allow_ips))

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def redis_timeouts(self) -> dict[str, float]:
        """The socket timeouts of every Redis client of the apps (redis-py's and kombu's names).

        Without them a Redis that stops answering but keeps its connections open (a stopped
        process, a failover, a dropped route) holds every request that touches it until
        gunicorn kills the worker; a refused connection alone fails fast."""
        return {
            "socket_timeout": self.redis_timeout_s,
            "socket_connect_timeout": self.redis_timeout_s,
        }


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: the README's settings table."""
    return [(f.metadata["env"], _format(f.default), f.metadata["doc"]) for f in fields(Settings)]


def _networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """ "127.0.0.1, 10.0.0.0/8" -> the two networks; ValueError for anything else."""
    return [
        ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip()
    ]


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        if kind is bool:
            if raw.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
                raise ValueError(raw)
            return raw.strip().lower() in ("1", "true", "yes", "on")
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name}: cannot read {raw!r} as {kind.__name__}") from exc


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings_markdown() -> str:
    """The settings table in Markdown, for the README: `python -m lab_settings`."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    rows += [f"| `{name}` | `{default}` | {doc} |" for name, default, doc in settings_table()]
    return "\n".join(rows)
