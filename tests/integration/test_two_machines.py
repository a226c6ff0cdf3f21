"""Two machines, one world: two app servers (``archive-vault serve``, gunicorn, real
processes on two ports) with different ``VAULT_HOME``s and no shared folder, one
PostgreSQL, one key provider, and one ``archive-vault worker``.

The key provider shared by both is OpenBao's Transit engine (the ``bao`` dev server):
the key-encryption key lives there. The vault's own secrets (the audit MAC key, the
blind-index key, the checkpoint signing key) are still in the key file, which each
machine gets a copy of, as a deployment would from its secret store. Attachments go to
a shared blob store, the test once for each: PostgreSQL's rows (the default on
PostgreSQL) and S3 -- here moto's server mode, an S3 *emulator* on 127.0.0.1
(tests/s3emulator.py), not Amazon S3 nor any S3-compatible product. Nothing else is
shared. (The local folder, SQLite's default, is one machine's: two cannot share it.)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import boto3
import pytest
import requests
import sqlalchemy as sa

from audit.schema import audit_chain, audit_events
from tests import databases
from tests.databases import upgrade
from tests.factories import Factory
from tests.keyproviders import Bao, free_port
from tests.s3emulator import S3Emulator
from vault.config import Config
from vault.crypto import LocalKeyring
from vault.models import BlobSegment
from vault.runtime import Vault, open_provider

ROOT = Path(__file__).resolve().parents[2]
PURPOSE = "checking the signed terms"
QUOTA = 4  # the custodian's distinct records an hour, on both machines


STORES = ("postgresql", "s3")


def _env(config: Config, bao: Bao, home: Path, store: dict[str, str]) -> dict[str, str]:
    return {
        # The record key shares in a database of their own (not the vault's, nor a folder).
        "VAULT_SHARES_URL": config.shares_url,
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VAULT_HOME": str(home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "two-machines-secret",
        "VAULT_KEY_PROVIDER": "transit",
        **bao.env(),
        "VAULT_BACKGROUND": "worker",
        "VAULT_CUSTODIAN_QUOTA_HOUR": str(QUOTA),
        "VAULT_WORKER_TICK_S": "0.2",
        **store,
    }


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from vault.cli import main; main()", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=env["VAULT_HOME"],
        )


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert proc.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


pytestmark = pytest.mark.postgres


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> dict[str, str]:
    """The shared blob store's settings: PostgreSQL's rows, or a bucket of moto's emulator."""
    if request.param == "postgresql":
        return {"VAULT_BLOB_STORE": "postgresql"}
    emulator: S3Emulator = request.getfixturevalue("s3_emulator")
    return emulator.env(emulator.bucket("two-machines"))


@pytest.fixture
def world(
    pg_admin, bao: Bao, store: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Config, Vault, Bao]]:
    url = databases.empty("postgresql", tmp_path)
    shares = databases.empty("postgresql", tmp_path)
    config = bao.settings(
        Config(
            home=tmp_path / "a",
            database_url=url,
            shares_url=shares,
            testing=True,
            secret_key="two-machines-secret",
            seal_in_background=False,
            background="worker",
            custodian_quota_hour=QUOTA,
            blob_store=store["VAULT_BLOB_STORE"],
            s3_bucket=store.get("VAULT_S3_BUCKET", ""),
            s3_endpoint_url=store.get("VAULT_S3_ENDPOINT_URL", ""),
        )
    )
    LocalKeyring.create(config.keyring)
    upgrade(url)
    open_provider(config).ensure_key()  # type: ignore[attr-defined]
    (tmp_path / "b").mkdir(mode=0o700)
    shutil.copy2(config.keyring, tmp_path / "b" / "keyring.json")  # the secrets, copied
    v = Vault.open(config)
    try:
        yield config, v, bao
    finally:
        v.close()
        databases.drop(url)
        databases.drop(shares)


