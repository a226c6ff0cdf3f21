"""A load run that must hold: several app processes (gunicorn) and a worker on
PostgreSQL, locust's mix.

    .venv/bin/python -m tests.load.run --duration 600        (make load: the full run)
    .venv/bin/python -m tests.load.run --duration 600 --blob-store s3   (moto's emulator)
    (tests/load/test_load.py runs a 15-second one per shared blob store in make test)

Builds a fresh PostgreSQL database and a world (tests/load/world.py), starts ``SERVERS``
``archive-vault serve`` instances (``WORKERS`` sync workers each, each with its own
VAULT_HOME holding a copy of the key file: no shared folder) and one ``archive-vault
worker``; every process runs with ``VAULT_BACKGROUND=worker``, so requests never seal and
the worker alone chains the audit log. Attachments live in the shared blob store under
test (PostgreSQL's rows, or S3 on moto's server mode, an emulator). Drives the servers
with locust (tests/load/locustfile.py), watching the seal lag meanwhile, then stops the
app servers and then the worker, and checks: no failure (only the expected 403/409), every
answered consultation has its audit event, the worker sealed every event (none left out,
every checkpoint in its log and none in the app servers'), ``archive-vault audit verify``
passes on the whole chain, no one consulted more distinct records in the window than
the quota allows; and reports requests, errors, p50/p99 per kind, the worst seal lag and
the RSS of every process at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import sqlalchemy as sa

from tests import databases, s3emulator
from tests.factories import Factory
from tests.load.world import World, build
from tests.s3emulator import S3Emulator
from vault.config import Config
from vault.crypto import LocalKeyring
from vault.db import make_engine, make_sessionmaker
from vault.migrations import upgrade
from vault.runtime import Vault
from vault.web.metrics import seal_backlog

ROOT = Path(__file__).resolve().parents[2]
SERVERS = 2
WORKERS = 2
USERS = 16
_MIGRATING = threading.Lock()
STORES = ("postgresql", "s3")  # the shared blob stores (the local folder is one machine's)


@dataclass
class Report:
    duration_s: float
    kinds: dict
    expected_refusals: dict
    errors: dict
    rss_mb: dict = field(default_factory=dict)  # process -> (start, warmed up, end)
    consult_ok: int = 0
    consult_events: int = 0
    chain: str = ""
    quota: dict = field(default_factory=dict)  # person -> distinct records consulted
    quota_hour: int = 0  # the limit they were held to
    store: str = ""  # the blob store of the attachments
    blobs_in_store: int = 0  # attachment blobs found there afterwards
    seal_lag_max_s: float = 0.0  # the oldest unsealed event's age, at its worst during load
    checkpoints_during_load: int = 0  # signed while the load ran (the worker kept up)
    checkpoints: int = 0  # in the database at the end
    sealed_by: dict = field(default_factory=dict)  # process -> checkpoints in its audit log
    worker_rc: int | None = None

    @property
    def failures(self) -> int:
        return sum(k["failures"] for k in self.kinds.values())

    def table(self) -> str:
        lines = ["| kind | requests | failures | p50 ms | p99 ms |", "|---|---|---|---|---|"]
        for name, k in sorted(self.kinds.items()):
            lines.append(
                f"| {name} | {k['requests']} | {k['failures']} | {k['p50_ms']:.0f} | "
                f"{k['p99_ms']:.0f} |"
            )
        lines.append("")
        lines.append(f"blob store: {self.store} ({self.blobs_in_store} attachment blobs)")
        lines.append(
            f"worker: exit {self.worker_rc}; checkpoints {self.checkpoints} "
            f"({self.checkpoints_during_load} during the load), worst seal lag "
            f"{self.seal_lag_max_s:.1f} s; checkpoints by process {self.sealed_by}"
        )
        lines.append("")
        lines.append("| process | RSS at start MB | warmed up MB | at end MB |")
        lines.append("|---|---|---|---|")
        for proc, (start, warm, end) in sorted(self.rss_mb.items()):
            lines.append(f"| {proc} | {start:.1f} | {warm:.1f} | {end:.1f} |")
        return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited ({proc.returncode})"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer")


def _rss(procs: dict[str, subprocess.Popen]) -> dict[str, float]:
    out = {}
    for name, proc in procs.items():
        try:
            master = psutil.Process(proc.pid)
            out[f"{name} master"] = master.memory_info().rss / 2**20
            for i, child in enumerate(sorted(master.children(), key=lambda c: c.pid)):
                out[f"{name} worker {i + 1}"] = child.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            pass
    return out


class _Watch(threading.Thread):
    """The seal lag and the checkpoints, read from the database every second while the
    load runs (as the ``vault_audit_seal_lag_seconds`` gauge reads them)."""

    def __init__(self, url: str) -> None:
        super().__init__(name="seal-watch", daemon=True)
        self.engine = sa.create_engine(url)
        self.stop = threading.Event()
        self.worst = 0.0
        self.checkpoints = 0

    def run(self) -> None:
        while not self.stop.wait(1.0):
            backlog = seal_backlog(self.engine)
            if backlog is not None:
                self.worst = max(self.worst, backlog[0])

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=10)
        with self.engine.connect() as conn:
            self.checkpoints = _count(conn, "SELECT count(*) FROM audit_checkpoints")
        self.engine.dispose()


def _count(conn: sa.Connection, sql: str, **params: object) -> int:
    return int(conn.execute(sa.text(sql), params).scalar_one())


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run(
    duration: float,
    folder: Path,
    users: int = USERS,
    *,
    store: str = "postgresql",
    s3: S3Emulator | None = None,
    quota_hour: int = 20,
) -> Report:
    """One load run in ``folder`` with attachments in ``store`` (``s3``: on ``s3``, moto's
    emulator); the databases are dropped at the end."""
    assert store in STORES, store
    folder.mkdir(parents=True, exist_ok=True)
    assert (store == "s3") == (s3 is not None), "the s3 store runs on the emulator"
    store_env = s3.env(s3.bucket("load")) if s3 is not None else {"VAULT_BLOB_STORE": store}
    url = databases.empty("postgresql", folder)
    shares_url = databases.empty("postgresql", folder)  # the key shares, shared by both apps
    servers: dict[str, subprocess.Popen] = {}
    logs = []
    try:
        with _MIGRATING:  # alembic's context is global: one migration at a time
            upgrade(url)
        base = Config(
            home=folder / "builder",
            database_url=url,
            shares_url=shares_url,
            seal_in_background=False,
            blob_store=store,
            s3_bucket=store_env.get("VAULT_S3_BUCKET", ""),
            s3_endpoint_url=store_env.get("VAULT_S3_ENDPOINT_URL", ""),
            quota_hour=quota_hour,
        )
        LocalKeyring.create(base.keyring)
        v = Vault.open(base)
        engine = make_engine(url, immediate=False)
        with make_sessionmaker(engine)() as db:
            world = build(v, Factory(v, db))
        engine.dispose()
        v.close()
        world_file = folder / "world.json"
        world.save(world_file)
        env_common = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "VAULT_DATABASE_URL": url,
            "VAULT_SHARES_URL": shares_url,
            "VAULT_SECRET_KEY": "load-test-secret",
            "VAULT_PAGE_QUOTA_HOUR": "100000",
            "VAULT_PAGE_QUOTA_DAY": "100000",
            "VAULT_QUOTA_HOUR": str(quota_hour),
            # Requests never seal: the worker does (one leader), at its default pace.
            "VAULT_BACKGROUND": "worker",
            **store_env,
        }
        env_common.pop("PROMETHEUS_MULTIPROC_DIR", None)
        hosts = []
        for n in range(1, SERVERS + 1):
            home = folder / f"app{n}"
            home.mkdir(mode=0o700)
            shutil.copy(base.keyring, home / "keyring.json")
            (home / "keyring.json").chmod(0o600)
            port = _free_port()
            log = (folder / f"app{n}.log").open("wb")
            logs.append(log)
            servers[f"app{n}"] = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from vault.cli import main; main()",
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(WORKERS),
                ],
                env={**env_common, "VAULT_HOME": str(home)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            hosts.append(f"http://127.0.0.1:{port}")
        home = folder / "worker"
        home.mkdir(mode=0o700)
        shutil.copy(base.keyring, home / "keyring.json")
        (home / "keyring.json").chmod(0o600)
        log = (folder / "worker.log").open("wb")
        logs.append(log)
        servers["worker"] = subprocess.Popen(
            [sys.executable, "-c", "from vault.cli import main; main()", "worker"],
            env={**env_common, "VAULT_HOME": str(home)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for (_name, proc), host in zip(servers.items(), hosts, strict=False):
            _wait(f"{host}/readyz", proc)
        assert servers["worker"].poll() is None, (folder / "worker.log").read_text()
        rss_start = _rss(servers)
        watch = _Watch(url)
        watch.start()
        # Once warmed up (imports, caches, connection pools): from there memory must stay flat.
        warm: dict[str, float] = {}
        sampler = threading.Timer(min(30.0, duration / 3), lambda: warm.update(_rss(servers)))
        sampler.start()
        summary = folder / "summary.json"
        locust = subprocess.run(
            [
                str(Path(sys.executable).parent / "locust"),
                "-f",
                str(ROOT / "tests/load/locustfile.py"),
                "--headless",
                "-u",
                str(users),
                "-r",
                str(users),
                "-t",
                f"{int(duration)}s",
                "--host",
                hosts[0],
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--stop-timeout",
                "1",
            ],
            env={
                **env_common,
                "LOAD_WORLD": str(world_file),
                "LOAD_HOSTS": ",".join(hosts),
                "LOAD_SUMMARY": str(summary),
            },
            capture_output=True,
            text=True,
            timeout=duration + 120,
        )
        assert summary.exists(), locust.stdout[-3000:] + locust.stderr[-3000:]
        rss_end = _rss(servers)
        sampler.cancel()
        watch.finish()
    finally:
        # The app servers first, then the worker: its last seal, as it stops, chains
        # whatever the servers' last requests appended.
        _stop([p for name, p in servers.items() if name != "worker"])
        _stop([p for name, p in servers.items() if name == "worker"])
        for log in logs:
            log.close()
    try:
        got = json.loads(summary.read_text())
        report = Report(duration_s=duration, store=store, **got)
        report.worker_rc = servers["worker"].returncode
        report.seal_lag_max_s = watch.worst
        report.checkpoints_during_load = watch.checkpoints
        for name in servers:
            audit_log = folder / name / "logs" / "audit.jsonl"
            lines = audit_log.read_text().splitlines() if audit_log.exists() else []
            report.sealed_by[name] = sum('"audit.checkpoint"' in line for line in lines)
        report.rss_mb = {
            k: (rss_start.get(k, 0.0), warm.get(k, 0.0), rss_end.get(k, 0.0))
            for k in rss_start.keys() | rss_end
        }
        _check_database(url, base, world, report)
        report.blobs_in_store = _blobs(url, store, store_env, s3)
    finally:
        databases.drop(url)
        databases.drop(shares_url)
    return report


def _blobs(url: str, store: str, store_env: dict[str, str], s3: S3Emulator | None) -> int:
    """How many attachment blobs the store under test holds."""
    if s3 is not None:
        import boto3

        listed = boto3.client("s3", endpoint_url=s3.url).list_objects_v2(
            Bucket=store_env["VAULT_S3_BUCKET"]
        )
        return int(listed.get("KeyCount", 0))
    assert store == "postgresql"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = _count(conn, "SELECT count(DISTINCT blob_key) FROM blob_segments")
    engine.dispose()
    return found


def _check_database(url: str, base: Config, world: World, report: Report) -> None:
    """The audit chain (sealed by the worker, nothing after it) and the quota, read back."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VAULT_HOME": str(base.home)}
    env["VAULT_DATABASE_URL"] = url
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        # Read before anything else seals: what the worker left out stays out.
        unsealed = _count(
            conn,
            "SELECT count(*) FROM audit_events e WHERE NOT EXISTS "
            "(SELECT 1 FROM audit_chain c WHERE c.event_seq = e.seq)",
        )
        report.checkpoints = _count(conn, "SELECT count(*) FROM audit_checkpoints")
    engine.dispose()
    assert unsealed == 0, f"the worker left {unsealed} audit events out of the chain"
    verify = subprocess.run(
        [sys.executable, "-c", "from vault.cli import main; main()", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = (verify.stdout + verify.stderr).strip().splitlines()
    # The verdict line (a note on the missing witness may follow it).
    report.chain = next((line for line in said if "audit log" in line), said[-1] if said else "")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report.quota_hour = world.quota_hour
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        report.consult_events = conn.execute(
            sa.text(
                "SELECT count(*) FROM audit_events WHERE action = 'record:consult' "
                "AND outcome = 'ok'"
            )
        ).scalar_one()
        for who in world.greedy + world.readers:
            report.quota[who["email"]] = conn.execute(
                sa.text(
                    "SELECT count(DISTINCT resource_record) FROM audit_events WHERE "
                    "actor_person_id = :p AND action = 'record:consult' AND outcome = 'ok'"
                ),
                {"p": who["id"]},
            ).scalar_one()
    engine.dispose()
    answered = sum(
        k["requests"] - k["failures"] for n, k in report.kinds.items() if n.startswith("consult")
    )
    refused = sum(n for key, n in report.expected_refusals.items() if key.startswith("consult"))
    report.consult_ok = answered - refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument(
        "--blob-store", choices=STORES, default="postgresql", help="where attachments live"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vault-load-") as tmp:
        if args.blob_store == "s3":
            with s3emulator.running() as s3:
                report = run(args.duration, Path(tmp), users=args.users, store="s3", s3=s3)
        else:
            report = run(args.duration, Path(tmp), users=args.users)
    databases.wait_for_drops()
    print(report.table())
    print(f"\nexpected refusals: {report.expected_refusals}")
    print(f"errors: {report.errors or 'none'}")
    print(f"consultations answered {report.consult_ok}, audited {report.consult_events}")
    print(
        f"most distinct records one person consulted: {max(report.quota.values())}"
        f" (quota {report.quota_hour})"
    )
    print(f"audit verify: {report.chain}")
    if (
        report.failures
        or report.errors
        or report.worker_rc != 0
        or report.sealed_by.get("worker", 0) != report.checkpoints
        or report.checkpoints_during_load == 0
        or report.consult_ok != report.consult_events
        or max(report.quota.values()) > report.quota_hour
    ):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
