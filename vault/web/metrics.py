"""``/metrics``: the vault's instruments in Prometheus' text format, never public by default.

Who may scrape: with ``VAULT_METRICS_TOKEN`` set, a caller sending
``Authorization: Bearer <that token>`` (compared in constant time); a missing or wrong
token gets 401. Without it, the route answers 404 as if it did not exist, and the
operator may instead serve the metrics on a separate address (``VAULT_METRICS_BIND``,
e.g. ``127.0.0.1:9100``) from the gunicorn master (:func:`gunicorn_when_ready`), which
the public listener never reaches. The scrape is never audited: it shows counts, never a
name, a record or a value.

Under gunicorn the workers count into prometheus-client's multiprocess files
(``PROMETHEUS_MULTIPROC_DIR``, see :mod:`vault.metrics`); a scrape, from any worker or
the master, adds up every process. Two gauges are read from the database at scrape
time, once per scrape: the seal lag (age of the oldest event not yet in the chain) and
the outbox depth (mail waiting to be sent).
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from flask import Blueprint, Flask, Response, current_app, g, request
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from vault import metrics
from vault.policy import Action
from vault.web.errors import problem
from vault.web.routing import Binary, route

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def init_app(app: Flask, token: str) -> None:
    """Time every request and count it by route rule and status; serve ``/metrics`` to
    holders of ``token`` (none: 404)."""
    app.extensions["metrics_token"] = token

    @app.before_request
    def _start_clock() -> None:
        g.metrics_start = time.perf_counter()

    @app.after_request
    def _count(resp: Response) -> Response:
        start = g.get("metrics_start")
        if start is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
            metrics.request(rule, request.method, resp.status_code, time.perf_counter() - start)
        return resp

    app.register_blueprint(bp)


@route(
    bp,
    "/metrics",
    action=Action.PUBLIC,
    public=True,
    summary="Prometheus metrics (bearer VAULT_METRICS_TOKEN; 404 when no token is set)",
    responses={200: Binary(("text/plain",))},
)
def scrape() -> Response:
    token = current_app.extensions["metrics_token"]
    if not token:
        return problem(404, "not_found", "Not Found")
    sent = request.headers.get("Authorization", "")
    scheme, _, value = sent.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
    ):
        resp = problem(401, "invalid_token", "Unauthorized", "send the metrics token")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="archive-vault-metrics"'
        return resp
    body = render(current_app.extensions["vault"].engine)
    return Response(
        body, status=200, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"}
    )


def registry(engine: Engine | None) -> Any:
    """The registry a scrape reads: every process's values (multiprocess mode) or this
    process's, plus the gauges read from the database behind ``engine``."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics.instruments()  # the instruments exist (and show) before the first sample
    if os.environ.get(MULTIPROC_ENV):
        reg = CollectorRegistry()
        MultiProcessCollector(reg)
    else:
        reg = CollectorRegistry()
        reg.register(_Forward(REGISTRY))
    if engine is not None:
        reg.register(DatabaseCollector(engine))
    return reg


def render(engine: Engine | None) -> bytes:
    """The text exposition of :func:`registry`."""
    from prometheus_client import generate_latest

    return bytes(generate_latest(registry(engine)))


class _Forward:
    """Collects from another registry (this process's default one)."""

    def __init__(self, reg: Any) -> None:
        self._reg = reg

    def collect(self) -> Iterator[Any]:
        yield from self._reg.collect()


# The outbox (mail waiting for the worker): the worker's table. Replaced by the worker's
# own query if it offers one; tolerates a database where the table does not exist yet.
OUTBOX_DEPTH_SQL = (
    "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL AND failed_at IS NULL"
)

# The oldest event not yet linked into the chain (the sealer's backlog).
_UNSEALED_SQL = (
    "SELECT min(time), count(*) FROM audit_events WHERE seq > "
    "(SELECT coalesce(max(event_seq), 0) FROM audit_chain)"
)


def outbox_depth(engine: Engine) -> int | None:
    """Messages waiting in the notification outbox; ``None`` if there is no outbox table."""
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(OUTBOX_DEPTH_SQL)).scalar_one())
    except SQLAlchemyError:
        return None


def seal_backlog(engine: Engine) -> tuple[float, int] | None:
    """(seconds since the oldest unsealed event, how many are unsealed), or ``None``."""
    try:
        with engine.connect() as conn:
            oldest, count = conn.execute(text(_UNSEALED_SQL)).one()
    except SQLAlchemyError:
        structlog.get_logger("vault").warning("metrics: audit backlog unreadable")
        return None
    if oldest is None:
        return 0.0, 0
    if isinstance(oldest, str):  # SQLite returns the aggregate as text
        oldest = datetime.fromisoformat(oldest)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - oldest).total_seconds()), int(count)


class DatabaseCollector:
    """Gauges read from the database at scrape time (one short read each)."""

    def __init__(self, engine: Engine, outbox: Callable[[Engine], int | None] = outbox_depth):
        self._engine = engine
        self._outbox = outbox

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        backlog = seal_backlog(self._engine)
        if backlog is not None:
            yield GaugeMetricFamily(
                "vault_audit_seal_lag_seconds",
                "Age of the oldest audit event not yet sealed into the chain (0: none waiting)",
                value=backlog[0],
            )
            yield GaugeMetricFamily(
                "vault_audit_unsealed_events",
                "Audit events appended but not yet sealed into the chain",
                value=backlog[1],
            )
        depth = self._outbox(self._engine)
        if depth is not None:
            yield GaugeMetricFamily(
                "vault_outbox_depth", "Notification mails waiting to be sent", value=depth
            )


# gunicorn hooks (archive-vault serve and deploy/gunicorn.conf.py install them).


def prepare_multiprocess(home: Path) -> None:
    """In the gunicorn master, before any worker: give the workers an empty multiprocess
    folder (``PROMETHEUS_MULTIPROC_DIR`` if set, else ``<home>/run/metrics``)."""
    folder = Path(os.environ.get(MULTIPROC_ENV) or home / "run" / "metrics")
    if folder.exists():
        for leftover in folder.glob("*.db"):  # values of a previous run's processes
            leftover.unlink()
    else:
        folder.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(folder)


def gunicorn_child_exit(_server: Any, worker: Any) -> None:
    """A worker ended: its live gauges stop counting (prometheus-client's own cleanup)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def gunicorn_when_ready(server: Any) -> None:
    """With ``VAULT_METRICS_BIND=host:port``, serve ``/metrics`` from the master on that
    separate address (no token: keep it on a private interface)."""
    bind = os.environ.get("VAULT_METRICS_BIND", "").strip()
    if not bind:
        return
    from prometheus_client import start_http_server

    from vault.config import Config
    from vault.db import make_engine

    host, _, port = bind.rpartition(":")
    engine = make_engine(Config.from_env().database_url)
    start_http_server(int(port), addr=host or "127.0.0.1", registry=registry(engine))
    server.log.info("metrics on http://%s/metrics", bind)
