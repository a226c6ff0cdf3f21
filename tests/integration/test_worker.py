"""The worker: mail through the outbox (a real SMTP server, aiosmtpd), retries with
backoff, the scheduled jobs, one leader at a time, and a clean stop on SIGTERM.

Two ``archive-vault worker`` processes run at once on PostgreSQL: every outbox message
is sent exactly once and only one of them holds the leader's lock (and seals).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from email import message_from_string
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from audit.schema import audit_chain, audit_events
from tests import databases
from tests.databases import upgrade
from tests.factories import Factory
from vault import uow
from vault.caller import Caller
from vault.config import Config
from vault.crypto import LocalKeyring
from vault.db import utcnow
from vault.grants import requests as access_requests
from vault.models import AccessRequest, Grant, Notification, OutboxMessage
from vault.oversight import notifications
from vault.runtime import Vault
from vault.worker import jobs, outbox
from vault.worker.leader import LEADER_LOCK_ID
from vault.worker.process import Scheduler

ROOT = Path(__file__).resolve().parents[2]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _queue(v: Vault, db, make: Factory, n: int) -> list[int]:
    """``n`` notifications (and so ``n`` mails) to one new person, in one act."""
    person = make.person()

    def work() -> list[Notification]:
        to = db.merge(person)
        return [
            notifications.send(v, db, to, "request_pending", f"Message {i}", "body")
            for i in range(n)
        ]

    return [note.id for note in uow.run(db, work)]


def test_mail_waits_in_the_outbox_and_is_retried_with_backoff(vault, db, make: Factory):
    """No SMTP in the act; a server that is down delays the mail, twice as long each time."""
    port = _port()
    object.__setattr__(
        vault,
        "config",
        vault.config.with_(smtp_host="127.0.0.1", smtp_port=port, outbox_backoff_s=0.5),
    )
    (note_id,) = _queue(vault, db, make, 1)
    assert outbox.depth(vault) == 1

    def attempt() -> tuple[OutboxMessage, float, float]:
        """Drain once (nobody listens on the port); the message and the window it ran in."""
        before = utcnow()
        assert outbox.drain(vault) == 0
        after = utcnow()
        db.rollback()
        msg = db.scalar(sa.select(OutboxMessage))
        return (
            msg,
            (msg.next_attempt_at - after).total_seconds(),
            (msg.next_attempt_at - before).total_seconds(),
        )

    msg, low, high = attempt()
    assert (msg.attempts, msg.sent_at) == (1, None) and "ConnectionRefused" in msg.last_error
    assert low <= 0.5 <= high  # the first retry: backoff x 1
    due_in = (msg.next_attempt_at - utcnow()).total_seconds()
    assert outbox.drain(vault) == 0
    db.rollback()
    if due_in > 0.2:  # not due yet: not even tried
        assert db.scalar(sa.select(OutboxMessage.attempts)) == 1
    time.sleep(max(0.0, high) + 0.05)
    msg, low, high = attempt()
    assert msg.attempts == 2 and low <= 1.0 <= high  # the second: backoff x 2

    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        time.sleep(max(0.0, high) + 0.05)
        assert outbox.drain(vault) == 1
    finally:
        server.stop()
    assert [to for to, _ in inbox.messages] == [[msg.to_address]]
    db.rollback()
    assert db.get(Notification, note_id).emailed_at is not None
    assert outbox.depth(vault) == 0

    # A message that keeps failing is given up after outbox_max_attempts.
    object.__setattr__(
        vault, "config", vault.config.with_(outbox_max_attempts=1, outbox_backoff_s=0.01)
    )
    _queue(vault, db, make, 1)
    assert outbox.drain(vault) == 0
    db.rollback()
    failed = db.scalar(sa.select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
    assert failed.failed_at is not None and outbox.depth(vault) == 0


def test_scheduled_jobs_expire_requests_and_the_app_thread_runs_them_without_a_worker(
    vault, db, make: Factory
):
    sales = make.person()
    record = make.record()
    req = uow.run(
        db,
        access_requests.request_access,
        vault,
        db,
        Caller(person=sales),
        access_requests.Ask(reason="checking the terms for the audit", record_id=record.id),
    )
    db.execute(
        sa.update(AccessRequest)
        .where(AccessRequest.id == req.id)
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    grant = make.grant(make.person(), record)
    db.execute(
        sa.update(Grant).where(Grant.id == grant.id).values(expires_at=utcnow() - timedelta(1))
    )
    db.commit()
    scheduler = Scheduler(vault, [jobs.JOBS["expire-requests"]])
    try:
        scheduler.tick()
        scheduler.tick()  # not due again yet
    finally:
        scheduler.close()
    assert scheduler.runs == {"expire-requests": 1}
    with vault.sessions() as fresh:
        assert fresh.get(AccessRequest, req.id).status == "expired"
        assert fresh.get(Grant, grant.id).ended_at is not None
        # Run again (another day): nothing is marked twice.
        assert uow.run(fresh, access_requests.expire_due, vault, fresh, Caller.operator()) == 0
        actions = fresh.scalars(sa.select(audit_events.c.action)).all()
    assert actions.count("request:expire") == 1 and actions.count("grant:expire") == 1
    # A new check is one line: a registered job runs with the others.
    ran = []
    jobs.register(jobs.Job("test-check", lambda c: 3600, ran.append))
    try:
        scheduler = Scheduler(vault)
        scheduler.tick()
        scheduler.close()
    finally:
        del jobs.JOBS["test-check"]
    assert ran == [vault]
    # Without a worker (VAULT_BACKGROUND=app) the app's thread runs the jobs but the
    # sealing and policy ones, which that thread does itself.
    from vault.worker.process import app_jobs

    assert {j.name for j in app_jobs()} >= {"outbox", "expire-requests", "departure-watch"}
    assert not {"audit-seal", "site-policy", "loan-reminders"} & {j.name for j in app_jobs()}


def _env(config: Config, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_BACKGROUND": "worker",
        "VAULT_SMTP_HOST": "127.0.0.1",
        "VAULT_SMTP_PORT": str(port),
        "VAULT_WORKER_TICK_S": "0.05",
    }


def _leaders(v: Vault) -> list[int]:
    """The process ids of the workers holding the leader's lock (named by the worker)."""
    with v.engine.connect() as conn:
        names = conn.scalars(
            sa.text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"
            ),
            {"key": LEADER_LOCK_ID},
        ).all()
    return [int(name.rsplit(" ", 1)[1]) for name in names]


