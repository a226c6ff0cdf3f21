"""Backup and restore: seconds and MB/s for a vault of many records and attachments, and
the national suite's cost: SM4-GCM against AES-256-GCM for the vault's field and stream.

Run ``.venv/bin/python bench/backup_bench.py [--backend sqlite|postgresql] [--records 20000]
[--blobs 200] [--blob-kib 256]``. The catalogue is inserted in bulk (``_common``), the
attachments through ``records.attach`` (real SM4/AES streams into the blob store); then
``backups.announce``/``write`` into a new folder and ``backups.restore`` into a new empty
vault holding a copy of the key file, as ``archive-vault backup`` / ``restore`` do.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import _common as common
import sqlalchemy as sa

from vault.archive import records
from vault.caller import Caller
from vault.crypto import (
    DataKey,
    decrypt_field,
    decrypt_stream_to,
    encrypt_field,
    encrypt_stream,
    suites,
)
from vault.keys import backups
from vault.migrations import upgrade
from vault.models import Person
from vault.runtime import Vault
from vault.uow import unit_of_work

MIB = 1 << 20


def _cipher_rates() -> None:
    """MB/s of the vault's own field and stream encryption under each suite."""
    dek = DataKey.generate()
    data = os.urandom(32 * MIB)
    field = os.urandom(200)
    for cipher in (suites.AES_256_GCM, suites.SM4_GCM):
        sealed = io.BytesIO()
        start = time.perf_counter()
        encrypt_stream(dek, io.BytesIO(data), sealed, aad=b"bench", cipher=cipher)
        enc = len(data) / MIB / (time.perf_counter() - start)
        start = time.perf_counter()
        decrypt_stream_to(dek, io.BytesIO(sealed.getvalue()), io.BytesIO(), aad=b"bench")
        dec = len(data) / MIB / (time.perf_counter() - start)
        place = {"record_id": "1", "field": "content", "version": 1}
        start = time.perf_counter()
        for _ in range(5000):
            ct = encrypt_field(dek, field, cipher=cipher, **place)
            decrypt_field(dek, ct, **place)
        per_s = 5000 / (time.perf_counter() - start)
        print(
            f"{cipher:12} stream encrypt {enc:7.1f} MiB/s, decrypt {dec:7.1f} MiB/s; "
            f"200-byte field seal+open {per_s:8.0f}/s"
        )


def _pg_database() -> tuple[str, sa.Engine]:
    admin = sa.create_engine(common.PG_URL, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.make_url(common.PG_URL).set(database=name).render_as_string(False), admin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="sqlite", choices=common.BACKENDS)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--blobs", type=int, default=200)
    parser.add_argument("--blob-kib", type=int, default=256)
    parser.add_argument("--algorithms", default="standard", choices=("standard", "sm"))
    args = parser.parse_args()
    _cipher_rates()
    tmp = Path(tempfile.mkdtemp(prefix="backup-bench-"))
    made: list[tuple[str, sa.Engine]] = []
    try:
        urls = []
        for _ in range(2):
            if args.backend == "sqlite":
                urls.append(f"sqlite:///{tmp / f'vault{len(urls)}.db'}")
            else:
                made.append(_pg_database())
                urls.append(made[-1][0])
        v = common.open_vault(tmp / "src", urls[0], algorithms=args.algorithms)
        staff = common.staff(v, 1, 1, tokens_for=0)
        ids = common.catalogue(v, clients=max(1, args.records // 50), records=args.records)
        payload = os.urandom(args.blob_kib * 1024)
        with unit_of_work(v) as db:
            person = db.get(Person, staff.custodians[0].id)
            for n in range(args.blobs):
                records.attach(v, db, Caller(person=person), ids[n % len(ids)],
                               filename="scan.bin", content_type="application/octet-stream",
                               stream=io.BytesIO(payload))  # fmt: skip
        common.seal(v)
        folder = tmp / "backup"
        start = time.perf_counter()
        with unit_of_work(v) as db:
            backups.announce(v, db, Caller.operator(), folder)
        report = backups.write(v, folder)
        took = time.perf_counter() - start
        print(
            f"{args.backend}: backup of {args.records} records, {report.blobs} blobs, "
            f"{report.events} events: {report.bytes / MIB:.1f} MiB in {took:.2f} s "
            f"({report.bytes / MIB / took:.1f} MiB/s)"
        )
        v.close()
        (tmp / "dst").mkdir(mode=0o700)
        shutil.copy2(tmp / "src" / "keyring.json", tmp / "dst" / "keyring.json")
        upgrade(urls[1])
        target = Vault.open(
            v.config.with_(
                home=tmp / "dst",
                database_url=urls[1],
                keyring_path=None,
                blob_dir=None,
                log_dir=None,
            )
        )
        start = time.perf_counter()
        restored = backups.restore(target, folder)
        took = time.perf_counter() - start
        print(
            f"{args.backend}: restore of {restored.records} records, {restored.blobs} blobs "
            f"in {took:.2f} s ({report.bytes / MIB / took:.1f} MiB/s)"
        )
        target.close()
    finally:
        for url, admin in made:
            with admin.connect() as conn:
                name = sa.make_url(url).database
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
