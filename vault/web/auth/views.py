"""Sign-in pages: local password (and one-time code), single sign-on (with an admin's
step-up to the vault's one-time code), sign-out."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response

from vault import uow
from vault.errors import VaultError
from vault.identity import accounts
from vault.policy import Action
from vault.web.auth import oidc, sessions
from vault.web.auth.redirects import safe_next
from vault.web.context import db, refused, vault
from vault.web.routing import route

bp = Blueprint("auth", __name__, url_prefix="/auth")

STEP_UP = "sso_step_up"  # the signed cookie's note of an admin's sign-in awaiting a code
STEP_UP_MAX_S = 300


def _attempt() -> accounts.Attempt:
    return accounts.Attempt(
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:200] or None,
        request_id=g.get("request_id", ""),
    )


def _login_page(
    next_url: str, *, error: VaultError | None = None, email: str = "", status: int = 200
) -> tuple[str, int]:
    return render_template(
        "auth/login.html",
        next_url=next_url,
        error=error,
        email=email,
        sso=vault().config.auth.oidc_enabled,
        expired=request.args.get("expired"),
    ), status


@route(bp, "/login", action=Action.AUTH_LOGIN, public=True, summary="The sign-in page")
def login_page() -> Response | tuple[str, int]:
    next_url = safe_next(request.args.get("next"))
    if g.get("who") is not None:
        return redirect(next_url)
    return _login_page(next_url)


@route(
    bp,
    "/login",
    action=Action.AUTH_LOGIN,
    public=True,
    methods=["POST"],
    summary="Sign in with a local password (and a one-time code)",
)
def login() -> Response | tuple[str, int]:
    form = request.form
    next_url = safe_next(form.get("next"))
    email = form.get("email", "")[:254]
    try:
        signed = accounts.sign_in_with_password(
            vault(),
            db(),
            email,
            form.get("password", "")[:1024],
            form.get("code", "")[:16],
            _attempt(),
        )
    except VaultError as exc:
        refused(exc)
        return _login_page(next_url, error=exc, email=email, status=exc.status)
    sessions.start(signed.person, "password", second_factor=signed.second_factor)
    return redirect(next_url)


@route(
    bp,
    "/sso",
    action=Action.AUTH_LOGIN,
    public=True,
    methods=["POST"],
    summary="Start single sign-on at the identity provider",
)
def sso_start() -> Response:
    url = oidc.provider().begin(safe_next(request.form.get("next")), str(get_locale()))
    return redirect(url)


@route(
    bp,
    "/callback",
    action=Action.AUTH_LOGIN,
    public=True,
    summary="Return from the identity provider",
)
def callback() -> Response:
    try:
        identity, id_token, next_url = oidc.provider().complete(request.args)
    except VaultError as exc:
        refused(exc)
        raise accounts.sign_in_failed(vault(), _attempt(), exc) from None
    person = uow.run(db(), accounts.sync_sso_person, vault(), db(), identity, _attempt())
    signed = accounts.sign_in_with_sso(vault(), db(), person, identity, _attempt())
    if signed.step_up:
        # Nothing is signed in yet: the admin types the vault's own one-time code first.
        session.clear()
        session[STEP_UP] = {
            "person": person.id,
            "subject": identity.subject,
            "next": safe_next(next_url),
            "id_token": id_token if len(id_token) <= sessions.MAX_ID_TOKEN else None,
            "at": int(time.time()),
        }
        return redirect(url_for("auth.step_up_form"))
    sessions.start(signed.person, "sso", second_factor=signed.second_factor, id_token=id_token)
    return redirect(safe_next(next_url))


def _pending_step_up() -> dict[str, Any] | None:
    pending = session.get(STEP_UP)
    if (
        not isinstance(pending, dict)
        or not isinstance(pending.get("person"), int)
        or not isinstance(pending.get("at"), int)
        or not 0 <= time.time() - pending["at"] <= STEP_UP_MAX_S
    ):
        return None
    return pending


def _step_up_page(error: VaultError | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("auth/step_up.html", error=error), status


@route(
    bp,
    "/step-up",
    action=Action.AUTH_LOGIN,
    public=True,
    summary="An admin's one-time code after single sign-on without a second factor",
)
def step_up_form() -> Response | tuple[str, int]:
    if _pending_step_up() is None:
        return redirect(url_for("auth.login_page"))
    return _step_up_page()


@route(
    bp,
    "/step-up",
    action=Action.AUTH_LOGIN,
    public=True,
    methods=["POST"],
    summary="Finish an admin's single sign-on with the vault's one-time code",
)
def step_up() -> Response | tuple[str, int]:
    pending = _pending_step_up()
    if pending is None:
        session.pop(STEP_UP, None)
        return redirect(url_for("auth.login_page"))
    try:
        signed = accounts.complete_step_up(
            vault(),
            db(),
            pending["person"],
            str(pending.get("subject") or ""),
            request.form.get("code", "")[:16],
            _attempt(),
        )
    except VaultError as exc:
        refused(exc)
        return _step_up_page(exc, exc.status)
    sessions.start(signed.person, "sso", second_factor=True, id_token=pending.get("id_token"))
    return redirect(safe_next(pending.get("next")))


@route(
    bp,
    "/logout",
    action=Action.AUTH_LOGOUT,
    public=True,
    methods=["POST"],
    summary="Sign out (and out of the identity provider after single sign-on)",
)
def logout() -> Response:
    left = sessions.end("signed_out")
    signed_out = url_for("auth.signed_out", _external=True)
    settings = vault().config.auth
    if settings.public_url:
        signed_out = settings.public_url.rstrip("/") + url_for("auth.signed_out")
    if left["auth_method"] == "sso" and settings.oidc_enabled:
        try:
            url = oidc.provider().logout_url(left["sso_id_token"], signed_out)
        except VaultError:
            url = None  # provider down: the vault's own session has ended all the same
        if url:
            return redirect(url)
    return redirect(url_for("auth.signed_out"))


@route(bp, "/signed-out", action=Action.PUBLIC, public=True, summary="You have signed out")
def signed_out() -> str:
    return render_template("auth/signed_out.html")
