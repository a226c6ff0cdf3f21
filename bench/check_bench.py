"""The four-properties check (四性检测) over a large archive: records per second, total time.

Run ``.venv/bin/python bench/check_bench.py [--backend sqlite|postgresql|both]
[--records 100000] [--attachments 500]``. The archive is filed in bulk as a deposit
would file it: each record with its own data key, its content sealed under it, the
content's keyed digest on the card and an intake event (``record:deposit``, carrying
the digest) in the audit log, sealed into the chain; a few records get attachments
through the real service (blobs on disk). Then one full run of
``vault.appraisal.checks.run_check`` (every record decrypted and checked inside the
choke point, the intake events verified, the numbering checked, the blobs and logs
scanned for plaintext) is timed, as ``archive-vault check run`` does it.
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
import uuid
from pathlib import Path

import _common as common
import sqlalchemy as sa

from audit import Actor, Event
from vault import access
from vault.appraisal import checks
from vault.archive import records
from vault.caller import Caller
from vault.crypto import DataKey, encrypt_field
from vault.crypto.contexts import client_context, record_context
from vault.db import utcnow
from vault.models import Client, Record
from vault.uow import unit_of_work

BATCH = 5000


def filed(v, *, clients: int, count: int, seed: int = 11) -> None:
    """Insert ``clients`` clients and ``count`` records with digests and intake events."""
    rng = random.Random(seed)
    now = utcnow()
    with v.engine.begin() as conn:
        conn.execute(
            sa.insert(Client),
            [
                {
                    "id": cid,
                    "code": f"CK{cid:06d}",
                    "name": f"Client {cid}",
                    "tier": common.TIERS[cid % 3],
                    "kind": "company",
                    "relationship": "active",
                    "wrapped_dek": v.keys.wrap(DataKey.generate(), client_context(cid)).to_bytes(),
                    "created_at": now,
                }
                for cid in range(1, clients + 1)
            ],
        )
    seqs: dict[tuple[int, int, int], int] = {}
    rows, events = [], []
    for rid in range(1, count + 1):
        cid = rng.randint(1, clients)
        section, year = rng.randint(1, 4), rng.randint(2015, 2025)
        seq = seqs[(cid, section, year)] = seqs.get((cid, section, year), 0) + 1
        content = common.text_of(rng.randint(200, 2000), rng)
        dek = DataKey.generate()
        number = f"CK{cid:06d}-{section}-{year}-{seq:04d}"
        digest = access.digest(v, content)
        rows.append(
            {
                "id": rid,
                "client_id": cid,
                "section": section,
                "year": year,
                "seq": seq,
                "file_number": number,
                "title": f"record {rid}",
                "doc_type": "report",
                "content_type": "text/plain; charset=utf-8",
                "content_size": len(content),
                "content_version": 1,
                "content_ct": encrypt_field(
                    dek, content, record_id=str(rid), field="content", version=1
                ),
                "wrapped_dek": v.keys.wrap(dek, record_context(rid)).to_bytes(),
                "content_digest": digest,
                "created_at": now,
            }
        )
        events.append(
            Event(
                action="record:deposit",
                actor=Actor(person_id=None, subject="cli:bench"),
                decision="n/a",
                outcome="ok",
                resource={"record": str(rid), "client": str(cid)},
                request_id=uuid.uuid4().hex,
                details={"file_number": number, "bytes": len(content), "digest": digest},
            )
        )
        if len(rows) == BATCH:
            _flush(v, rows, events)
            rows, events = [], []
    if rows:
        _flush(v, rows, events)
    common._fix_sequences(v, ("clients", "records"))
    common.seal(v)


def _flush(v, rows, events) -> None:
    with v.engine.begin() as conn:
        conn.execute(sa.insert(Record), rows)
        for ev in events:
            v.audit.append(conn, ev)


def attach_some(v, custodian, n: int) -> None:
    """``n`` text attachments through the real service (blobs on disk, hashed)."""
    with unit_of_work(v) as db:
        ids = list(db.scalars(sa.select(Record.id).order_by(Record.id).limit(n)))
        for rid in ids:
            records.attach(
                v,
                db,
                Caller(person=custodian),
                rid,
                filename="note.txt",
                content_type="text/plain",
                stream=io.BytesIO(b"an attached note " * 20),
            )
    common.seal(v)


def run(backend: str, count: int, attachments: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, common.database(backend, Path(tmp)) as url:
        v = common.open_vault(Path(tmp) / "var", url)
        try:
            started = time.perf_counter()
            crew = common.staff(v, custodians=1, employees=0)
            filed(v, clients=max(1, count // 40), count=count)
            attach_some(v, crew.custodians[0], attachments)
            setup_s = time.perf_counter() - started
            with unit_of_work(v) as db:
                started = time.perf_counter()
                report = checks.run_check(v, db, Caller.operator(), "all", trigger="schedule")
                run_s = time.perf_counter() - started
            assert report.ok, report.findings[:5]
            assert report.run.records == count and report.run.attachments == attachments
        finally:
            v.close()
    print(
        f"check bench, {backend}: {count:,} records, {attachments} attachments "
        f"(set-up {setup_s:.0f} s)"
    )
    print(
        f"  four-properties run        {count / run_s:10,.0f} records/s  ({run_s:.1f} s, "
        f"{report.run.figures['files_scanned']} files scanned, 0 faults)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=[*common.BACKENDS, "both"], default="both")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--attachments", type=int, default=500)
    args = parser.parse_args()
    for backend in common.BACKENDS if args.backend == "both" else (args.backend,):
        run(backend, args.records, args.attachments)


if __name__ == "__main__":
    main()
