"""Use case 3 in the Celery app: the report is a task; its page shows the task's progress.

The page polls a small JSON status once a second rather than holding a long request open:
with one sync web worker, a request that waits would block every other visitor, which is the
very thing this lab measures.
"""

from __future__ import annotations

import time
from pathlib import Path

from celery import Task, shared_task
from celery.result import AsyncResult
from flask import Flask, abort, current_app, redirect, render_template, send_file, url_for
from werkzeug.wrappers import Response

from celery_app.updates import TASK_ID
from contact_form.flask_site import bound_report_form, lab_settings, reports_context
from contact_form.settings import Settings
from long_report import ReportBuilder, filename


def report_path(settings: Settings, task_id: str) -> Path:
    return Path(settings.data_dir) / "reports" / f"{task_id}.csv"


@shared_task(bind=True)
def generate_report(self: Task) -> dict[str, object]:
    settings: Settings = current_app.extensions["lab_settings"]
    builder = ReportBuilder(settings)
    for index in range(builder.total):
        time.sleep(builder.slice_s)
        builder.step(index)
        self.update_state(state="PROGRESS", meta={"done": index + 1, "total": builder.total})
    path = report_path(settings, self.request.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(builder.text())
    return {"done": builder.total, "total": builder.total}


def report_state(task_id: str) -> dict[str, object]:
    result = AsyncResult(task_id, app=current_app.extensions["celery"])
    state = result.state
    info = result.info if isinstance(result.info, dict) else {}
    done, total = int(info.get("done", 0)), int(info.get("total", 1)) or 1
    ready = state == "SUCCESS" and report_path(lab_settings(), task_id).exists()
    percent = 100 if ready else round(100 * done / total)
    text = {
        "PENDING": "Waiting for a worker to start the report...",
        "STARTED": "Started...",
        "PROGRESS": f"Building the report: {percent}% ({done} of {total} parts).",
        "SUCCESS": "Done: your report is ready.",
        "FAILURE": "The report failed; please try again.",
    }.get(state, state)
    return {"state": state, "percent": percent, "ready": ready, "failed": state == "FAILURE",
            "text": text}  # fmt: skip


def _known(task_id: str) -> str:
    if not TASK_ID.match(task_id):
        abort(404)
    return task_id


def reports_create() -> Response | tuple[str, int]:
    form = bound_report_form()
    if not form.validate():
        return render_template("reports.html", form=form, **reports_context()), 400
    result = generate_report.delay()  # the hand-off: the page follows the task from here
    return redirect(url_for("report_page", task_id=result.id), code=303)


def report_page(task_id: str) -> str:
    state = report_state(_known(task_id))
    return render_template(
        "report_progress.html", task_id=task_id, percent=state["percent"],
        status_text=state["text"], ready=state["ready"],
    )  # fmt: skip


def report_status(task_id: str) -> dict[str, object]:
    return report_state(_known(task_id))


def report_download(task_id: str) -> Response:
    path = report_path(lab_settings(), _known(task_id))
    if not path.exists():
        abort(404)
    return send_file(path.resolve(), mimetype="text/csv", as_attachment=True,
                     download_name=filename())  # fmt: skip


def register_reports(app: Flask) -> None:
    """The report's routes, under the same endpoint names the shared templates use."""
    app.add_url_rule("/reports", "reports_create", reports_create, methods=["POST"])
    app.add_url_rule("/reports/<task_id>", "report_page", report_page)
    app.add_url_rule("/reports/<task_id>/status", "report_status", report_status)
    app.add_url_rule("/reports/<task_id>/download", "report_download", report_download)
