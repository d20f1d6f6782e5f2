"""The async/await app: POST /contact awaits SMTP, so other requests run while it waits."""

from __future__ import annotations

import asyncio

import aiosmtplib
from quart import Quart, redirect, render_template, url_for
from werkzeug.wrappers import Response

import long_report
import price_lookup as prices
from contact_email.delivery import (
    describe_failure,
    failure_status,
    send_email_async,
    send_unwatched_async,
)
from contact_email.message import compose_contact_email
from lab_settings import Settings
from site_glue.quart_site import (
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


def create_app(settings: Settings | None = None) -> Quart:
    settings = settings or Settings.from_env()
    app = Quart(__name__)
    configure_site(app, settings)
    # CONTACT_HAND_OFF=in-process: "why not just a task?" (README). The loop holds only weak
    # references to tasks, so the app keeps them until they finish; they die with the process.
    unwatched: set[asyncio.Task[None]] = set()

    @app.post("/contact")
    async def contact_submit() -> Response | tuple[str, int]:
        form = await bound_contact_form()
        if not form.validate():
            return await render_template("contact.html", form=form), 400
        claim = await rate_limit().claim(visitor_key())
        if claim.refused:
            return await rate_limited_page(form, claim.wait_s)
        message = compose_contact_email(form.submission(), settings)
        if settings.contact_hand_off == "in-process":
            task = asyncio.create_task(send_unwatched_async(message, settings, app.logger))
            unwatched.add(task)  # the shortcut: a task of this process, nobody awaits it
            task.add_done_callback(unwatched.discard)
            return redirect(url_for("site.contact_thanks"))
        try:
            await send_email_async(message, settings)  # hand-off: await the provider's answer
        except (OSError, aiosmtplib.SMTPException) as exc:
            await rate_limit().release(claim)
            app.logger.warning("contact email %s not sent: %r", message["Message-ID"], exc)
            page = await render_template(
                "contact.html", form=form, delivery_error=describe_failure(exc)
            )
            return page, failure_status(exc)
        return redirect(url_for("site.contact_thanks"))

    @app.post("/prices")
    async def prices_lookup() -> tuple[str, int]:
        form = await bound_price_form()
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
        form = await bound_report_form()
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
