"""Use case 2 in the Celery app: the rate lookup is a task; the page learns the result by push.

POST /prices answers at once with a page that follows the task. The task publishes its updates
(`TaskUpdates`); the push service (`celery_app/push.py`) hands them to the browser.
"""

from __future__ import annotations

import uuid

import redis
from celery import Task, shared_task
from celery.exceptions import Retry
from flask import Flask, abort, current_app, redirect, render_template, session, url_for
from kombu.exceptions import OperationalError
from werkzeug.wrappers import Response

import price_lookup as prices
from bakery_site.forms import PriceForm
from celery_app.push import known_update, task_updates, watch_token
from contact_email.delivery import retry_countdown
from lab_settings import Settings
from site_glue.flask_site import (
    bound_form,
    lab_settings,
    prices_context,
    prices_page,
    rate_limit,
    valid_form_and_turn,
)

# The visitor is watching the page: retry soon (1 s, 2 s), not on the email's minutes-long scale.
RETRY_BASE_S = 1.0
# A visitor's latest lookups, kept in their session: only they may open those pages.
LOOKUPS_KEPT = 10


@shared_task(bind=True, ignore_result=True, max_retries=None)
def look_up_rate(self: Task, currency: str) -> None:
    """Whatever happens, the page gets a final update: no visitor waits for ever."""
    try:
        _look_up_rate(self, currency)
    except Retry:
        raise
    except Exception:
        task_updates().publish(
            self.request.id,
            "FAILURE",
            "Sorry, something went wrong while we looked up the "
            "rate. Please try again in a moment.",
            final=True,
            currency=currency,
        )
        raise


def _look_up_rate(task: Task, currency: str) -> None:
    settings: Settings = current_app.extensions["lab_settings"]
    task_id = task.request.id
    try:
        quote = prices.fetch_rate(settings, currency)
    except prices.RateLookupError as exc:
        if exc.transient and task.request.retries < settings.rates_api_retries:
            countdown = retry_countdown(task.request.retries, RETRY_BASE_S)
            task_updates().publish(
                task_id,
                "RETRY",
                f"The exchange-rate service failed ({exc.reason}); "
                f"asking again in {countdown:g} s...",
                currency=currency,
            )
            raise task.retry(exc=exc, countdown=countdown) from exc
        task_updates().publish(
            task_id,
            "FAILURE",
            f"Sorry, we could not get today's rate: {exc.reason}. Please try again in a moment.",
            final=True,
            currency=currency,
        )
        return
    # Data, not markup: the page sets each cell as text, so nothing pushed can become HTML.
    shown = {
        "currency": quote.currency,
        "rate": str(quote.rate),
        "date": quote.date,
        "rows": prices.price_rows(quote),
    }
    task_updates().publish(
        task_id, "SUCCESS", f"Our prices in {currency}.", final=True, currency=currency, quote=shown
    )


def prices_lookup() -> Response | tuple[str, int]:
    form, claim = valid_form_and_turn(PriceForm, "prices", prices_page)
    # The id is chosen here so that the page has something to show before the task exists.
    task_id = str(uuid.uuid4())
    currency = form.currency.data
    try:
        task_updates().publish(
            task_id, "PENDING", "Asking the exchange-rate service...", currency=currency
        )
        look_up_rate.apply_async((currency,), task_id=task_id)  # hand-off: queue it
    except (OperationalError, redis.RedisError) as exc:
        rate_limit("prices").release(claim)
        current_app.logger.error("rate lookup not queued: %r", exc)
        return prices_page(form, "our task queue is unavailable"), 503
    session["lookups"] = [*session.get("lookups", []), task_id][-LOOKUPS_KEPT:]
    return redirect(url_for("price_lookup_page", task_id=task_id), code=303)


def price_lookup_page(task_id: str) -> str:
    update = known_update(task_id)
    if task_id not in session.get("lookups", []):
        abort(404)  # another visitor's lookup: as if there were none
    form = bound_form(PriceForm)
    form.currency.data = update.get("currency")
    settings = lab_settings()
    lookup = {
        **update,
        "task_id": task_id,
        "push_port": settings.push_port,
        "watch": watch_token(settings.secret_key, task_id),
    }
    return render_template("prices.html", form=form, lookup=lookup, **prices_context())


def register_prices(app: Flask) -> None:
    """The lookup's routes, under the endpoint names the shared template uses."""
    app.add_url_rule("/prices", "prices_lookup", prices_lookup, methods=["POST"])
    app.add_url_rule("/prices/<task_id>", "price_lookup_page", price_lookup_page)
