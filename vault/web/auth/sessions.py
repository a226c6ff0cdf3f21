"""Who is calling: a bearer token (API) or a browser session, and its limits.

A request that carries an ``Authorization`` header is authenticated by that token
alone; the session cookie is then ignored, so a script's token can never ride on a
browser session (and such requests need no CSRF token). Every other request is a
browser's. Its signed cookie carries only a random session key (with the CSRF secret
and, after single sign-on, the provider's ID token for sign-out); the session itself
is a row (:mod:`vault.identity.sessions`), found with the person in one statement, so
it can be ended from anywhere at once. It expires after ``session_idle_minutes``
without a request and ``session_max_hours`` after sign-in, and every unsafe method
must carry the session's CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect

from vault import uow
from vault.caller import Caller, Who
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.identity import sessions as store
from vault.identity.tokens import person_for_token, person_for_token_read
from vault.models import Person
from vault.policy.actions import CONTENT_ACTIONS
from vault.web.context import caller, db, vault
from vault.web.routing import RouteSpec, spec_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_KEY = "sid"  # the cookie's one identity: the session row's random key
MAX_ID_TOKEN = 2500  # bytes: the session cookie must stay under the browsers' 4 KB

csrf = CSRFProtect()


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


def _origin() -> tuple[str | None, str | None]:
    return request.remote_addr, (request.user_agent.string or "")[:200] or None


def start(person: Person, method: str, *, second_factor: bool, id_token: str | None = None) -> None:
    """Begin a browser session for ``person`` (a fresh session: nothing from before survives)."""
    session.clear()
    g.pop("csrf_token", None)  # a new CSRF secret comes with the new session
    ip, agent = _origin()
    opened = store.open_session(
        vault(), db(), person, method=method, second_factor=second_factor, ip=ip, user_agent=agent
    )
    session[SESSION_KEY] = opened.key
    if id_token and len(id_token) <= MAX_ID_TOKEN:
        # Kept for the provider's sign-out (id_token_hint); a token too large for the
        # cookie is left out and sign-out names the client instead.
        session["sso_id_token"] = id_token
    g.person = person
    g.who = Who.of(person)
    g.web_session = opened.row
    g.auth_method = method


def end(reason: str = "signed_out") -> dict[str, Any]:
    """End this browser's session (its row too, audited); returns what sign-out still
    needs (how the person signed in, the provider's ID token)."""
    row = g.get("web_session")
    left = {
        "auth_method": row.method if row is not None else None,
        "sso_id_token": session.get("sso_id_token"),
    }
    if row is not None and g.get("who") is not None:
        store.end_session(vault(), db(), caller(), row, reason)
    session.clear()
    g.person = None
    g.who = None
    g.web_session = None
    return left


def current_session_id() -> int | None:
    """The id of this browser's session row, if signed in with one."""
    row = g.get("web_session")
    return row.id if row is not None else None


def _route_spec() -> RouteSpec | None:
    return spec_of(current_app.view_functions.get(request.endpoint or ""))


def _lock_for_route(spec: RouteSpec | None) -> bool:
    # A content route locks the person with the lookup (one round trip, not two).
    return spec is not None and spec.action in CONTENT_ACTIONS


def _bearer(header: str) -> Who | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    spec = _route_spec()
    if spec is not None and spec.read_only:
        # A read: the lookup needs no transaction, and the route may need no session.
        return person_for_token_read(vault().direct, token.strip())
    lock = _lock_for_route(spec)
    who = person_for_token(vault().direct, db(), token.strip(), lock=lock)
    g.person_locked = lock and who is not None
    return who


def init_app(app: Flask) -> None:
    """Install the session cookie's settings, the caller lookup and CSRF checks."""
    settings = app.extensions["vault"].config.auth
    app.session_interface = VaultSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="vault_session",  # never the provider's ``_session``/``_interaction``
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies or settings.public_url.startswith("https://"),
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, for browser requests only
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as its session, which expires
        WTF_CSRF_SSL_STRICT=True,
    )
    csrf.init_app(app)

    @app.before_request
    def _resolve_person() -> None:
        g.person = None  # the ORM row: a browser's lookup loads it, a token's does not
        g.who = None  # who is signed in (the request's facts), either way
        g.bad_token = False
        g.web_session = None
        header = request.headers.get("Authorization")
        if header is not None:
            g.who = _bearer(header)
            g.bad_token = g.who is None
            g.auth_method = "token"
            return
        key = session.get(SESSION_KEY)
        if key is None:
            return
        lock = _lock_for_route(_route_spec())
        found = store.session_for_key(db(), key, lock=lock)
        if found is None:
            # Ended elsewhere (sign out everywhere, a changed password, an admin...):
            # the cookie is worth nothing now and is dropped.
            session.clear()
            g.session_expired = "ended"
            return
        row, person = found
        now = utcnow()
        expired = store.expiry(vault(), row, now)
        if expired:
            session.clear()
            g.session_expired = expired
            ip, agent = _origin()
            who = Caller(person=person, ip=ip, user_agent=agent, request_id=g.get("request_id", ""))
            # Kept whatever the request then does (it is refused as anonymous).
            uow.run(db(), store.end_session, vault(), db(), who, row, expired)
            return
        store.touch(row, now)
        g.person = person
        g.who = Who.of(person)
        g.web_session = row
        g.auth_method = row.method
        g.person_locked = lock

    @app.before_request
    def _check_csrf() -> None:
        if request.method in SAFE_METHODS or "Authorization" in request.headers:
            return
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None:
            return  # no such route: 404/405 reveal nothing
        spec = spec_of(view)
        if g.who is None and not (spec is not None and spec.public):
            return  # anonymous on a protected route: the gate refuses it (401) untouched
        try:
            csrf.protect()
        except CSRFError as exc:
            raise InvalidInput(
                "the form expired or did not come from this site; reload the page and retry",
                code="csrf_failed",
                reason=str(exc.description or ""),
            ) from None
