"""The short load run of make test: 15 s of load on each shared blob store, the two runs at
once (~35 s in all); `make load` runs 10 minutes.

Two ``archive-vault serve`` instances (2 sync workers each, own VAULT_HOMEs) and one
``archive-vault worker`` on one PostgreSQL database, all with VAULT_BACKGROUND=worker;
16 locust users in the mix of tests/load/locustfile.py. Attachments are in PostgreSQL's
rows, then in S3 on moto's server mode (an S3 *emulator*, tests/s3emulator.py: not
Amazon S3). It must hold: no failure (the only refusals are the expected 403/409s),
every answered consultation audited, the worker (and only the worker) sealed every
event while the load ran and as it stopped, the whole chain verifies, nobody consulted
more distinct records than the hourly quota, and each process's memory is reported at
start and end (printed with ``-s``)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.load.run import STORES, Report, run

DURATION = float(os.environ.get("VAULT_LOAD_SECONDS", "15"))
# Lower than the default (20), so that the greedy ones reach it within a short run.
QUOTA_HOUR = 12


@pytest.mark.long
def test_the_mix_holds_under_load_on_both_shared_blob_stores(pg_admin, s3_emulator, tmp_path):
    # The two runs at once: their start-up and shut-down overlap, and the two cores are
    # shared (each run's 16 users get about half of the machine one run would have).
    with ThreadPoolExecutor(len(STORES)) as pool:
        runs = {
            store: pool.submit(
                run,
                DURATION,
                tmp_path / store,
                store=store,
                s3=s3_emulator if store == "s3" else None,
                quota_hour=QUOTA_HOUR,
            )
            for store in STORES
        }
        reports = {store: job.result() for store, job in runs.items()}
    for store, report in reports.items():
        print(f"\nload run, {DURATION:.0f} s, blobs in {store}:\n{report.table()}")
        print(f"expected refusals: {report.expected_refusals}")
    for report in reports.values():
        _holds(report)


def _holds(report: Report) -> None:
    assert not report.errors, report.errors
    assert report.failures == 0
    for kind in ("consult", "consult attachment", "search", "request access", "approve"):
        assert report.kinds[kind]["requests"] > 0, kind
    for kind in ("check out", "audit listing"):
        assert report.kinds[kind]["requests"] > 0, kind
    # The attachments are in the store under test, one blob each, read from both servers.
    assert report.blobs_in_store == 40, report.blobs_in_store
    # No audit event lost: every consultation answered 200 left exactly one event.
    assert report.consult_ok == report.consult_events
    assert "audit log intact" in report.chain, report.chain
    # The worker sealed: while the load ran (checkpoints, a lag of a few ticks at worst),
    # and every event to the last as it stopped (checked before anything else could
    # seal); each checkpoint is in its audit log, none in an app server's.
    assert report.worker_rc == 0
    assert report.checkpoints_during_load > 1
    assert report.seal_lag_max_s < 15, report.seal_lag_max_s
    assert report.checkpoints >= report.checkpoints_during_load
    assert report.sealed_by["worker"] == report.checkpoints
    assert {k: n for k, n in report.sealed_by.items() if k != "worker" and n} == {}
    # The export quota held for the greedy ones (and was reached: they were stopped).
    assert report.quota_hour == QUOTA_HOUR
    assert max(report.quota.values()) <= report.quota_hour
    assert any(k.startswith("consult (over quota) 403") for k in report.expected_refusals)
    assert len(report.rss_mb) >= 7  # two masters, four gunicorn workers, the worker
    # Memory is flat once warmed up (a leak of a request's objects would show here).
    for proc, (_start, warm, end) in report.rss_mb.items():
        assert warm > 0 and end - warm < 30, (proc, warm, end)
