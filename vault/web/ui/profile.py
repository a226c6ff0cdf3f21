"""The signed-in person's own pages: their sessions and their own API tokens.

A token is created here by its holder, signed in with their browser, and shown once,
to them; nobody else (no admin) ever sees or creates a usable token for them.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from vault import authz
from vault.errors import VaultError
from vault.identity import sessions, tokens
from vault.policy import Action
from vault.web.auth import sessions as web_sessions
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui.blueprint import bp


@route(bp, "/me", action=Action.PROFILE_READ, summary="Your profile: your sessions")
def profile() -> str:
    who = caller()
    return render_template(
        "profile/profile.html",
        sessions=sessions.live_sessions(vault(), db(), who.person),  # type: ignore[arg-type]
        current=web_sessions.current_session_id(),
    )


@route(
    bp,
    "/me/sessions/end-all",
    action=Action.AUTH_LOGOUT,
    methods=["POST"],
    summary="Sign out everywhere (every browser, this one too)",
)
def sign_out_everywhere() -> Response:
    sessions.sign_out_everywhere(vault(), db(), caller())
    web_sessions.end("signed_out_everywhere")
    return redirect(url_for("auth.signed_out"))


def _tokens_page(
    *, new_token: str | None = None, error: VaultError | None = None, status: int = 200
) -> tuple[str, int]:
    who = caller()
    may_create = authz.decide(
        vault(), who, Action.TOKEN_CREATE, is_self=True, by_token=who.via_token
    )
    return render_template(
        "profile/tokens.html",
        tokens=tokens.tokens_of(db(), who.person),  # type: ignore[arg-type]
        new_token=new_token,
        error=error,
        may_create=bool(may_create),
        label=request.form.get("label", "") if error else "",
    ), status


@route(bp, "/me/tokens", action=Action.PROFILE_READ, summary="Your API tokens")
def my_tokens() -> tuple[str, int]:
    return _tokens_page()


@route(
    bp,
    "/me/tokens",
    action=Action.TOKEN_CREATE,
    methods=["POST"],
    summary="Create an API token of your own (shown once, to you)",
)
def my_token_create() -> tuple[str, int]:
    who = caller()
    try:
        token = tokens.create_token(
            vault(),
            db(),
            who,
            who.person,  # type: ignore[arg-type]
            request.form.get("label", "")[: tokens.MAX_LABEL + 1],
        )
    except VaultError as exc:
        refused(exc)
        return _tokens_page(error=exc, status=exc.status)
    return _tokens_page(new_token=token)


@route(
    bp,
    "/me/tokens/<int:token_id>/revoke",
    action=Action.TOKEN_REVOKE_OWN,
    methods=["POST"],
    summary="Revoke one of your API tokens",
)
def my_token_revoke(token_id: int) -> Response:
    tokens.revoke_own_token(vault(), db(), caller(), token_id)
    flash(_("The token was revoked."), "ok")
    return redirect(url_for("ui.my_tokens"))
