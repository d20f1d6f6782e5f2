"""The pages the Flask apps share (everything but POST /contact), and their common set-up."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

import redis
from flask import (
    Blueprint,
    Flask,
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
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.middleware.proxy_fix import ProxyFix

from bakery_site import TEMPLATES
from bakery_site.admin import admin_allowed
from bakery_site.catalogue import LOAVES
from bakery_site.forms import ContactForm, CsrfForm, PriceForm, ReportForm
from bakery_site.pages import (
    FAILURE_CODES,
    MAX_BODY_BYTES,
    admin_rows,
    new_csp_nonce,
    problem_text,
    push_origins,
    refusal,
    security_headers,
    template_context,
)
from bakery_site.rate_limit import Claim, RateLimit
from bakery_site.sent_ledger import NOT_SENT, UNSURE, Outcome, SentLedger
from lab_hand_offs import check_contact_hand_off
from lab_settings import Settings
from long_report import duration_text, filename
from price_lookup import RateQuote, price_rows

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

site = Blueprint("site", __name__, template_folder=TEMPLATES)

AnyForm = TypeVar("AnyForm", bound=CsrfForm)


def configure_site(app: Flask, settings: Settings) -> None:
    check_contact_hand_off(app.import_name, settings.contact_hand_off)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["lab_settings"] = settings
    if settings.public_key_warning:
        app.logger.warning(settings.public_key_warning)
    client = redis.Redis.from_url(settings.effective_redis_url, **settings.redis_timeouts)
    app.extensions["sent_emails"] = SentLedger(client)
    app.extensions["rate_limits"] = {
        action: RateLimit(client, window, action)
        for action, window in settings.rate_limits().items()
    }
    app.register_blueprint(site)
    app.before_request(read_body_before_deadline)
    if settings.trusted_proxies:
        app.wsgi_app = ForwardedByTrustedProxy(app.wsgi_app, settings)


class ForwardedByTrustedProxy:
    """The client is who the last TRUSTED_PROXIES proxies say it is, on connections from
    FORWARDED_ALLOW_IPS; anyone else who sends X-Forwarded-For is the connection's address."""

    def __init__(self, app: WSGIApplication, settings: Settings) -> None:
        n = settings.trusted_proxies
        self.direct, self.proxied = app, ProxyFix(app, x_for=n, x_proto=n)
        self.settings = settings

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR")
        app = self.proxied if self.settings.believes_forwarded_headers_from(peer) else self.direct
        return app(environ, start_response)


def read_body_before_deadline() -> None:
    """Read the whole request body within REQUEST_BODY_TIMEOUT_S, or answer 408; a body cut
    short or a broken chunk gets 400.

    A sync gunicorn worker serves one request at a time: a client that trickles its body a byte
    at a time would hold it, and the whole site, for as long as it likes. Quart has this limit
    built in (BODY_TIMEOUT); for Flask under gunicorn it is done here, on gunicorn's socket (and
    for the headers too by the worker class, site_glue/deadline_worker.py).
    """
    sock = request.environ.get("gunicorn.socket")
    length = request.content_length
    chunked = "chunked" in request.environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if sock is None or not (length or chunked) or (length or 0) > MAX_BODY_BYTES:
        return  # nothing to read, or Flask refuses it with 413 without reading it
    deadline = time.monotonic() + lab_settings().request_body_timeout_s
    limit = length if length else MAX_BODY_BYTES + 1
    stream = request.environ["wsgi.input"]
    body = bytearray()
    try:
        while len(body) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = stream.read(min(4096, limit - len(body)))
            if not chunk:
                break
            body += chunk
    except TimeoutError:
        abort(408)
    except ParseException:  # a broken chunked body
        abort(400)
    finally:
        sock.settimeout(None)
    if length and len(body) < length:
        abort(400)  # the client stopped sending (a half-close) before the body was complete
    # Werkzeug parses the form from here, as if it had read the socket itself.
    request.environ["wsgi.input"] = io.BytesIO(bytes(body))
    request.environ["CONTENT_LENGTH"] = str(len(body))
    request.environ.pop("HTTP_TRANSFER_ENCODING", None)


def lab_settings() -> Settings:
    return current_app.extensions["lab_settings"]


def hand_off() -> str:
    """How this app hands off slow work: `request` (waits inside it) or `background` (Celery)."""
    return current_app.extensions.get("hand_off", "request")


def rate_limit(action: str = "contact") -> RateLimit:
    return current_app.extensions["rate_limits"][action]


def sent_emails() -> SentLedger:
    return current_app.extensions["sent_emails"]


def too_soon(action: str, wait_s: float) -> tuple[str, dict[str, str]]:
    """What to tell a visitor that `action`'s limit refused, and the Retry-After header."""
    return refusal(lab_settings(), action, wait_s)


def visitor_key() -> str:
    """Who counts as one visitor for the rate limit: the client's IP address."""
    return request.remote_addr or "unknown"


