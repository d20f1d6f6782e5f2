"""The pages the Quart (async/await) app shares with the others: the twin of flask_site.py."""

from __future__ import annotations

from quart import Blueprint, Quart, current_app, render_template, request, session
from werkzeug.exceptions import HTTPException

from contact_form.form import ContactForm, build_contact_form
from contact_form.settings import Settings
from contact_form.site import LOAVES, MAX_BODY_BYTES, problem_text, template_context

site = Blueprint("site", __name__, template_folder="templates")


def configure_site(app: Quart, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["lab_settings"] = settings
    app.register_blueprint(site)


def lab_settings() -> Settings:
    return current_app.extensions["lab_settings"]


async def bound_contact_form() -> ContactForm:
    formdata = await request.form if request.method == "POST" else None
    return build_contact_form(formdata, session, lab_settings().secret_key)


@site.app_context_processor
async def site_context() -> dict[str, object]:
    return template_context(lab_settings().site_name)


@site.get("/")
async def home() -> str:
    return await render_template("home.html", loaves=LOAVES)


@site.get("/contact")
async def contact_form() -> str:
    return await render_template("contact.html", form=await bound_contact_form())


@site.get("/contact/thanks")
async def contact_thanks() -> str:
    return await render_template("thanks.html")


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
