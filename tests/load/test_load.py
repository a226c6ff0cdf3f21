"""The short load run of make test (30 s of load, ~60 s in all); `make load` runs 10 min.

Two ``archive-vault serve`` instances (2 sync workers each, own VAULT_HOMEs) on one
PostgreSQL database, 16 locust users in the mix of tests/load/locustfile.py. It must
hold: no failure (the only refusals are the expected 403/409s), every answered
consultation audited, the whole chain verifies with nothing left out of it, nobody
consulted more distinct records than the hourly quota, and each process's memory is
reported at start and end (printed with ``-s``)."""

from __future__ import annotations

import os

from tests.load.run import run

DURATION = float(os.environ.get("VAULT_LOAD_SECONDS", "30"))


def test_the_mix_holds_under_load(pg_admin, tmp_path):
    report = run(DURATION, tmp_path)
    print(f"\nload run, {DURATION:.0f} s:\n{report.table()}")
    print(f"expected refusals: {report.expected_refusals}")
    assert not report.errors, report.errors
    assert report.failures == 0
    assert report.kinds["consult"]["requests"] > 0
    for kind in ("search", "request access", "approve", "check out", "audit listing"):
        assert report.kinds[kind]["requests"] > 0, kind
    # No audit event lost: every consultation answered 200 left exactly one event.
    assert report.consult_ok == report.consult_events
    assert "audit log intact" in report.chain, report.chain
    # The export quota held for the greedy ones (and was reached: they were stopped).
    assert max(report.quota.values()) <= report.quota_hour
    assert any(k.startswith("consult (over quota) 403") for k in report.expected_refusals)
    assert len(report.rss_mb) >= 6
    # Memory is flat once warmed up (a leak of a request's objects would show here).
    for proc, (_start, warm, end) in report.rss_mb.items():
        assert warm > 0 and end - warm < 30, (proc, warm, end)
