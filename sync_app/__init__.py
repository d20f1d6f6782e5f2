"""The sync app: POST /contact talks SMTP inside the request, holding the web worker meanwhile."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask, redirect, render_template, url_for
from werkzeug.wrappers import Response

import long_report
import price_lookup as prices
from bakery_site.forms import ContactForm, PriceForm, ReportForm
from bakery_site.sent_ledger import send_once
from contact_email.delivery import send_unwatched
from contact_email.message import ContactEmail
from lab_settings import Settings
from site_glue.flask_site import (
    bound_form,
    configure_site,
    contact_answer,
    csv_download,
    prices_context,
    rate_limit,
    rate_limited_page,
    reports_context,
    sent_emails,
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
        form = bound_form(ContactForm)
        if not form.validate():
            return render_template("contact.html", form=form), 400
        claim = rate_limit().claim(visitor_key())
        if claim.refused:
            return rate_limited_page(form, claim.wait_s)
        message = ContactEmail.new(form.submission(), settings, form.email_key()).compose(settings)
        if shortcut is not None:
            shortcut.submit(send_unwatched, message, settings, app.logger)  # the shortcut
            return redirect(url_for("site.contact_thanks"))
        outcome = send_once(message, settings, sent_emails())  # hand-off: wait for the provider
        return contact_answer(outcome, form, claim)

    @app.post("/prices")
    def prices_lookup() -> tuple[str, int]:
        form = bound_form(PriceForm)
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
        form = bound_form(ReportForm)
        if not form.validate():
            return render_template("reports.html", form=form, **reports_context()), 400
        claim = rate_limit("reports").claim(visitor_key())
        if claim.refused:
            note, headers = too_soon("reports", claim.wait_s)
            return render_template("reports.html", form=form, **reports_context(note)), 429, headers
        return csv_download(long_report.generate(settings))  # the tab waits the whole time

    return app
