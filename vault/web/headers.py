"""Security headers on every response, in one place.

Pages get a strict Content-Security-Policy: no script at all, styles and images from
this site only (images also as ``data:``, for scans shown in the reading room), forms
posting only here (and to the identity provider, where the sign-in and sign-out
forms send the browser). Nothing may frame the vault. Every response except the
static stylesheet is ``no-store``: pages show catalogue data, the audit log or, in
the reading room, content, and none of it may linger in a cache.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'{sso}; "
    "frame-ancestors 'none'; base-uri 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HSTS = "max-age=31536000; includeSubDomains"


def page_csp() -> str:
    """The pages' policy; the identity provider's origin is a form target when configured."""
    sso = current_app.extensions.get("vault_sso")
    return PAGE_CSP.format(sso=f" {sso.origin}" if sso is not None else "")


def init_app(app: Flask) -> None:
    """Add the headers after every request."""

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Strict-Transport-Security"] = HSTS
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        api = request.path.startswith("/api/")
        # Same-origin referrers let the CSRF check confirm a form came from this site.
        resp.headers["Referrer-Policy"] = "no-referrer" if api else "same-origin"
        resp.headers["Content-Security-Policy"] = API_CSP if api else page_csp()
        if request.endpoint == "ui.static" and resp.status_code < 400:
            resp.headers["Cache-Control"] = "public, max-age=3600"
        else:
            resp.headers["Cache-Control"] = "no-store"
            resp.headers["Pragma"] = "no-cache"
        return resp
