"""The async/await app: POST /contact awaits SMTP, so other requests run while it waits."""

from __future__ import annotations

import asyncio

from quart import Quart, redirect, render_template, url_for
from werkzeug.wrappers import Response

import long_report
import price_lookup as prices
from bakery_site.forms import ContactForm, PriceForm, ReportForm
from bakery_site.sent_ledger import send_once_async
from contact_email.delivery import send_unwatched_async
from contact_email.message import ContactEmail
from lab_settings import Settings
from site_glue.quart_site import (
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


def create_app(settings: Settings | None = None) -> Quart:
    settings = settings or Settings.from_env()
    app = Quart(__name__)
    configure_site(app, settings)
    # CONTACT_HAND_OFF=in-process: "why not just a task?" (README). The loop holds only weak
    # references to tasks, so the app keeps them until they finish; they die with the process.
    unwatched: set[asyncio.Task[None]] = set()

    @app.post("/contact")
    async def contact_submit() -> Response | tuple[str, int]:
        form = await bound_form(ContactForm)
        if not form.validate():
            return await render_template("contact.html", form=form), 400
        claim = await rate_limit().claim(visitor_key())
        if claim.refused:
            return await rate_limited_page(form, claim.wait_s)
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
        form = await bound_form(PriceForm)
        if not form.validate():
            return await render_template("prices.html", form=form, **prices_context()), 400
        claim = await rate_limit("prices").claim(visitor_key())
        if claim.refused:
            note, headers = too_soon("prices", claim.wait_s)
            page = await render_template(
                "prices.html", form=form, **prices_context(lookup_error=note)
            )
            return page, 429, headers
        try:
            # The event loop serves other visitors while this one waits for the rate service.
            quote = await prices.fetch_rate_async(settings, form.currency.data)  # hand-off: await
        except prices.RateLookupError as exc:
            await rate_limit("prices").release(claim)
            app.logger.warning("rate lookup failed: %s", exc.reason)
            page = await render_template(
                "prices.html", form=form, **prices_context(lookup_error=exc.reason)
            )
            return page, exc.status
        return await render_template("prices.html", form=form, **prices_context(quote)), 200

    @app.post("/reports")
    async def reports_create() -> Response | tuple[str, int]:
        form = await bound_form(ReportForm)
        if not form.validate():
            return await render_template("reports.html", form=form, **reports_context()), 400
        claim = await rate_limit("reports").claim(visitor_key())
        if claim.refused:
            note, headers = too_soon("reports", claim.wait_s)
            page = await render_template("reports.html", form=form, **reports_context(note))
            return page, 429, headers
        # The tab waits the whole time; the event loop serves everyone else meanwhile.
        return csv_download(await long_report.generate_async(settings))

    return app
