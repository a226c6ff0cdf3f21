"""Catalogue search over 100,000 records: latency of ``GET /api/v1/records?q=...``.

Run ``.venv/bin/python bench/search_bench.py [--backend sqlite|postgresql|both]
[--records 100000] [--content-bytes 4096]``. Inserts the catalogue in bulk (real
wrapped keys and sealed content, 4 KiB per record by default, so rows are as large as
real ones), then sends searches in process through the Flask test client with an
employee's bearer token (auth, parsing, query, JSON): words common and rare, Chinese,
file-number fragments, nothing-matching terms, with and without filters and offsets.

Prints p50/p95/p99 per kind of query and overall, and the same for the first page of
the unfiltered listing, measured in the same run as the baseline (DESIGN section 8:
p99 <= 50 ms).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import _common as common

from vault.web import create_app

REQUESTS = 300  # per kind of query


def _queries(rng: random.Random, clients: int) -> dict[str, list[str]]:
    def some(make: object, n: int = REQUESTS) -> list[str]:
        return [make() for _ in range(n)]  # type: ignore[operator]

    return {
        "common word": some(lambda: f"q={rng.choice(['credit', 'report', 'invoice'])}"),
        "rare word": some(lambda: f"q={rng.choice(['reconciliation', 'appraisal', 'pledge'])}"),
        "chinese": some(lambda: f"q={quote(rng.choice(['合同', '资信调查报告', '付款记录']))}"),
        "file number": some(lambda: f"q=CL{rng.randint(1, clients):06d}-"),
        "no match": some(lambda: f"q=zz{rng.randint(0, 9999)}"),
        "word + year + limit 100": some(
            lambda: f"q={rng.choice(['tax', 'lease'])}&year={rng.randint(2015, 2025)}&limit=100"
        ),
        "word + offset 2000": some(lambda: f"q={rng.choice(['audit', 'order'])}&offset=2000"),
        "client's file": some(lambda: f"client_id={rng.randint(1, clients)}"),
    }


def run(backend: str, records: int, content_bytes: int) -> None:
    """Set up one backend, measure, print."""
    rng = random.Random(9)
    clients = max(1, records // 50)
    with tempfile.TemporaryDirectory() as tmp, common.database(backend, Path(tmp)) as url:
        v = common.open_vault(Path(tmp) / "var", url)
        try:
            started = time.perf_counter()
            staff = common.staff(v, 0, 1)
            common.catalogue(v, clients=clients, records=records, content_bytes=content_bytes)
            setup_s = time.perf_counter() - started
            client = create_app(v.config, vault=v).test_client()
            headers = {"Authorization": f"Bearer {staff.employee_tokens[0]}"}

            def get(query: str) -> float:
                start = time.perf_counter()
                resp = client.get(f"/api/v1/records?{query}", headers=headers)
                seconds = time.perf_counter() - start
                assert resp.status_code == 200, resp.get_data(as_text=True)
                return seconds

            for query in ("q=credit", "q=zz1", "client_id=1"):  # warm up
                get(query)
            kinds = _queries(rng, clients)
            times: dict[str, list[float]] = {k: [] for k in kinds}
            baseline: list[float] = []
            # Interleaved, so that any drift on the machine touches every kind alike.
            for i in range(REQUESTS):
                baseline.append(get("limit=50"))
                for kind, queries in kinds.items():
                    times[kind].append(get(queries[i]))
        finally:
            v.close()
    print(
        f"search bench, {backend}: {records:,} records of {content_bytes:,} B "
        f"in {clients:,} clients "
        f"(set-up {setup_s:.0f} s), {REQUESTS} requests per kind, in process"
    )
    print(f"  {'query':<26} {'p50':>11} {'p95':>11} {'p99':>11}")
    for kind, values in [("baseline: first page", baseline), *times.items()]:
        print(
            f"  {kind:<26} "
            + " ".join(common.ms(common.percentile(values, p)) for p in (50, 95, 99))
        )
    everything = [t for values in times.values() for t in values]
    p99 = common.percentile(everything, 99)
    print(
        f"  all searches: p99 {common.ms(p99)}  (target <= 50 ms) = "
        f"{p99 / common.percentile(baseline, 99):.1f} x the baseline's p99"
    )


def main() -> None:
    """Parse arguments and run each backend."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=(*common.BACKENDS, "both"), default="both")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--content-bytes", type=int, default=4096, help="sealed content size")
    args = parser.parse_args()
    common.quiet()
    for backend in common.BACKENDS if args.backend == "both" else (args.backend,):
        run(backend, args.records, args.content_bytes)


if __name__ == "__main__":
    main()
