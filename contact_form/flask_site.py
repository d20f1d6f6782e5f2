"""The pages the Flask apps share (everything but POST /contact), and their common set-up."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template, request, session
from werkzeug.exceptions import HTTPException

from contact_form.form import ContactForm, build_contact_form
from contact_form.settings import Settings
from contact_form.site import LOAVES, MAX_BODY_BYTES, problem_text, template_context

site = Blueprint("site", __name__, template_folder="templates")


def configure_site(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["lab_settings"] = settings
    app.register_blueprint(site)


def lab_settings() -> Settings:
    return current_app.extensions["lab_settings"]


def bound_contact_form() -> ContactForm:
    formdata = request.form if request.method == "POST" else None
    return build_contact_form(formdata, session, lab_settings().secret_key)


@site.app_context_processor
def site_context() -> dict[str, object]:
    return template_context(lab_settings().site_name)


@site.get("/")
def home() -> str:
    return render_template("home.html", loaves=LOAVES)


@site.get("/contact")
def contact_form() -> str:
    return render_template("contact.html", form=bound_contact_form())


@site.get("/contact/thanks")
def contact_thanks() -> str:
    return render_template("thanks.html")


@site.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@site.app_errorhandler(HTTPException)
def problem_page(exc: HTTPException) -> tuple[str, int, list[tuple[str, str]]]:
    title, explanation = problem_text(exc.code or 500, exc.name, exc.description or "")
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return render_template("problem.html", title=title, explanation=explanation), exc.code, headers
