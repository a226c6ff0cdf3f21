"""The vault's Prometheus instruments, for every layer (imports nothing of the vault).

Each process counts into its own instruments; ``/metrics`` (:mod:`vault.web.metrics`)
renders them. Under gunicorn the workers are separate processes, so prometheus-client's
*multiprocess mode* is used: ``PROMETHEUS_MULTIPROC_DIR`` names a folder where each
process keeps its values in memory-mapped files, and a scrape adds them up. The mode is
chosen when prometheus-client is first imported, so this module imports it only on first
use (``archive-vault serve`` and ``deploy/gunicorn.conf.py`` set the folder before that,
in the master, before the workers fork).

Counting is cheap by design (a dict lookup and an add under a lock per sample): the hot
path pays for three or four samples per request. Values read from the database (the
outbox depth, the seal lag) are not counted here: they are read at scrape time
(:func:`vault.web.metrics.database_collector`), once per scrape and not per request.

Labels are bounded: a route is its rule (``/api/v1/records/<int:record_id>``), never the
path; an action is an ``Action`` value; a code is a stable error code.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "alert",
    "audit_append",
    "decision",
    "denial",
    "instruments",
    "key_provider",
    "request",
]

# Latency buckets (seconds) for requests and audit appends: 1 ms to 10 s.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Instruments:
    requests: Any
    request_seconds: Any
    decisions: Any
    denials: Any
    audit_append_seconds: Any
    alerts: Any
    key_provider_seconds: Any


@functools.cache
def instruments() -> Instruments:
    """The process's instruments, made (and prometheus-client imported) on first use."""
    from prometheus_client import Counter, Histogram

    return Instruments(
        requests=Counter(
            "vault_http_requests",
            "HTTP requests answered, by route rule, method and status",
            ["route", "method", "status"],
        ),
        request_seconds=Histogram(
            "vault_http_request_duration_seconds",
            "Time to answer a request, by route rule and method",
            ["route", "method"],
            buckets=_BUCKETS,
        ),
        decisions=Counter(
            "vault_policy_decisions",
            "Policy decisions, by action and result (allow or deny)",
            ["action", "result"],
        ),
        denials=Counter(
            "vault_denials",
            "Requests refused with 403, by stable error code",
            ["code"],
        ),
        audit_append_seconds=Histogram(
            "vault_audit_append_duration_seconds",
            "Time to append audit events in the act's transaction (deferred: with the commit)",
            ["mode"],
            buckets=_BUCKETS,
        ),
        alerts=Counter(
            "vault_alerts",
            "Alerts raised, by kind (quota_exceeded is the export-quota alert)",
            ["kind"],
        ),
        key_provider_seconds=Histogram(
            "vault_key_provider_duration_seconds",
            "Time of a key-provider operation (wrap, unwrap, rewrap), by provider",
            ["provider", "operation"],
            buckets=_BUCKETS,
        ),
    )


# Labelled children, looked up once per label set (prometheus-client's ``labels()`` takes
# a lock and builds a key on every call; the hot path pays for a dict lookup instead).
_children: dict[tuple[str, tuple[str, ...]], Any] = {}


def _child(name: str, *labels: str) -> Any:
    key = (name, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = getattr(instruments(), name).labels(*labels)
    return child


def request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request."""
    _child("requests", route, method, str(status)).inc()
    _child("request_seconds", route, method).observe(seconds)


def decision(action: str, allowed: bool) -> None:
    """One policy decision."""
    _child("decisions", action, "allow" if allowed else "deny").inc()


def denial(code: str) -> None:
    """One request refused with 403."""
    _child("denials", code).inc()


def alert(kind: str) -> None:
    """One alert raised."""
    _child("alerts", kind).inc()


@contextmanager
def audit_append(mode: str) -> Iterator[None]:
    """Time the block as an audit append (``mode``: ``inline`` or ``deferred``)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _child("audit_append_seconds", mode).observe(time.perf_counter() - start)


class key_provider:
    """``with key_provider(provider, "unwrap"): ...`` times the block as that operation.

    A plain class, not a generator: the call inside the block stays in its caller's
    frame (the key-capability test traces unwraps to the module that asked for them)."""

    __slots__ = ("_operation", "_provider", "_start")

    def __init__(self, provider: object, operation: str) -> None:
        self._provider = _provider_name(type(provider).__name__)
        self._operation = operation
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *_exc: object) -> None:
        _child("key_provider_seconds", self._provider, self._operation).observe(
            time.perf_counter() - self._start
        )


@functools.cache
def _provider_name(kind: str) -> str:
    name = kind.lower()
    for short in ("transit", "pkcs11", "local"):
        if short in name:
            return short
    return name
