"""Key rotation: re-wrapping every record's data key under a new KEK, in records per second.

Run ``.venv/bin/python bench/rewrap_bench.py [--backend sqlite|postgresql|both]
[--records 20000] [--batch 1000]``. Inserts the catalogue in bulk, rotates the keyring
(``vault.keys.rotate``) and times ``vault.keys.rewrap`` (batches that lock, re-wrap,
write and audit, each committed). Baseline in the same run: the keyring's own
unwrap + wrap of as many keys in memory, with no database. DESIGN section 8:
rewrap >= 10,000 records/s. (Audit verify throughput: ``bench/audit_bench.py``.)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common as common
import sqlalchemy as sa

from vault.caller import Caller
from vault.crypto import WrappedKey
from vault.crypto.contexts import record_context
from vault.keys import rotation, status
from vault.models import Record
from vault.uow import unit_of_work


def run(backend: str, records: int, batch: int) -> None:
    """Set up one backend, measure, print."""
    with tempfile.TemporaryDirectory() as tmp, common.database(backend, Path(tmp)) as url:
        v = common.open_vault(Path(tmp) / "var", url)
        try:
            clients = max(1, records // 50)
            common.catalogue(v, clients=clients, records=records, content_bytes=256)
            with unit_of_work(v) as db:
                rotation.rotate(v, db, Caller.operator())
                sample = [
                    (rid, WrappedKey.from_bytes(blob))
                    for rid, blob in db.execute(sa.select(Record.id, Record.wrapped_dek))
                ]
            start = time.perf_counter()
            for rid, wrapped in sample:
                v.keys.rewrap(wrapped, record_context(rid))
            memory_s = time.perf_counter() - start
            with unit_of_work(v) as db:
                start = time.perf_counter()
                report = rotation.rewrap(v, db, Caller.operator(), batch=batch)
                rewrap_s = time.perf_counter() - start
                left = status.status(v, db, Caller.operator()).outdated
            assert report.total_rewrapped == records + clients and left == 0, (report, left)
        finally:
            v.close()
    rate = report.total_rewrapped / rewrap_s
    baseline = len(sample) / memory_s
    print(f"rewrap bench, {backend}: {records:,} records + {clients:,} clients, batch {batch}")
    print(
        f"  keys.rewrap                {rate:10,.0f} keys/s  ({rewrap_s:.2f} s)"
        "   (target >= 10,000/s)"
    )
    print(f"  baseline unwrap+wrap only  {baseline:10,.0f} keys/s  (in memory, no database)")
    print(f"  rewrap / baseline          {rate / baseline:10.1%}")


def main() -> None:
    """Parse arguments and run each backend."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=(*common.BACKENDS, "both"), default="both")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    common.quiet()
    for backend in common.BACKENDS if args.backend == "both" else (args.backend,):
        run(backend, args.records, args.batch)


if __name__ == "__main__":
    main()
