"""Run every benchmark (``make bench``), one process each, and print what each measured.

Run ``.venv/bin/python bench/run.py [--quick] [--large] [--only NAME ...]``.
Each benchmark prints ratios against a baseline measured in its own run (DESIGN
section 8); none passes or fails on absolute numbers, so compare runs only on the
same, otherwise idle, machine. ``--quick`` shrinks sizes and durations for a smoke
run; ``--large`` uses a 1 GiB file for the attachment memory check.

- audit:   audit log append, seal and verify (verify >= 100,000 events/s)
- policy:  content decision with its context (median <= 0.2 ms)
- rewrap:  key rotation re-wrap (>= 10,000 records/s)
- stream:  attachment upload/download vs raw AES-GCM (>= 40 %), memory for a large file
- search:  catalogue search over 100,000 records (p99 <= 50 ms)
- consult: audited consultations over HTTP vs the unaudited ORM baseline route, in
           rounds, with CPU per request (>= 75 %, p99 <= 30 ms; needs ``wrk``)
- pipeline: the request pipeline over HTTP on PostgreSQL and SQLite, every ratio in one
           table: consultation vs the lean reference route (>= 80 %, p99 <= 30 ms), ``/me``
           vs bare JSON (>= 50 %), consultation vs OpenBao's audited 4 KiB read (stretch
           >= 0.35x; needs ``wrk`` and the ``bench`` extra's ``bao``)
- parts:   what a consultation must add to the lean reference, each part timed alone
           (decision, audit event, data key, facts statement, audit insert, sealing),
           their sum against the pipeline's budget
- check:   the four-properties check over 100,000 records (records/s, total time)
- providers: wrap/unwrap per key provider (PKCS#11 on SoftHSM2, OpenBao Transit) and
           ``keys migrate`` records/s, as ratios of the local key file's (needs
           ``softhsm2`` and ``bao``)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHES: dict[str, tuple[list[str], list[str]]] = {
    # name: (arguments, arguments with --quick)
    "audit": ([], ["10000"]),
    "policy": ([], ["--records", "5000", "--events-each", "60"]),
    "rewrap": ([], ["--records", "5000"]),
    "stream": ([], ["--size-mib", "64"]),
    "search": ([], ["--records", "20000"]),
    "consult": ([], ["--duration", "3", "--rounds", "1", "--warmup", "1"]),
    "pipeline": ([], ["--quick"]),
    "parts": ([], ["-n", "300"]),
    "providers": ([], ["--keys", "300", "--records", "2000"]),
    "backup": ([], ["--records", "2000", "--blobs", "20"]),
    "check": ([], ["--records", "5000", "--attachments", "50"]),
}
SCRIPTS = {
    "audit": "audit_bench.py",
    "policy": "policy_bench.py",
    "rewrap": "rewrap_bench.py",
    "stream": "stream_bench.py",
    "search": "search_bench.py",
    "consult": "consult_bench.py",
    "pipeline": "pipeline_bench.py",
    "parts": "parts_bench.py",
    "providers": "provider_bench.py",
    "backup": "backup_bench.py",
    "check": "check_bench.py",
}


def main() -> None:
    """Run the chosen benchmarks in turn; exit 1 if any of them failed to run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--large", action="store_true", help="1 GiB attachment memory check")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run only these")
    args = parser.parse_args()
    failed = []
    for name in args.only or BENCHES:
        full, quick = BENCHES[name]
        extra = list(quick if args.quick else full)
        if name == "stream" and args.large:
            extra.append("--large")
        command = [sys.executable, str(HERE / SCRIPTS[name]), *extra]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
        print(f"=== {name}: {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
