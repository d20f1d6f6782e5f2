"""The pages the Quart (async/await) app shares with the others: the twin of flask_site.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio
from hypercorn.middleware import ProxyFixMiddleware
from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope
from quart import (
    Blueprint,
    Quart,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from bakery_site import TEMPLATES
from bakery_site.admin import admin_allowed
from bakery_site.catalogue import LOAVES
from bakery_site.forms import ContactForm, CsrfForm, PriceForm, ReportForm
from bakery_site.pages import (
    FAILURE_CODES,
    MAX_BODY_BYTES,
    new_csp_nonce,
    problem_text,
    refusal,
    security_headers,
    template_context,
)
from bakery_site.rate_limit import AsyncRateLimit, Claim
from bakery_site.sent_ledger import NOT_SENT, UNSURE, AsyncSentLedger, Outcome
from lab_hand_offs import check_contact_hand_off
from lab_settings import Settings
from long_report import duration_text, filename
from price_lookup import RateQuote, price_rows

site = Blueprint("site", __name__, template_folder=TEMPLATES)

AnyForm = TypeVar("AnyForm", bound=CsrfForm)


def configure_site(app: Quart, settings: Settings) -> None:
    check_contact_hand_off(app.import_name, settings.contact_hand_off)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        BODY_TIMEOUT=settings.request_body_timeout_s,  # Quart answers 408 itself
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["lab_settings"] = settings
    if settings.public_key_warning:
        app.logger.warning(settings.public_key_warning)
    client = redis.asyncio.Redis.from_url(settings.effective_redis_url, **settings.redis_timeouts)
    app.extensions["sent_emails"] = AsyncSentLedger(client)
    app.extensions["rate_limits"] = {
        action: AsyncRateLimit(client, window, action)
        for action, window in settings.rate_limits().items()
    }
    app.register_blueprint(site)
    if settings.trusted_proxies:
        app.asgi_app = ForwardedByTrustedProxy(app.asgi_app, settings)


class ForwardedByTrustedProxy:
    """The client is who the last TRUSTED_PROXIES proxies say it is, on connections from
    FORWARDED_ALLOW_IPS; anyone else who sends X-Forwarded-For is the connection's address."""

    def __init__(self, app: ASGIFramework, settings: Settings) -> None:
        n = settings.trusted_proxies
        self.direct = app
        self.proxied = ProxyFixMiddleware(app, mode="legacy", trusted_hops=n)
        self.settings = settings

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        peer = (scope.get("client") or (None,))[0]
        app = self.proxied if self.settings.believes_forwarded_headers_from(peer) else self.direct
        await app(scope, receive, send)


def lab_settings() -> Settings:
    return current_app.extensions["lab_settings"]


def rate_limit(action: str = "contact") -> AsyncRateLimit:
    return current_app.extensions["rate_limits"][action]


def sent_emails() -> AsyncSentLedger:
    return current_app.extensions["sent_emails"]


def too_soon(action: str, wait_s: float) -> tuple[str, dict[str, str]]:
    """What to tell a visitor that `action`'s limit refused, and the Retry-After header."""
    return refusal(lab_settings(), action, wait_s)


def visitor_key() -> str:
    """Who counts as one visitor for the rate limit: the client's IP address."""
    return request.remote_addr or "unknown"


async def contact_answer(
    outcome: Outcome, form: ContactForm, claim: Claim
) -> Response | tuple[str, int]:
    """The thanks page; or the form again, saying nothing was sent (the visitor's turn given
    back), or that it may have left and a resend sends nothing more (the turn kept)."""
    if outcome.delivery == NOT_SENT:
        await rate_limit().release(claim)
        return await contact_page(form, outcome.reason), outcome.status
    if outcome.delivery == UNSURE:
        page = await render_template(
            "contact.html", form=form, unconfirmed=outcome.reason, recognised=outcome.recognised
        )
        return page, outcome.status
    return redirect(url_for("site.contact_thanks"))


