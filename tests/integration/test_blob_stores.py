"""The shared blob stores: PostgreSQL rows and S3, with the local folder's promises.

The S3 store is tested against moto's server mode (``moto_server``, tests/s3emulator.py):
an S3 *emulator* speaking the S3 HTTP API on 127.0.0.1, not Amazon S3 or any
S3-compatible product (none installs here). boto3 talks to it over HTTP exactly as it
would to a real endpoint.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests import databases
from tests.databases import upgrade
from tests.factories import Factory
from tests.s3emulator import CREDENTIALS, S3Emulator
from tests.soak import size
from vault import uow
from vault.archive import records
from vault.blobs import PART_SIZE, S3BlobStore, WithLocalFallback
from vault.caller import Caller
from vault.cli import main
from vault.config import Config
from vault.crypto import DecryptionError, LocalKeyring
from vault.models import Attachment, BlobSegment
from vault.runtime import Vault
from vault.web import create_app

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "vault-blobs"
PURPOSE = "checking the scanned contract"
KILLS, BLOBS = size(1, 10), size(8, 40)


@pytest.fixture(scope="module")
def s3(s3_emulator: S3Emulator) -> dict[str, str]:
    """The emulator's settings and credentials, with this module's bucket."""
    boto3.client("s3", endpoint_url=s3_emulator.url).create_bucket(Bucket=BUCKET)
    return {**CREDENTIALS, "VAULT_S3_BUCKET": BUCKET, "VAULT_S3_ENDPOINT_URL": s3_emulator.url}


def _open(tmp_path: Path, url: str, **settings: object) -> Vault:
    config = Config(
        home=tmp_path / "var",
        database_url=url,
        testing=True,
        secret_key="blob-secret",
        seal_in_background=False,
        **settings,  # type: ignore[arg-type]
    )
    if not config.keyring.exists():
        LocalKeyring.create(config.keyring)
        upgrade(url)
    return Vault.open(config)


class Pattern(io.RawIOBase):
    """``size`` bytes of a repeating pattern, made as they are read (never held whole)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = (b"CONTRACT" * (n // 8 + 1))[:n]
        self.left -= n
        return n


def _attach(v: Vault, db, make: Factory, stream, name: str = "scan.bin"):
    person = make.person()
    record = make.record(make.client("general"), by=person)
    att = uow.run(
        db,
        records.attach,
        v,
        db,
        Caller(person=person),
        record.id,
        filename=name,
        content_type="application/octet-stream",
        stream=stream,
    )
    return record.id, att


def _download(v: Vault, token: str, record_id: int, att_id: int, *, buffered: bool = True):
    client = create_app(v.config, vault=v).test_client()
    return client.get(
        f"/api/v1/records/{record_id}/attachments/{att_id}/content",
        query_string={"purpose": PURPOSE},
        headers={"Authorization": f"Bearer {token}"},
        buffered=buffered,
    )


def test_s3_store_on_moto_is_multipart_atomic_and_tamper_checked(s3, tmp_path: Path):
    v = _open(
        tmp_path,
        f"sqlite:///{tmp_path / 'vault.db'}",
        blob_store="s3",
        s3_bucket=BUCKET,
        s3_endpoint_url=s3["VAULT_S3_ENDPOINT_URL"],
        s3_prefix="attachments/",
    )
    try:
        with v.sessions() as db:
            make = Factory(v, db)
            size = PART_SIZE + 3 * 1024 * 1024 + 5  # two parts of a multipart upload
            record_id, att = _attach(v, db, make, Pattern(size))
            token = make.token(make.custodian("general"))
        assert v.blobs.name == "s3" and v.blobs.exists(att.blob_key)
        raw = boto3.client("s3", endpoint_url=s3["VAULT_S3_ENDPOINT_URL"])
        obj = raw.get_object(Bucket=BUCKET, Key=f"attachments/{att.blob_key[:2]}/{att.blob_key}")
        stored = obj["Body"].read()
        assert len(stored) > size and b"CONTRACT" not in stored  # ciphertext only
        got = _download(v, token, record_id, att.id)
        assert got.status_code == 200 and got.data == (b"CONTRACT" * (size // 8 + 1))[:size]

        # A tampered object: the stream breaks off at the bad segment.
        bad = bytearray(stored)
        bad[2 * 1024 * 1024 + 100] ^= 1
        raw.put_object(Bucket=BUCKET, Key=_key(att), Body=bytes(bad))
        streamed = _download(v, token, record_id, att.id, buffered=False)
        assert streamed.status_code == 200
        with pytest.raises(DecryptionError):
            b"".join(streamed.response)
        streamed.close()

        # A writer that fails half way leaves neither an object nor an open upload.
        store = v.blobs
        assert isinstance(store, S3BlobStore)
        key = store.new_key()
        with pytest.raises(RuntimeError), store.writer(key) as out:
            out.write(b"x" * (PART_SIZE + 10))
            raise RuntimeError("the upload broke off")
        assert not store.exists(key)
        assert not raw.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    finally:
        v.close()


def _key(att: Attachment) -> str:
    return f"attachments/{att.blob_key[:2]}/{att.blob_key}"


@pytest.mark.postgres
def test_postgresql_store_streams_in_flat_memory_and_blobs_migrate_resumes(
    pg_admin, s3, tmp_path: Path
):
    """Rows of about a segment each, written and read a row at a time; ``blobs migrate``
    moves a vault that kept its blobs in the local folder, killed half way and rerun."""
    url = databases.empty("postgresql", tmp_path)
    try:
        v = _open(tmp_path, url)
        assert v.blobs.name == "postgresql"  # the default on PostgreSQL
        peaks = {}
        with v.sessions() as db:
            make = Factory(v, db)
            token = make.token(make.custodian("general"))
            for size in (2 << 20, 8 << 20):
                tracemalloc.start()
                record_id, att = _attach(v, db, make, Pattern(size))
                write_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()
                got = _download(v, token, record_id, att.id, buffered=False)
                total = sum(len(chunk) for chunk in got.response)
                got.close()
                peaks[size] = (write_peak, tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
                assert total == size
        with v.engine.connect() as conn:
            rows = conn.scalar(
                sa.select(sa.func.count()).where(BlobSegment.blob_key == att.blob_key)
            )
        assert rows == 9  # 8 full segments, then the last (empty) one
        # Flat: four times the bytes (6 MiB more), not a segment more memory, under 10 MB
        # (the first run also pays for one-time imports and caches).
        small, large = peaks[2 << 20], peaks[8 << 20]
        assert all(b < a + (1 << 20) for a, b in zip(small, large, strict=True)), peaks
        assert max(large) < 10 * 1024 * 1024, peaks
        v.close()

        # A vault on the local folder (as before this store existed), with some blobs.
        v = _open(tmp_path, url, blob_store="local")
        with v.sessions() as db:
            make = Factory(v, db)
            files = {}
            token = make.token(make.custodian("general"))
            for i in range(BLOBS):
                payload = f"scan {i} ".encode() * 1000
                rid, a = _attach(v, db, make, io.BytesIO(payload), name=f"scan{i}.pdf")
                files[a.id] = (rid, payload)
        v.close()
        # Upgraded to the PostgreSQL default before migrating: the old folder still reads.
        v = _open(tmp_path, url)
        try:
            assert isinstance(v.blobs, WithLocalFallback)
            rid, payload = files[a.id]
            assert _download(v, token, rid, a.id).data == payload
        finally:
            v.close()
        env = {
            **os.environ,
            **s3,
            "PYTHONPATH": str(ROOT),
            "VAULT_HOME": str(tmp_path / "var"),
            "VAULT_DATABASE_URL": url,
        }
        cli = [sys.executable, "-c", "from vault.cli import main; main()", "blobs", "migrate"]
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        keys = [a.blob_key for a in _atts(engine, files)]

        def copied() -> int:
            with engine.connect() as conn:
                return int(
                    conn.scalar(
                        sa.select(sa.func.count(sa.distinct(BlobSegment.blob_key))).where(
                            BlobSegment.blob_key.in_(keys)
                        )
                    )
                )

        # Killed (SIGKILL, no chance to clean up) while it copies, two blobs a second; each
        # run resumes where the last one was killed (once here, ten times in `make soak`).
        first = 0
        for _ in range(KILLS):
            proc = subprocess.Popen(
                [*cli, "--to", "postgresql", "--rate", "2"], env=env, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 30
            while copied() < first + 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert first + 2 <= copied() < len(files)
            first = copied()
        runner = CliRunner(env=env)  # the rest in this process: no start-up to wait for
        again = runner.invoke(main, ["blobs", "migrate", "--to", "postgresql"])
        assert again.exit_code == 0, again.output
        assert f"copied {len(files) - first} blobs" in again.stdout
        assert f"{first + 2} were there already" in again.stdout  # and the two big ones
        assert copied() == len(files)
        # ... then to S3, from PostgreSQL.
        to_s3 = runner.invoke(main, ["blobs", "migrate", "--from", "postgresql", "--to", "s3"])
        assert to_s3.exit_code == 0, to_s3.output
        assert "set VAULT_BLOB_STORE=s3" in to_s3.stdout
        status = runner.invoke(main, ["blobs", "status"], env={"VAULT_BLOB_STORE": "s3"})
        assert f"attachments: {BLOBS + 2}, of which in this store: {BLOBS + 2}" in status.stdout
        bad = runner.invoke(main, ["blobs", "migrate", "--to", "nowhere"])
        assert bad.exit_code == 2 and "Traceback" not in bad.output
        same = runner.invoke(main, ["blobs", "migrate", "--from", "s3", "--to", "s3"])
        assert same.exit_code == 2 and "the same store" in same.output
        engine.dispose()

        # The local folder gone, every attachment downloads from each shared store.
        (tmp_path / "var" / "blobs").rename(tmp_path / "old-blobs")
        for settings in (
            {},
            {
                "blob_store": "s3",
                "s3_bucket": BUCKET,
                "s3_endpoint_url": s3["VAULT_S3_ENDPOINT_URL"],
            },
        ):
            v = _open(tmp_path, url, **settings)
            try:
                for att_id, (rid, payload) in files.items():
                    got = _download(v, token, rid, att_id)
                    assert got.status_code == 200 and got.data == payload, v.blobs.name
            finally:
                v.close()
    finally:
        databases.drop(url)


def _atts(engine: sa.Engine, files: dict[int, tuple[int, bytes]]) -> list[Attachment]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(Attachment).where(Attachment.id.in_(files))).all())
