"""How an error looks in the browser: a page with a translated sentence and its stable code.

A page that needs sign-in sends the browser to the sign-in page (and back afterwards);
everything else is a plain page, never a stack trace.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import g, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from vault.web.sensitive import without_sensitive
from vault.web.ui.labels import message_for, title_for


def here() -> str:
    """The current path with its query, for coming back after sign-in or a language switch."""
    pairs = without_sensitive(request.args.items(multi=True))
    return f"{request.path}?{urlencode(pairs)}" if pairs else request.path


def render(status: int, code: str, title: str, detail: str) -> Response:
    """The page for an error (``title``/``detail`` are the service's English, not shown)."""
    if status == 401 and request.method in ("GET", "HEAD"):
        params: dict[str, Any] = {"next": here()}
        if g.get("session_expired"):
            params["expired"] = g.session_expired
        return redirect(url_for("auth.login_page", **params))
    html = render_template(
        "errors/error.html",
        status=status,
        code=code,
        title=title_for(status),
        message=message_for(code, status),
    )
    return make_response(html, status)
