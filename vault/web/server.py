"""The gunicorn worker of ``archive-vault serve``: its own refusals are problem+json too.

gunicorn answers a request it cannot parse (an over-long request line, headers too
large or too many, a malformed line or header) itself, before the app sees it, with a
small HTML page. :class:`ProblemWorker` answers those the way the app answers any bad
input: a 4xx ``application/problem+json`` body with a stable ``code``
(``request_line_too_long``, ``header_too_large``, ``bad_request``, ...), and nothing of
the request echoed back.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.http import errors as http
from gunicorn.workers.sync import SyncWorker

__all__ = ["QUIET_PATHS", "ProblemWorker", "QuietLogger", "classify"]

# The health probes (vault.web.health), called every few seconds: not in the access log.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/api/v1/healthz", "/api/v1/readyz"})


class QuietLogger(Logger):
    """gunicorn's logger, leaving successful health probes out of the access log."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        status = str(getattr(resp, "status", "") or "")
        if environ.get("PATH_INFO") in QUIET_PATHS and status.startswith("2"):
            return
        super().access(resp, req, environ, request_time)


# (exception types, status, reason phrase, stable code), first match wins.
_CLIENT_ERRORS: tuple[tuple[tuple[type[BaseException], ...], int, str, str], ...] = (
    ((http.LimitRequestLine,), 414, "URI Too Long", "request_line_too_long"),
    ((http.LimitRequestHeaders,), 431, "Request Header Fields Too Large", "header_too_large"),
    ((http.ExpectationFailed,), 417, "Expectation Failed", "expectation_failed"),
    ((http.ForbiddenProxyRequest,), 403, "Forbidden", "forbidden_proxy"),
    (
        tuple(
            getattr(http, name)
            for name in (
                "InvalidRequestLine",
                "InvalidRequestMethod",
                "InvalidHTTPVersion",
                "InvalidHeader",
                "InvalidHeaderName",
                "InvalidProxyLine",
                "InvalidSchemeHeaders",
                "UnsupportedTransferCoding",
                "ObsoleteFolding",
                "InvalidH2CPreface",
                "InvalidChunkSize",
                "ChunkMissingTerminator",
                "InvalidChunkExtension",
                "NoMoreData",
            )
            if isinstance(getattr(http, name, None), type)
        ),
        400,
        "Bad Request",
        "bad_request",
    ),
)


def classify(exc: BaseException) -> tuple[int, str, str]:
    """``(status, reason, code)`` of gunicorn's answer to ``exc``; 500 if it is no client's."""
    for types, status, reason, code in _CLIENT_ERRORS:
        if isinstance(exc, types):
            return status, reason, code
    try:
        import ssl

        if isinstance(exc, ssl.SSLError):
            return 400, "Bad Request", "bad_request"
    except ImportError:  # pragma: no cover - Python without ssl
        pass
    return 500, "Internal Server Error", "internal_error"


def problem_response(status: int, reason: str, code: str) -> bytes:
    """The whole HTTP answer: status line, headers and a problem+json body."""
    body = json.dumps(
        {"type": f"about:blank#{code}", "title": reason, "status": status, "code": code},
        separators=(",", ":"),
    ).encode("ascii")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("ascii")
    return head + body


class ProblemWorker(SyncWorker):
    """gunicorn's sync worker, answering its own errors as problem+json."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, reason, code = classify(exc)
        ip = (addr or ("", -1))[0]
        if status >= 500:
            self.log.exception("Error handling request (%s)", code)
        else:
            self.log.warning("Invalid request from ip=%s: %s (%s)", ip, type(exc).__name__, code)
        try:
            util.write_nonblock(client, problem_response(status, reason, code))
        except Exception:  # noqa: BLE001 - the client may be gone already
            self.log.debug("Failed to send error message.")
