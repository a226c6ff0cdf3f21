"""Audit log throughput on SQLite: append, seal and verify 50,000 events.

Run ``.venv/bin/python bench/audit_bench.py [N]`` (the project installed, as ``make`` does).
Prints events/s for each step and verify's throughput as a share of a bare
HMAC-SHA256 loop over the same bodies in the same process (DESIGN section 8:
verify >= 100,000 events/s).
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
import tempfile
import time

import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import Actor, AuditLog, Event, audit_events, metadata

APPEND_TRANSACTION = 1000


def _event(i: int) -> Event:
    return Event(
        action="record:consult",
        actor=Actor(
            person_id=i % 50,
            subject=f"sso|{i % 50:06d}",
            ip="10.0.0.7",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        ),
        decision="allow",
        outcome="ok",
        resource={"record": str(i), "client": str(i % 300)},
        reason="grant",
        policy_ids=("permit-grant-consult",),
        purpose="tax audit 2024",
        grant_id=f"g{i % 97}",
        request_id=os.urandom(8).hex(),
        details={"bytes": 4096},
    )


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f} events/s  ({seconds:.2f} s)"


def main(count: int) -> None:
    """Run the benchmark with ``count`` events and print the figures."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{tmp}/audit.db")
        metadata.create_all(engine)
        mac_key = os.urandom(32)
        log = AuditLog(mac_key, signing_key=Ed25519PrivateKey.generate())
        events = [_event(i) for i in range(count)]

        start = time.perf_counter()
        for first in range(0, count, APPEND_TRANSACTION):
            with engine.begin() as conn:
                for event in events[first : first + APPEND_TRANSACTION]:
                    log.append(conn, event)
        append_s = time.perf_counter() - start

        with engine.connect() as conn:
            start = time.perf_counter()
            sealed = log.seal(conn, batch=500)
            seal_s = time.perf_counter() - start
            assert sealed == count

            start = time.perf_counter()
            report = log.verify(conn)
            verify_s = time.perf_counter() - start
            assert report.ok and report.sealed == count, report

            bodies = [body.encode("ascii") for body in conn.scalars(sa.select(audit_events.c.body))]
        start = time.perf_counter()
        for body in bodies:
            hmac.digest(mac_key, body, "sha256").hex()
        hmac_s = time.perf_counter() - start
        engine.dispose()

    print(f"audit bench, SQLite, {count:,} events, mean body {sum(map(len, bodies)) // count} B")
    print(f"append ({APPEND_TRANSACTION}/transaction) {_rate(count, append_s)}")
    print(f"seal (batch 500)           {_rate(count, seal_s)}")
    print(f"verify                     {_rate(count, verify_s)}")
    print(f"baseline hmac only         {_rate(count, hmac_s)}")
    print(f"verify / baseline hmac     {hmac_s / verify_s:12.1%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
