"""Use case 3 in the Celery app: the report is a task; its page shows the task's progress.

The task publishes its progress as task updates (celery_app/push.py), and the push service
hands them to the page, as for use case 2; the page itself answers at once, so a report that
takes two minutes holds no web worker.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import redis
from celery import Task, shared_task
from flask import Flask, abort, current_app, redirect, render_template, send_file, url_for
from kombu.exceptions import OperationalError
from werkzeug.wrappers import Response

from bakery_site.forms import ReportForm
from celery_app.push import known_update, task_updates, watch_token
from lab_settings import Settings
from long_report import ReportBuilder, filename
from site_glue.flask_site import (
    lab_settings,
    rate_limit,
    reports_page,
    valid_form_and_turn,
)


def reports_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "reports"


def report_path(settings: Settings, task_id: str) -> Path:
    return reports_dir(settings) / f"{task_id}.csv"


def expired(path: Path, settings: Settings) -> bool:
    return time.time() - path.stat().st_mtime > settings.report_keep_s


def delete_expired_reports(settings: Settings) -> None:
    """Reports hold data about people: none is kept longer than REPORT_KEEP_S."""
    for path in reports_dir(settings).glob("*.csv"):
        if expired(path, settings):
            path.unlink(missing_ok=True)


@shared_task(ignore_result=True)
def delete_expired_reports_now() -> None:
    """Beat sends this every hour (to the reports' own worker, which holds the files), so an
    expired report goes even if nobody makes or downloads another."""
    delete_expired_reports(current_app.extensions["lab_settings"])


def write_private(path: Path, text: str) -> None:
    """Only the lab's own user may read a report (0600, in a 0700 folder): it lists accounts."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)


def publish_progress(task_id: str, done: int, total: int) -> None:
    percent = round(100 * done / total)
    text = f"Building the report: {percent}% ({done} of {total} parts)."
    task_updates().publish(task_id, "PROGRESS", text, percent=percent, ready=False)


@shared_task(bind=True, ignore_result=True)
def generate_report(self: Task) -> None:
    settings: Settings = current_app.extensions["lab_settings"]
    task_id = self.request.id
    try:
        builder = ReportBuilder(settings)
        for index in range(builder.total):
            builder.work()
            builder.step(index)
            publish_progress(task_id, index + 1, builder.total)
        write_private(report_path(settings, task_id), builder.text())
    except Exception:
        task_updates().publish(
            task_id,
            "FAILURE",
            "The report failed; please try again.",
            final=True,
            percent=0,
            ready=False,
        )
        raise
    task_updates().publish(
        task_id, "SUCCESS", "Done: your report is ready.", final=True, percent=100, ready=True
    )


def reports_create() -> Response:
    _, claim = valid_form_and_turn(ReportForm, "reports", reports_page)
    delete_expired_reports(lab_settings())
    # The id is chosen here so that the page has something to show before the task exists.
    task_id = str(uuid.uuid4())
    try:
        task_updates().publish(
            task_id,
            "PENDING",
            "Waiting for a worker to start the report...",
            percent=0,
            ready=False,
        )
        generate_report.apply_async(task_id=task_id)  # hand-off: the page follows the task
    except (OperationalError, redis.RedisError) as exc:
        rate_limit("reports").release(claim)
        current_app.logger.error("report not queued: %r", exc)
        abort(503)
    return redirect(url_for("report_page", task_id=task_id), code=303)


def report_page(task_id: str) -> str:
    settings = lab_settings()
    return render_template(
        "report_progress.html",
        task_id=task_id,
        update=known_update(task_id),
        push_port=settings.push_port,
        watch=watch_token(settings.secret_key, task_id),
    )


def report_download(task_id: str) -> Response:
    known_update(task_id)
    path = report_path(lab_settings(), task_id)
    if not path.exists():
        abort(404)
    if expired(path, lab_settings()):
        path.unlink(missing_ok=True)
        abort(410)  # it existed, and is gone for good
    return send_file(
        path.resolve(), mimetype="text/csv", as_attachment=True, download_name=filename()
    )


def register_reports(app: Flask) -> None:
    """The report's routes, under the same endpoint names the shared templates use."""
    app.add_url_rule("/reports", "reports_create", reports_create, methods=["POST"])
    app.add_url_rule("/reports/<task_id>", "report_page", report_page)
    app.add_url_rule("/reports/<task_id>/download", "report_download", report_download)
