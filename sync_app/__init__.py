"""The sync app: POST /contact talks SMTP inside the request, holding the web worker meanwhile."""

from __future__ import annotations

import smtplib
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, redirect, render_template, url_for
from werkzeug.wrappers import Response

import long_report
import price_lookup as prices
from contact_email.delivery import describe_failure, failure_status, send_email, send_unwatched
from contact_email.message import compose_contact_email
from lab_settings import Settings
from site_glue.flask_site import (
    bound_contact_form,
    bound_price_form,
    bound_report_form,
    configure_site,
    csv_download,
    prices_context,
    rate_limit,
    rate_limited_page,
    reports_context,
    too_soon,
    visitor_key,
)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    configure_site(app, settings)
    # CONTACT_HAND_OFF=in-process: "why not just a thread?" (README). A pool in this process,
    # written the way people write it: its queue has no bound and dies with the process.
    in_process = settings.contact_hand_off == "in-process"
    shortcut = ThreadPoolExecutor(settings.shortcut_pool_size) if in_process else None

    @app.post("/contact")
    def contact_submit() -> Response | tuple[str, int]:
        form = bound_contact_form()
        if not form.validate():
            return render_template("contact.html", form=form), 400
        claim = rate_limit().claim(visitor_key())
        if claim.refused:
            return rate_limited_page(form, claim.wait_s)
        message = compose_contact_email(form.submission(), settings)
        if shortcut is not None:
            shortcut.submit(send_unwatched, message, settings, app.logger)  # the shortcut
            return redirect(url_for("site.contact_thanks"))
        try:
            send_email(message, settings)  # hand-off: wait here until the provider answers
        except (OSError, smtplib.SMTPException) as exc:
            rate_limit().release(claim)
            app.logger.warning("contact email %s not sent: %r", message["Message-ID"], exc)
            page = render_template("contact.html", form=form, delivery_error=describe_failure(exc))
            return page, failure_status(exc)
        return redirect(url_for("site.contact_thanks"))

    @app.post("/prices")
    def prices_lookup() -> tuple[str, int]:
        form = bound_price_form()
        if not form.validate():
            return render_template("prices.html", form=form, **prices_context()), 400
        claim = rate_limit("prices").claim(visitor_key())
        if claim.refused:
            note, headers = too_soon("prices", claim.wait_s)
            page = render_template("prices.html", form=form, **prices_context(lookup_error=note))
            return page, 429, headers
        try:
            quote = prices.fetch_rate(settings, form.currency.data)  # hand-off: wait here
        except prices.RateLookupError as exc:
            rate_limit("prices").release(claim)
            app.logger.warning("rate lookup failed: %s", exc.reason)
            page = render_template(
                "prices.html", form=form, **prices_context(lookup_error=exc.reason)
            )
            return page, exc.status
        return render_template("prices.html", form=form, **prices_context(quote)), 200

    @app.post("/reports")
    def reports_create() -> Response | tuple[str, int]:
        form = bound_report_form()
        if not form.validate():
            return render_template("reports.html", form=form, **reports_context()), 400
        claim = rate_limit("reports").claim(visitor_key())
        if claim.refused:
            note, headers = too_soon("reports", claim.wait_s)
            return render_template("reports.html", form=form, **reports_context(note)), 429, headers
        return csv_download(long_report.generate(settings))  # the tab waits the whole time

    return app
