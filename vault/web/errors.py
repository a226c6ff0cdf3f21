"""One place that turns errors into responses: problem+json for the API, a page for
the browser (the UI installs the page renderer; every code is shown on the page)."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from vault import metrics, uow
from vault.crypto import KeyProviderUnavailable
from vault.errors import VaultError

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def problem(status: int, code: str, title: str, detail: str = "", **extra: object) -> Response:
    """An RFC 9457 problem document with a stable ``code``."""
    body = {"type": f"about:blank#{code}", "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if isinstance(v, str | int | float | bool)})
    if g.get("request_id"):
        body["request_id"] = g.request_id
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _page(status: int, code: str, title: str, detail: str = "") -> Response | None:
    """The browser's page for this error, or None under ``/api/`` (and before the UI is up)."""
    render: Callable[[int, str, str, str], Response] | None = current_app.extensions.get(
        "vault_error_page"
    )
    if render is None or request.path.startswith("/api/"):
        return None
    try:
        return render(status, code, title, detail)
    except Exception:  # noqa: BLE001 - a page that cannot render falls back to problem+json
        structlog.get_logger("vault").error("error page failed", code=code)
        return None


_PROBE = 987_654_321  # a number put in place of a path segment, to find the id it stands for
# A path id's name -> what it names, where the two differ (its code is ``<what>_not_found``).
_ID_NAMES = {"seq": "event", "note_id": "notification"}


def _malformed_id() -> tuple[str, str] | None:
    """``(code, detail)`` of a path that matched nothing because an id in it is not a number
    (``/api/v1/records/abc``): it matches a route once that segment is a number. It is not
    found like an id no row has (``record_not_found``); the detail names the id and never
    echoes the segment."""
    try:
        adapter = current_app.url_map.bind_to_environ(request.environ)
    except Exception:  # noqa: BLE001 - no detail then
        return None
    segments = request.path.split("/")
    for i, segment in enumerate(segments):
        if not segment or segment.isdigit():
            continue
        trial = "/".join([*segments[:i], str(_PROBE), *segments[i + 1 :]])
        try:
            _rule, args = adapter.match(trial, method=request.method, return_rule=True)
        except HTTPException:
            continue
        for name, value in args.items():
            if value == _PROBE:
                what = _ID_NAMES.get(name, name.removesuffix("_id"))
                shown = what.replace("_", " ")
                return (
                    f"{what}_not_found",
                    f"the {shown} id in the path must be a whole number (like 12)",
                )
    return None


def _end_unit_of_work(exc: BaseException) -> None:
    """Roll the request's work back, and keep what a refusal carries (its audit event)."""
    session = g.get("db")
    if session is None and isinstance(exc, VaultError) and exc.keep:
        from vault.web.context import db

        session = db()  # the refusal came before any database work: record it all the same
    if session is not None:
        uow.finish(session, exc)


def _rollback() -> None:
    session = g.get("db")
    if session is not None:
        try:
            session.rollback()
        except SQLAlchemyError:
            structlog.get_logger("vault").error("rollback failed")


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(VaultError)
    def _vault_error(exc: VaultError) -> Response:
        try:
            _end_unit_of_work(exc)
        except SQLAlchemyError as failed:
            # The refusal could not be recorded: the caller learns the storage failed.
            return _storage_error(failed)
        if exc.status == 403:
            metrics.denial(exc.code)
        page = _page(exc.status, exc.code, exc.title, exc.message)
        if page is not None:
            return page
        resp = problem(exc.status, exc.code, exc.title, exc.message, **exc.extra)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="archive-vault"'
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        _rollback()
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        detail = ""
        if status == 404 and (malformed := _malformed_id()) is not None:
            code, detail = malformed
        return _page(status, code, exc.name, detail) or problem(status, code, exc.name, detail)

    @app.errorhandler(SQLAlchemyError)
    def _storage_error(exc: SQLAlchemyError) -> Response:
        _rollback()
        # The database (or the audit append inside it) failed: the act did not happen.
        structlog.get_logger("vault").error("storage error", exc_type=type(exc).__name__)
        return _page(503, "storage_unavailable", "Service unavailable") or problem(
            503,
            "storage_unavailable",
            "Service unavailable",
            "the request could not be recorded and did not happen",
        )

    @app.errorhandler(KeyProviderUnavailable)
    def _key_provider_down(exc: KeyProviderUnavailable) -> Response:
        _rollback()
        # The HSM or Transit server cannot be used: fail closed, no content, never a 500.
        # The message names the provider only (never a PIN, token or key).
        structlog.get_logger("vault").error("key provider unavailable", reason=str(exc))
        return _page(503, "key_provider_unavailable", "Service unavailable") or problem(
            503,
            "key_provider_unavailable",
            "Service unavailable",
            "the key provider cannot be reached; the request did not happen",
        )

    @app.errorhandler(Exception)  # the last resort: never a traceback to the client
    def _unexpected(exc: Exception) -> Response:
        _rollback()
        # Never a stack trace to the client; the operator's log has it (ids only).
        structlog.get_logger("vault").error("unhandled error", exc_type=type(exc).__name__)
        return _page(500, "internal_error", "Internal error") or problem(
            500, "internal_error", "Internal error", "the request did not complete"
        )