def contact_answer(outcome: Outcome, form: ContactForm, claim: Claim) -> Response | tuple[str, int]:
    """The thanks page; or the form again, saying nothing was sent (the visitor's turn given
    back), or that it may have left and a resend sends nothing more (the turn kept)."""
    if outcome.delivery == NOT_SENT:
        rate_limit().release(claim)
        return contact_page(form, outcome.reason), outcome.status
    if outcome.delivery == UNSURE:
        page = render_template(
            "contact.html", form=form, unconfirmed=outcome.reason, recognised=outcome.recognised
        )
        return page, outcome.status
    return redirect(url_for("site.contact_thanks"))


def bound_form(form_class: type[AnyForm]) -> AnyForm:
    """`form_class` bound to this request's data; on a GET, a fresh form to show."""
    formdata = request.form if request.method == "POST" else None
    return form_class.bound(formdata, session, lab_settings().secret_key)


def valid_form_and_turn(
    form_class: type[AnyForm], action: str, page: Callable[[AnyForm, str], str]
) -> tuple[AnyForm, Claim]:
    """This request's form, valid, and the visitor's turn at `action`; or the request ends here
    with `page` again: 400 with the form's errors, or 429 saying when to try again.

    The form is checked first, so a form with mistakes costs the visitor no turn. The request
    ends by aborting with the page itself, which no error handler replaces."""
    form = bound_form(form_class)
    if not form.validate():
        abort(make_response(page(form, ""), 400))
    claim = rate_limit(action).claim(visitor_key())
    if claim.refused:
        note, headers = too_soon(action, claim.wait_s)
        abort(make_response(page(form, note), 429, headers))
    return form, claim


def contact_page(form: ContactForm, note: str = "") -> str:
    """The contact form, the visitor's text kept; `note`, why nothing was sent."""
    return render_template("contact.html", form=form, delivery_error=note)


@site.app_context_processor
def site_context() -> dict[str, object]:
    return template_context(lab_settings().site_name, csp_nonce())


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = new_csp_nonce()
    return g.csp_nonce


@site.after_app_request
def add_security_headers(response: Response) -> Response:
    # The Celery app's pages follow their tasks on its push service, on another port.
    push = hand_off() == "background"
    connect_to = push_origins(request.host, lab_settings().push_port) if push else ()
    response.headers.update(security_headers(csp_nonce(), connect_to))
    return response


@site.get("/")
def home() -> str:
    return render_template("home.html", loaves=LOAVES)


@site.get("/contact")
def contact_form() -> str:
    return contact_page(bound_form(ContactForm))


@site.get("/contact/thanks")
def contact_thanks() -> str:
    return render_template("thanks.html")


@site.get("/reports")
def reports() -> str:
    return reports_page(bound_form(ReportForm))


def reports_page(form: ReportForm, note: str = "") -> str:
    """The report's button and how long a report takes; `note`, why the press was refused."""
    duration = duration_text(lab_settings().report_duration_s)
    return render_template(
        "reports.html", form=form, duration=duration, hand_off=hand_off(), note=note
    )


def csv_download(text: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename()}"},
    )


@site.get("/prices")
def prices() -> str:
    return prices_page(bound_form(PriceForm))


def prices_page(form: PriceForm, note: str = "", quote: RateQuote | None = None) -> str:
    """The currency form, and our prices in that currency if known; `note`, why they are not."""
    return render_template("prices.html", form=form, **prices_context(quote, lookup_error=note))


def prices_context(quote: RateQuote | None = None, **values: object) -> dict[str, object]:
    """What the prices page shows besides the form: how this app waits, and the prices if known."""
    return {
        "delay": duration_text(lab_settings().rates_api_delay_s),
        "hand_off": hand_off(),
        "quote": quote,
        "rows": price_rows(quote) if quote else [],
        **values,
    }


@site.before_app_request
def reports_for_staff_only() -> None:
    """The accounts report lists who has not signed in for how long: every /reports address
    (the page, the form, the progress page, the download) follows the /admin/tasks rule."""
    if request.path == "/reports" or request.path.startswith("/reports/"):
        staff_only()


def staff_only() -> None:
    if not admin_allowed(request.remote_addr, _admin_token_given(), lab_settings()):
        abort(403)


@site.get("/admin/tasks")
def admin_tasks() -> str:
    staff_only()
    task_log = current_app.extensions.get("task_log")
    tasks = None if task_log is None else admin_rows(task_log.recent())
    return render_template("admin_tasks.html", tasks=tasks, failure_codes=FAILURE_CODES)


def _admin_token_given() -> str | None:
    return request.headers.get("X-Admin-Token")


@site.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@site.app_errorhandler(HTTPException)
def problem_page(exc: HTTPException) -> tuple[str, int, list[tuple[str, str]]]:
    title, explanation = problem_text(exc.code or 500, exc.name, exc.description or "")
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return render_template("problem.html", title=title, explanation=explanation), exc.code, headers


@site.app_errorhandler(redis.RedisError)
def store_unavailable(exc: redis.RedisError) -> tuple[str, int, list[tuple[str, str]]]:
    """Redis refused or stalled (each command gives up after REDIS_TIMEOUT_S): a 503 page the
    visitor can act on, never a 500 or a request that hangs."""
    current_app.logger.error("Redis failed during %s %s: %r", request.method, request.path, exc)
    return problem_page(ServiceUnavailable(retry_after=5))