async def bound_form(form_class: type[AnyForm]) -> AnyForm:
    """`form_class` bound to this request's data; on a GET, a fresh form to show."""
    formdata = await request.form if request.method == "POST" else None
    return form_class.bound(formdata, session, lab_settings().secret_key)


async def valid_form_and_turn(
    form_class: type[AnyForm], action: str, page: Callable[[AnyForm, str], Awaitable[str]]
) -> tuple[AnyForm, Claim]:
    """This request's form, valid, and the visitor's turn at `action`; or the request ends here
    with `page` again: 400 with the form's errors, or 429 saying when to try again.

    The form is checked first, so a form with mistakes costs the visitor no turn. The request
    ends by aborting with the page itself, which no error handler replaces."""
    form = await bound_form(form_class)
    if not form.validate():
        abort(await make_response(await page(form, ""), 400))
    claim = await rate_limit(action).claim(visitor_key())
    if claim.refused:
        note, headers = too_soon(action, claim.wait_s)
        abort(await make_response(await page(form, note), 429, headers))
    return form, claim


async def contact_page(form: ContactForm, note: str = "") -> str:
    """The contact form, the visitor's text kept; `note`, why nothing was sent."""
    return await render_template("contact.html", form=form, delivery_error=note)


@site.app_context_processor
async def site_context() -> dict[str, object]:
    return template_context(lab_settings().site_name, csp_nonce())


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = new_csp_nonce()
    return g.csp_nonce


@site.after_app_request
async def add_security_headers(response: Response) -> Response:
    response.headers.update(security_headers(csp_nonce()))
    return response


@site.get("/")
async def home() -> str:
    return await render_template("home.html", loaves=LOAVES)


@site.get("/contact")
async def contact_form() -> str:
    return await contact_page(await bound_form(ContactForm))


@site.get("/contact/thanks")
async def contact_thanks() -> str:
    return await render_template("thanks.html")


@site.get("/reports")
async def reports() -> str:
    return await reports_page(await bound_form(ReportForm))


async def reports_page(form: ReportForm, note: str = "") -> str:
    """The report's button and how long a report takes; `note`, why the press was refused."""
    duration = duration_text(lab_settings().report_duration_s)
    return await render_template(
        "reports.html", form=form, duration=duration, hand_off="await", note=note
    )


def csv_download(text: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename()}"},
    )


@site.get("/prices")
async def prices() -> str:
    return await prices_page(await bound_form(PriceForm))


async def prices_page(form: PriceForm, note: str = "", quote: RateQuote | None = None) -> str:
    """The currency form, and our prices in that currency if known; `note`, why they are not."""
    context = prices_context(quote, lookup_error=note)
    return await render_template("prices.html", form=form, **context)


def prices_context(quote: RateQuote | None = None, **values: object) -> dict[str, object]:
    """What the prices page shows besides the form: how this app waits, and the prices if known."""
    return {
        "delay": duration_text(lab_settings().rates_api_delay_s),
        "hand_off": "await",
        "quote": quote,
        "rows": price_rows(quote) if quote else [],
        **values,
    }


@site.before_app_request
async def reports_for_staff_only() -> None:
    """The accounts report lists who has not signed in for how long: every /reports address
    follows the /admin/tasks rule."""
    if request.path == "/reports" or request.path.startswith("/reports/"):
        staff_only()


def staff_only() -> None:
    if not admin_allowed(request.remote_addr, _admin_token_given(), lab_settings()):
        abort(403)


@site.get("/admin/tasks")
async def admin_tasks() -> str:
    staff_only()
    # The async app awaits the provider in the request: it has no task log.
    return await render_template("admin_tasks.html", tasks=None, failure_codes=FAILURE_CODES)


def _admin_token_given() -> str | None:
    return request.headers.get("X-Admin-Token")


@site.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@site.app_errorhandler(HTTPException)
async def problem_page(exc: HTTPException) -> tuple[str, int, list[tuple[str, str]]]:
    title, explanation = problem_text(exc.code or 500, exc.name, exc.description or "")
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return (
        await render_template("problem.html", title=title, explanation=explanation),
        exc.code,
        headers,
    )
