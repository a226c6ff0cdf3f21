"""Merkle proofs of the audit log at 1,000,000 events: size and time.

Run ``PYTHONPATH=. .venv/bin/python bench/audit_proof_bench.py [N] [--alg sm3]``.

Builds the tree of N leaves (leaf hashes of synthetic events, no event rows: a proof never
reads the events) into the real ``audit_tree`` table of a SQLite file, as the sealer does,
then makes inclusion proofs for random events and consistency proofs from random earlier
tree sizes with the same code ``audit prove`` uses (stored complete subtrees, never the
leaves), and checks each with the standalone verifier. Prints the build rate, proof sizes
(hashes, bytes, the JSON bundle) and the time to make and to verify one proof.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

import sqlalchemy as sa

from audit import merkle
from audit.checkpoint import leaf_input
from audit.hashing import hasher
from audit.log import _NodeReader
from audit.schema import audit_tree, metadata

BATCH = 50_000
SAMPLES = 500


def _build(engine: sa.Engine, alg: str, n: int) -> bytes:
    h = hasher(alg)
    frontier = merkle.Frontier(h)
    pending: list[dict[str, object]] = []
    mac = "ab" * 32
    body = '{"action":"record:consult","v":1}'
    # Leaf hashes only: one real leaf input as the sealer makes it, then its position.
    template = leaf_input(alg, 1, "0" * 32, body, mac, "file:1", "sha256")
    with engine.begin() as conn:
        for i in range(n):
            leaf = merkle.leaf_hash(h, template + i.to_bytes(8, "big"))
            pending.extend(
                {"alg": alg, "level": lv, "idx": ix, "hash": v.hex()}
                for lv, ix, v in frontier.append(leaf)
            )
            if len(pending) >= BATCH:
                conn.execute(sa.insert(audit_tree), pending)
                pending = []
        if pending:
            conn.execute(sa.insert(audit_tree), pending)
    return frontier.root()


def _ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1e3:.3f} ms, "
        f"p95 {sorted(values)[int(len(values) * 0.95)] * 1e3:.3f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--alg", default="sha256", choices=("sha256", "sm3"))
    args = parser.parse_args()
    n, alg = args.n, args.alg
    h = hasher(alg)
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{os.path.join(tmp, 'tree.db')}")
        metadata.create_all(engine, tables=[audit_tree])
        started = time.perf_counter()
        root = _build(engine, alg, n)
        built = time.perf_counter() - started
        with engine.connect() as conn:
            nodes = conn.execute(sa.select(sa.func.count()).select_from(audit_tree)).scalar()
        size_mb = os.path.getsize(os.path.join(tmp, "tree.db")) / 1e6
        print(f"tree of {n:,} events ({alg}): built in {built:.1f} s ({n / built:,.0f} leaves/s)")
        print(f"  stored nodes: {nodes:,} ({size_mb:.0f} MB in SQLite); root {root.hex()[:16]}...")

        rng = random.Random(10)
        make, check, hashes, sizes = [], [], [], []
        with engine.connect() as conn:
            for _ in range(SAMPLES):
                index = rng.randrange(n)
                t0 = time.perf_counter()
                reader = _NodeReader(conn, alg)  # a fresh cache per proof, as per request
                path = reader.run(lambda get, i=index: merkle.inclusion_proof(h, get, i, n))
                leaf = reader.get(0, index)
                t1 = time.perf_counter()
                assert merkle.verify_inclusion(h, leaf, index, n, path, root)
                t2 = time.perf_counter()
                make.append(t1 - t0)
                check.append(t2 - t1)
                hashes.append(len(path))
                sizes.append(len(json.dumps([p.hex() for p in path])))
            print(
                f"inclusion proof: {min(hashes)}-{max(hashes)} hashes "
                f"({max(hashes) * 32} bytes raw, {max(sizes)} bytes as JSON hex in a bundle)"
            )
            print(f"  make (database):  {_ms(make)}")
            print(f"  verify:           {_ms(check)}")
            make, check, hashes = [], [], []
            for _ in range(SAMPLES // 5):
                first = rng.randrange(1, n)
                t0 = time.perf_counter()
                reader = _NodeReader(conn, alg)
                proof = reader.run(lambda get, m=first: merkle.consistency_proof(h, get, m, n))
                first_root = reader.run(lambda get, m=first: merkle.root_from_nodes(h, get, m))
                t1 = time.perf_counter()
                assert merkle.verify_consistency(h, first, n, first_root, root, proof)
                t2 = time.perf_counter()
                make.append(t1 - t0)
                check.append(t2 - t1)
                hashes.append(len(proof))
            print(
                f"consistency proof (random earlier size to {n:,}): {min(hashes)}-{max(hashes)} "
                f"hashes ({max(hashes) * 32} bytes raw)"
            )
            print(f"  make (database):  {_ms(make)}")
            print(f"  verify:           {_ms(check)}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
