"""My account: the signed-in person changes their own local password and one-time code.

Only the person themselves, from their signed-in browser (``account:password``,
``account:totp`` in the policy); an admin resets someone else's credentials through
the operator's path on the server, never here. A change ends every other session of
theirs and keeps this one. A person without a local password (single sign-on only)
is told that their identity provider manages it.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from vault.errors import VaultError
from vault.identity import accounts
from vault.models import Person
from vault.policy import Action
from vault.web.auth import sessions as web_sessions
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui.blueprint import bp

FIELD_MAX = accounts.PASSWORD_MAX + 1  # longer is refused by the rules, never cut to fit


def _me() -> Person:
    person = caller().person
    assert person is not None  # the gate let only a signed-in person through
    return person


def _page(
    *,
    error: VaultError | None = None,
    status: int = 200,
    pending: accounts.PendingTotp | None = None,
    failed: str | None = None,
) -> tuple[str, int]:
    person = _me()
    session = db()
    return render_template(
        "profile/account.html",
        local=accounts.has_password(session, person),
        totp=accounts.has_totp(session, person),
        sso=person.sso_subject is not None,
        error=error,
        failed=failed,
        pending=pending,
    ), status


@route(bp, "/me/account", action=Action.PROFILE_READ, summary="My account: password, one-time code")
def account() -> tuple[str, int]:
    return _page()


@route(
    bp,
    "/me/account/password",
    action=Action.ACCOUNT_PASSWORD,
    methods=["POST"],
    summary="Change your own password (current password first; other sessions end)",
)
def account_password() -> Response | tuple[str, int]:
    form = request.form
    try:
        ended = accounts.change_own_password(
            vault(),
            db(),
            caller(),
            _me(),
            form.get("current", "")[:FIELD_MAX],
            form.get("new", "")[:FIELD_MAX],
            form.get("again", "")[:FIELD_MAX],
            session_id=web_sessions.current_session_id(),
        )
    except VaultError as exc:
        refused(exc)
        return _page(error=exc, status=exc.status, failed="password")
    flash(_("Your password is changed. Other sessions ended: %(n)d.", n=ended), "ok")
    return redirect(url_for("ui.account"))


@route(
    bp,
    "/me/account/totp",
    action=Action.ACCOUNT_TOTP,
    methods=["POST"],
    summary="Make a new one-time-code secret (current password and code first)",
)
def account_totp_start() -> tuple[str, int]:
    form = request.form
    try:
        pending = accounts.start_totp_change(
            vault(),
            db(),
            caller(),
            _me(),
            form.get("current", "")[:FIELD_MAX],
            form.get("code", "")[:16],
            session_id=web_sessions.current_session_id(),
        )
    except VaultError as exc:
        refused(exc)
        return _page(error=exc, status=exc.status, failed="totp")
    return _page(pending=pending)


@route(
    bp,
    "/me/account/totp/confirm",
    action=Action.ACCOUNT_TOTP,
    methods=["POST"],
    summary="Confirm the new one-time-code secret with a code from it (other sessions end)",
)
def account_totp_confirm() -> Response | tuple[str, int]:
    form = request.form
    try:
        ended = accounts.confirm_totp_change(
            vault(),
            db(),
            caller(),
            _me(),
            form.get("pending", "")[:2000],
            form.get("code", "")[:16],
            session_id=web_sessions.current_session_id(),
        )
    except VaultError as exc:
        refused(exc)
        again = accounts.reopen_pending_totp(
            vault(), _me(), form.get("pending", "")[:2000], web_sessions.current_session_id()
        )
        return _page(error=exc, status=exc.status, failed="totp", pending=again)
    flash(_("Your one-time code is replaced. Other sessions ended: %(n)d.", n=ended), "ok")
    return redirect(url_for("ui.account"))
