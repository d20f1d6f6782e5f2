"""The async/await app: POST /contact awaits SMTP, so other requests run while it waits."""

from __future__ import annotations

import asyncio

from quart import Quart, redirect, url_for
from werkzeug.wrappers import Response

import long_report
import price_lookup as prices
from bakery_site.forms import ContactForm, PriceForm, ReportForm
from bakery_site.sent_ledger import send_once_async
from contact_email.delivery import send_unwatched_async
from contact_email.message import ContactEmail
from lab_settings import Settings
from site_glue.quart_site import (
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


def create_app(settings: Settings | None = None) -> Quart:
    settings = settings or Settings.from_env()
    app = Quart(__name__)
    configure_site(app, settings)
    # CONTACT_HAND_OFF=in-process: "why not just a task?" (README). The loop holds only weak
    # references to tasks, so the app keeps them until they finish; they die with the process.
    unwatched: set[asyncio.Task[None]] = set()

    @app.post("/contact")
    async def contact_submit() -> Response | tuple[str, int]:
        form, claim = await valid_form_and_turn(ContactForm, "contact", contact_page)
        message = ContactEmail.new(form.submission(), settings, form.email_key()).compose(settings)
        if settings.contact_hand_off == "in-process":
            task = asyncio.create_task(send_unwatched_async(message, settings, app.logger))
            unwatched.add(task)  # the shortcut: a task of this process, nobody awaits it
            task.add_done_callback(unwatched.discard)
            return redirect(url_for("site.contact_thanks"))
        outcome = await send_once_async(message, settings, sent_emails())  # hand-off: await it
        return await contact_answer(outcome, form, claim)

    @app.post("/prices")
    async def prices_lookup() -> tuple[str, int]:
        form, claim = await valid_form_and_turn(PriceForm, "prices", prices_page)
        try:
            # The event loop serves other visitors while this one waits for the rate service.
            quote = await prices.fetch_rate_async(settings, form.currency.data)  # hand-off: await
        except prices.RateLookupError as exc:
            await rate_limit("prices").release(claim)
            app.logger.warning("rate lookup failed: %s", exc.reason)
            return await prices_page(form, exc.reason), exc.status
        return await prices_page(form, quote=quote), 200

    @app.post("/reports")
    async def reports_create() -> Response:
        await valid_form_and_turn(ReportForm, "reports", reports_page)
        # The tab waits the whole time; the event loop serves everyone else meanwhile.
        return csv_download(await long_report.generate_async(settings))

    return app