@pytest.mark.long
def test_two_app_servers_and_a_worker_share_only_postgresql_and_the_key_provider(
    world, store: dict[str, str], tmp_path: Path
):
    config, v, bao = world
    with v.sessions() as db:
        make = Factory(v, db)
        sales, custodian = make.person(), make.custodian("general")
        leaver, admin = make.person(), make.person(roles=("employee", "admin"))
        s_tok, c_tok = make.token(sales), make.token(custodian)
        l_tok, a_tok = make.token(leaver), make.token(admin)
        client = make.client("general")
        others = [make.record(client, by=sales, content=f"quota-{i}".encode()) for i in range(8)]
        grant_record = make.record(client, by=sales)
        make.grant(leaver, grant_record)
        client_id, other_ids, grant_id = client.id, [r.id for r in others], grant_record.id
        leaver_id = leaver.id

    homes = {name: tmp_path / name for name in ("a", "b")}
    ports = {name: free_port() for name in homes}
    servers = {
        name: _start(
            ["serve", "--port", str(ports[name]), "--workers", "1"],
            _env(config, bao, home, store),
            tmp_path / f"serve-{name}.log",
        )
        for name, home in homes.items()
    }
    worker = None
    try:
        a, b = (f"http://127.0.0.1:{ports[n]}/api/v1" for n in ("a", "b"))
        for name, proc in servers.items():
            _wait_ready(f"http://127.0.0.1:{ports[name]}", proc, tmp_path / f"serve-{name}.log")

        def h(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        # A record deposited through A is consulted through B.
        got = requests.post(
            f"{a}/records",
            headers=h(s_tok),
            json={
                "client_id": client_id,
                "section": "credit",
                "title": "Facility letter",
                "content": "TWO-MACHINES terms: 3.5% over 5 years",
            },
            timeout=30,
        )
        assert got.status_code == 201, got.text
        record_id = got.json()["id"]
        read = requests.get(
            f"{b}/records/{record_id}/content", params={"purpose": PURPOSE}, headers=h(c_tok)
        )
        assert read.status_code == 200, read.text
        assert read.json()["content"] == "TWO-MACHINES terms: 3.5% over 5 years"

        # An attachment uploaded to A downloads from B (two segments, in the shared store).
        payload = os.urandom(1024 * 1024 + 77)
        up = requests.post(
            f"{a}/records/{record_id}/attachments",
            headers=h(s_tok),
            files={"file": ("scan.bin", payload, "application/octet-stream")},
            timeout=60,
        )
        assert up.status_code == 201, up.text
        down = requests.get(
            f"{b}/records/{record_id}/attachments/{up.json()['id']}/content",
            params={"purpose": PURPOSE},
            headers=h(c_tok),
            timeout=60,
        )
        assert down.status_code == 200 and down.content == payload
        # ... and it is in the shared store: PostgreSQL's rows, or the emulator's bucket.
        if store["VAULT_BLOB_STORE"] == "s3":
            listed = boto3.client("s3", endpoint_url=store["VAULT_S3_ENDPOINT_URL"])
            found = listed.list_objects_v2(Bucket=store["VAULT_S3_BUCKET"])
            assert found["KeyCount"] == 1 and found["Contents"][0]["Size"] > len(payload)
        with v.engine.connect() as conn:
            rows = conn.scalar(sa.select(sa.func.count()).select_from(BlobSegment))
        assert (rows >= 2) if store["VAULT_BLOB_STORE"] == "postgresql" else rows == 0, rows
        assert not any((homes["a"] / "blobs").glob("*")) and not (homes["b"] / "blobs").exists()
        # ... nor a key share: every record's share is in the shares database.
        assert not (homes["a"] / "shares.db").exists() and not (homes["b"] / "shares.db").exists()

        # A quota crossed half on A and half on B, at the same time, holds exactly: the
        # record above (and its attachment: the same record) was one, so of eight more
        # distinct records QUOTA - 1 open, whichever machine each request went to.
        def consult(i: int) -> int:
            base = a if i % 2 else b
            return requests.get(
                f"{base}/records/{other_ids[i]}/content",
                params={"purpose": PURPOSE},
                headers=h(c_tok),
                timeout=60,
            ).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(consult, range(8)))
        assert sorted(statuses) == [200] * (QUOTA - 1) + [403] * (8 - QUOTA + 1), statuses

        # A departure set on A blocks the person on B at their next request.
        assert (
            requests.get(
                f"{b}/records/{grant_id}/content", params={"purpose": PURPOSE}, headers=h(l_tok)
            ).status_code
            == 200
        )
        set_on_a = requests.post(
            f"{a}/people/{leaver_id}/departure",
            headers=h(a_tok),
            json={"leaving_on": date.today().isoformat()},
        )
        assert set_on_a.status_code == 200, set_on_a.text
        refused = requests.get(
            f"{b}/records/{grant_id}/content", params={"purpose": PURPOSE}, headers=h(l_tok)
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] in ("person_departing", "person_disabled"), refused.text

        # The app servers do not seal (a worker is deployed): nothing is chained yet,
        # though the first events committed seconds ago (an app sealer waits 1 s at most).
        with v.engine.connect() as conn:
            events = conn.scalar(sa.select(sa.func.count()).select_from(audit_events))
            chained = conn.scalar(sa.select(sa.func.count()).select_from(audit_chain))
        assert events > 10 and chained == 0

        # One worker seals the chain; it verifies.
        worker = _start(["worker"], _env(config, bao, homes["b"], store), tmp_path / "worker.log")
        deadline = time.monotonic() + 30
        while chained < events and time.monotonic() < deadline:
            time.sleep(0.2)
            with v.engine.connect() as conn:
                chained = conn.scalar(sa.select(sa.func.count()).select_from(audit_chain))
        assert chained >= events, (tmp_path / "worker.log").read_text()
        assert _stop(worker) == 0, (tmp_path / "worker.log").read_text()
        with v.engine.connect() as conn:
            report = v.audit.verify(conn)  # what `archive-vault audit verify` checks
        assert report.ok, report
    finally:
        for proc in [*servers.values(), *([worker] if worker else [])]:
            _stop(proc)
