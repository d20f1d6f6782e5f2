"""The sync app: POST /contact talks SMTP inside the request, holding the web worker meanwhile."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response

import long_report
import price_lookup as prices
from bakery_site.forms import ContactForm, PriceForm, ReportForm
from bakery_site.sent_ledger import send_once
from contact_email.delivery import send_unwatched
from contact_email.message import ContactEmail
from lab_settings import Settings
from site_glue.flask_site import (
    configure_site,
    contact_answer,
    contact_page,
    csv_download,
    prices_page,
    rate_limit,
    reports_page,
    sent_emails,
    valid_form_and_turn,
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
        form, claim = valid_form_and_turn(ContactForm, "contact", contact_page)
        message = ContactEmail.new(form.submission(), settings, form.email_key()).compose(settings)
        if shortcut is not None:
            shortcut.submit(send_unwatched, message, settings, app.logger)  # the shortcut
            return redirect(url_for("site.contact_thanks"))
        outcome = send_once(message, settings, sent_emails())  # hand-off: wait for the provider
        return contact_answer(outcome, form, claim)

    @app.post("/prices")
    def prices_lookup() -> tuple[str, int]:
        form, claim = valid_form_and_turn(PriceForm, "prices", prices_page)
        try:
            quote = prices.fetch_rate(settings, form.currency.data)  # hand-off: wait here
        except prices.RateLookupError as exc:
            rate_limit("prices").release(claim)
            app.logger.warning("rate lookup failed: %s", exc.reason)
            return prices_page(form, exc.reason), exc.status
        return prices_page(form, quote=quote), 200

    @app.post("/reports")
    def reports_create() -> Response:
        valid_form_and_turn(ReportForm, "reports", reports_page)
        return csv_download(long_report.generate(settings))  # the tab waits the whole time

    return app