@pytest.fixture
def pg_vault(pg_admin, tmp_path: Path):
    url = databases.empty("postgresql", tmp_path)
    config = Config(home=tmp_path / "var", database_url=url, testing=True, seal_in_background=False)
    LocalKeyring.create(config.keyring)
    upgrade(url)
    v = Vault.open(config)
    try:
        yield v
    finally:
        v.close()
        databases.drop(url)


@pytest.mark.postgres
def test_two_workers_on_postgresql_send_each_message_once_and_one_leads(
    pg_vault: Vault, tmp_path: Path
):
    v = pg_vault
    inbox = Inbox()
    port = _port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    with v.sessions() as db:
        make = Factory(v, db)
        object.__setattr__(v, "config", v.config.with_(smtp_host="127.0.0.1", smtp_port=port))
        ids = _queue(v, db, make, 40)
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    procs = []
    for log in logs:
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", "from vault.cli import main; main()", "worker"],
                    env=_env(v.config, port),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        deadline = time.monotonic() + 30
        while len(inbox.messages) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.1)
        # Exactly once: every message, none twice, even while both drain.
        time.sleep(0.5)
        sent = [message_from_string(text)["Message-ID"] for _, text in inbox.messages]
        assert len(sent) == len(ids) == len(set(sent)), [p.read_text() for p in logs]
        assert outbox.depth(v) == 0
        # One leader, and it seals: every event is in the chain.
        leaders = _leaders(v)
        assert len(leaders) == 1
        # (The leader seals on its interval: the last send's event may wait one round.)
        deadline = time.monotonic() + 10
        events, chained = 0, -1
        while chained != events and time.monotonic() < deadline:
            with v.engine.connect() as conn:
                events = conn.scalar(sa.select(sa.func.count()).select_from(audit_events))
                chained = conn.scalar(sa.select(sa.func.count()).select_from(audit_chain))
            time.sleep(0.2)
        assert events > 0 and chained == events
        # SIGTERM stops the leader cleanly; the other one takes over.
        leader = next(p for p in procs if p.pid == leaders[0])
        leader.send_signal(signal.SIGTERM)
        assert leader.wait(timeout=15) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (not _leaders(v) or _leaders(v)[0] == leaders[0]):
            time.sleep(0.1)
        assert len(_leaders(v)) == 1 and _leaders(v)[0] != leaders[0]
        assert "worker stopped" in logs[procs.index(leader)].read_text()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=15)
        server.stop()
    assert all(p.returncode == 0 for p in procs)


def test_without_a_worker_the_app_thread_seals_and_sends_the_mail(vault, db, make: Factory):
    """The one-machine default (``VAULT_BACKGROUND=app``): the app's own thread does it."""
    from vault.web import create_app

    inbox = Inbox()
    port = _port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    config = vault.config.with_(
        smtp_host="127.0.0.1", smtp_port=port, seal_in_background=True, seal_interval_s=0.05
    )
    object.__setattr__(vault, "config", config)
    create_app(config, vault=vault)  # registers the scheduler on the vault's thread
    try:
        _queue(vault, db, make, 3)
        vault.start_sealer()
        deadline = time.monotonic() + 15
        chained = 0
        while (len(inbox.messages) < 3 or not chained) and time.monotonic() < deadline:
            time.sleep(0.05)
            with vault.engine.connect() as conn:
                chained = conn.scalar(sa.select(sa.func.count()).select_from(audit_chain))
    finally:
        vault.close()
        server.stop()
    assert len(inbox.messages) == 3 and chained > 0


def test_the_worker_runs_the_four_properties_check_once_per_interval(vault, db, make: Factory):
    # The leader's scheduled 四性检测 of every record: kept as a run with its signed audit
    # event; a second leader (a restart, another machine) within the interval does not
    # run it again, and once the interval has passed it runs anew.
    import json

    from vault.models import CheckRun

    make.record(content=b"a plain text record")
    db.commit()
    job = jobs.JOBS["four-properties"]
    assert job.leader_only and not job.in_app_thread
    for _ in range(2):  # two leaders in turn, within the day
        scheduler = Scheduler(vault, [job])
        try:
            scheduler.tick()
        finally:
            scheduler.close()
    with vault.sessions() as fresh:
        runs = fresh.scalars(sa.select(CheckRun).where(CheckRun.trigger == "schedule")).all()
        assert len(runs) == 1 and runs[0].records == 1 and runs[0].failures == 0
        bodies = fresh.scalars(
            sa.select(audit_events.c.body).where(audit_events.c.action == "check:run")
        ).all()
        assert [json.loads(b)["details"]["trigger"] for b in bodies] == ["schedule"]
        fresh.execute(
            sa.update(CheckRun).values(started_at=utcnow() - timedelta(days=1, minutes=1))
        )
        fresh.commit()
    assert job.run(vault) == 0  # a day later: due again, and the vault is clean
    with vault.sessions() as fresh:
        assert fresh.scalar(sa.select(sa.func.count()).select_from(CheckRun)) == 2
