"""Who is calling: a bearer token (API) or a browser session (flask-login), and its limits.

A request that carries an ``Authorization`` header is authenticated by that token
alone; the session cookie is then ignored, so a script's token can never ride on a
browser session (and such requests need no CSRF token). Every other request is a
browser's: its session expires server-side after ``session_idle_minutes`` without a
request and ``session_max_hours`` after sign-in (the times are kept in the signed
session cookie), and every unsafe method must carry the session's CSRF token.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.orm import joinedload

from vault import uow
from vault.caller import Caller
from vault.errors import InvalidInput
from vault.identity import accounts
from vault.identity.tokens import person_for_token
from vault.models import Person
from vault.policy.actions import CONTENT_ACTIONS
from vault.web.context import db, vault
from vault.web.routing import spec_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_EVERY_S = 10  # refresh the idle clock at most this often (each refresh re-sends the cookie)
MAX_ID_TOKEN = 2500  # bytes: the session cookie must stay under the browsers' 4 KB

login_manager = LoginManager()
csrf = CSRFProtect()


class WebUser(UserMixin):
    """flask-login's view of a person."""

    def __init__(self, person: Person) -> None:
        self.person = person

    def get_id(self) -> str:
        return str(self.person.id)


@login_manager.user_loader
def _load_user(user_id: str) -> WebUser | None:
    if not user_id.isdigit():
        return None
    # Roles joined in: the person costs the same round trips as before they were rows.
    person = db().get(Person, int(user_id), options=[joinedload(Person.role_rows)])
    return WebUser(person) if person is not None else None


class VaultSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions whose cookie is Secure whenever the request came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def cookie_secure() -> bool:
    """Whether cookies set on this response must be Secure."""
    settings = vault().config.auth
    return (
        settings.secure_cookies or settings.public_url.startswith("https://") or (request.is_secure)
    )


def start(person: Person, method: str, *, id_token: str | None = None) -> None:
    """Begin a browser session for ``person`` (a fresh session: nothing from before survives)."""
    session.clear()
    g.pop("csrf_token", None)  # a new CSRF secret comes with the new session
    login_user(WebUser(person))
    now = int(time.time())
    session["auth_at"] = now
    session["seen_at"] = now
    session["auth_method"] = method
    if id_token and len(id_token) <= MAX_ID_TOKEN:
        # Kept for the provider's sign-out (id_token_hint); a token too large for the
        # cookie is left out and sign-out names the client instead.
        session["sso_id_token"] = id_token
    g.person = person


def end() -> dict[str, Any]:
    """End the browser session; returns what logout still needs (method, ID token)."""
    left = {"auth_method": session.get("auth_method"), "sso_id_token": session.get("sso_id_token")}
    logout_user()
    session.clear()
    g.person = None
    return left


def _expiry(now: float) -> str | None:
    """Why the session has expired (``idle_timeout``, ``absolute_timeout``), or None."""
    settings = vault().config.auth
    auth_at, seen_at = session.get("auth_at"), session.get("seen_at")
    if not isinstance(auth_at, int | float) or not isinstance(seen_at, int | float):
        return "absolute_timeout"  # a session without its clock is not trusted (fail closed)
    if now - auth_at > settings.session_max_hours * 3600 or now < auth_at:
        return "absolute_timeout"
    if now - seen_at > settings.session_idle_minutes * 60:
        return "idle_timeout"
    return None


def _bearer(header: str) -> Person | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    spec = spec_of(view)
    # A content route locks the person with the lookup (one round trip, not two).
    lock = spec is not None and spec.action in CONTENT_ACTIONS
    person = person_for_token(db(), token.strip(), lock=lock)
    g.person_locked = lock and person is not None
    return person


def init_app(app: Flask) -> None:
    """Install flask-login, the session cookie's settings, the caller lookup and CSRF checks."""
    settings = app.extensions["vault"].config.auth
    app.session_interface = VaultSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="vault_session",  # never the provider's ``_session``/``_interaction``
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies or settings.public_url.startswith("https://"),
        SESSION_REFRESH_EACH_REQUEST=False,
        REMEMBER_COOKIE_DURATION=0,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, for browser requests only
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as its session, which expires
        WTF_CSRF_SSL_STRICT=True,
    )
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    csrf.init_app(app)

    @app.before_request
    def _resolve_person() -> None:
        g.person = None
        g.bad_token = False
        header = request.headers.get("Authorization")
        if header is not None:
            g.person = _bearer(header)
            g.bad_token = g.person is None
            g.auth_method = "token"
            return
        if not current_user.is_authenticated:
            return
        now = time.time()
        expired = _expiry(now)
        person = current_user.person
        if expired:
            end()
            g.session_expired = expired
            who = Caller(
                person=person,
                ip=request.remote_addr,
                user_agent=(request.user_agent.string or "")[:200] or None,
                request_id=g.get("request_id", ""),
            )
            # Kept whatever the request then does (it is refused as anonymous).
            uow.run(db(), accounts.record_sign_out, vault(), db(), who, expired)
            return
        if now - session["seen_at"] >= TOUCH_EVERY_S:
            session["seen_at"] = int(now)
        g.person = person
        g.auth_method = session.get("auth_method")

    @app.before_request
    def _check_csrf() -> None:
        if request.method in SAFE_METHODS or "Authorization" in request.headers:
            return
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None:
            return  # no such route: 404/405 reveal nothing
        spec = spec_of(view)
        if g.person is None and not (spec is not None and spec.public):
            return  # anonymous on a protected route: the gate refuses it (401) untouched
        try:
            csrf.protect()
        except CSRFError as exc:
            raise InvalidInput(
                "the form expired or did not come from this site; reload the page and retry",
                code="csrf_failed",
                reason=str(exc.description or ""),
            ) from None
