"""The Celery app: each request only puts the slow work on a Redis queue; a worker does it.

One module per use case (`contact`, `prices`, `reports`, `schedule`: its tasks and its routes),
the email tasks' log for /admin/tasks (`task_log`), and the push of a task's updates to its page
(`push`). This module wires them: the Celery configuration, with each reliability option
explained, and the Flask app.

Celery is set up the way Flask's docs describe ("Background Tasks with Celery"): one Celery app
made from the Flask app's config, and every task run inside the Flask app context.
"""

from __future__ import annotations

import redis
from celery import Celery, Task
from flask import Flask

from celery_app.contact import SentLedger, register_contact
from celery_app.prices import register_prices
from celery_app.push import TaskUpdates
from celery_app.reports import register_reports
from celery_app.schedule import beat_schedule
from celery_app.task_log import TaskLog
from contact_email.delivery import retry_countdown
from lab_settings import Settings, SettingsError
from site_glue.flask_site import configure_site


def check_visibility_timeout(settings: Settings) -> None:
    """A task waiting for its retry is held, unacknowledged, by a worker. If the visibility
    timeout ran out first, Redis would hand the task out again and the email would go twice."""
    retries = settings.retry_max
    longest_wait = retry_countdown(retries - 1, settings.retry_base_s) if retries else 0.0
    needed = longest_wait + settings.smtp_timeout_s
    timeout = settings.celery_visibility_timeout_s
    if timeout <= needed:
        raise SettingsError(
            f"CELERY_VISIBILITY_TIMEOUT_S ({timeout} s) must be longer than the longest retry "
            f"wait plus SMTP_TIMEOUT_S ({needed:g} s)"
        )


def celery_config(settings: Settings) -> dict[str, object]:
    check_visibility_timeout(settings)
    url = settings.effective_redis_url
    return {
        "broker_url": url,
        # No result backend: every task ignores its result. What a page shows of a task goes
        # through TaskUpdates (push.py), and the email tasks' fate through TaskLog.
        "task_serializer": "json",
        # Acknowledge a task only once it has finished, and one task at a time per process, so
        # a worker that dies mid-task leaves the task on the queue for another worker.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # With Redis, an unacknowledged task goes back on the queue after this long; it must be
        # longer than any task runs or waits for its retry, or the task runs twice.
        # kombu looks for such abandoned tasks every interval x throttle seconds (100 s by
        # default); one cheap scan every 5 s makes the visibility timeout the only wait.
        "broker_transport_options": {
            "visibility_timeout": settings.celery_visibility_timeout_s,
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            **settings.redis_timeouts,
        },
        # If Redis is down, tell the visitor within a second instead of hanging the request.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "broker_connection_retry_on_startup": True,
        # A two-minute report would hold a worker process that contact emails need: reports go
        # to a queue of their own, consumed by a worker of their own (REPORT_QUEUE).
        "task_routes": {
            "celery_app.reports.generate_report": {"queue": settings.report_queue},
            # Deleted by the worker that writes the files (compose shares them with the web
            # server through the `reports` volume).
            "celery_app.reports.delete_expired_reports_now": {"queue": settings.report_queue},
        },
        # Use case 4: beat sends these on schedule; one beat process, however many web servers.
        "beat_schedule": beat_schedule(settings),
        "timezone": "UTC",
    }


def redacted_repr(arguments: tuple | list | dict) -> str:
    """What monitoring may show of a task's arguments: their kinds, and an email's Message-ID."""

    def shown(value: object) -> str:
        if isinstance(value, dict) and "message_id" in value:
            return f"<contact email {value['message_id']}>"
        return f"<{type(value).__name__}>"

    if isinstance(arguments, dict):
        return "{" + ", ".join(f"{k!r}: {shown(v)}" for k, v in arguments.items()) + "}"
    return "(" + ", ".join(shown(v) for v in arguments) + ("," if len(arguments) == 1 else "") + ")"


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

        def apply_async(
            self, args: tuple | None = None, kwargs: dict | None = None, **options: object
        ) -> object:
            # Each task message also carries a repr of its arguments for monitoring, which
            # Flower shows whoever opens it: here, visitors' names, addresses and messages.
            options.setdefault("argsrepr", redacted_repr(args or ()))
            options.setdefault("kwargsrepr", redacted_repr(kwargs or {}))
            return super().apply_async(args, kwargs, **options)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(celery_config(settings))
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    configure_site(app, settings)
    celery_init_app(app, settings)
    store = redis.Redis.from_url(settings.effective_redis_url, **settings.redis_timeouts)
    app.extensions["sent_emails"] = SentLedger(store)
    app.extensions["task_log"] = TaskLog(store)
    app.extensions["hand_off"] = "background"  # what the shared pages tell the visitor
    app.extensions["task_updates"] = TaskUpdates(store)
    register_contact(app)
    register_prices(app)
    register_reports(app)

    return app
