"""The start page, the stylesheet and the language switch."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import redirect, render_template, request, send_from_directory
from werkzeug.wrappers import Response

from vault.errors import NotFound
from vault.policy import Action
from vault.web import i18n
from vault.web.auth.redirects import safe_next
from vault.web.auth.sessions import cookie_secure
from vault.web.context import caller
from vault.web.routing import route
from vault.web.ui import nav
from vault.web.ui.blueprint import bp

STATIC = Path(__file__).resolve().parent.parent / "static"
YEAR_S = 365 * 24 * 3600


@route(bp, "/", action=Action.PROFILE_READ, summary="Your start page")
def home() -> str:
    person = caller().person
    assert person is not None
    today = date.today()
    tenure_days = caller().principal(today).tenure_days(today)  # 0 until the date is confirmed
    return render_template(
        "ui/home.html",
        tenure_years=tenure_days / 365.25,
        custodian_tiers=sorted(person.custodian_tiers()),
        items=nav.visible(caller()),
    )


@route(bp, "/static/<path:filename>", action=Action.PUBLIC, public=True, summary="The stylesheet")
def static(filename: str) -> Response:
    return send_from_directory(STATIC, filename, max_age=3600)


@route(
    bp,
    "/lang/<code>",
    action=Action.PUBLIC,
    public=True,
    summary="Choose the language (a cookie), then go back",
)
def set_language(code: str) -> Response:
    if code not in i18n.LANGUAGES:
        raise NotFound("no such language", code="unknown_language")
    resp = redirect(safe_next(request.args.get("next")))
    resp.set_cookie(
        i18n.COOKIE, code, max_age=YEAR_S, secure=cookie_secure(), httponly=True, samesite="Lax"
    )
    return resp
