"""Signing in and out: browser sessions (flask-login), bearer tokens, OpenID Connect.

- :mod:`.sessions` resolves the caller of every request (token or session), expires
  sessions and checks CSRF on browser requests;
- :mod:`.oidc` talks to the identity provider (authlib);
- :mod:`.views` are the sign-in, single sign-on and sign-out routes (``/auth/...``);
- :mod:`.redirects` keeps every post-sign-in redirect on this site.
"""

from __future__ import annotations

from flask import Flask

from vault.web.auth import oidc, sessions
from vault.web.auth.views import bp


def init_app(app: Flask) -> None:
    """Install sessions, CSRF, the identity provider and the sign-in routes."""
    sessions.init_app(app)
    oidc.init_app(app)
    app.register_blueprint(bp)
