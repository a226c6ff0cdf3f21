"""Evidence outside the database: witnesses, Merkle proofs for third parties, key
versions and the SM3 profile. One world per test, many checks in it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import (
    AuditLog,
    DirectoryWitness,
    LocalAuditKeys,
    ProofError,
    audit_chain,
    audit_checkpoints,
    audit_events,
    audit_tree,
    merkle,
    public_key_hex,
    verify_bundle,
)
from audit.checkpoint import statement_message
from audit.hashing import hasher, mac
from tests.unit.audit.helpers import append_events, as_db_admin

AUDIT_DIR = Path(__file__).resolve().parents[3] / "audit"
QUIET = structlog.wrap_logger(structlog.ReturnLogger())


def _keys(**versions: tuple[bytes, Ed25519PrivateKey]) -> LocalAuditKeys:
    return LocalAuditKeys(
        {k.replace("_", ":"): m for k, (m, _) in versions.items()},
        signing={k.replace("_", ":"): s for k, (_, s) in versions.items()},
    )


def _verify_standalone(
    tmp: Path, bundle: dict, key: str | None = None
) -> subprocess.CompletedProcess:
    """``python -m audit verify-bundle`` with only a copy of the audit package on the path."""
    lib = tmp / "lib"
    if not lib.exists():
        shutil.copytree(AUDIT_DIR, lib / "audit", ignore=shutil.ignore_patterns("__pycache__"))
    file = tmp / "bundle.json"
    file.write_text(json.dumps(bundle))
    args = ["verify-bundle", str(file)]
    if key is not None:
        (tmp / "key.hex").write_text(key)
        args += ["--key", str(tmp / "key.hex")]
    # `python -m audit ...`, then proof that nothing of the vault (nor a database) came in.
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['audit', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('audit', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as done:\n    code = done.code\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('vault', 'psycopg')]\n"
        f"assert sys.modules['audit'].__file__.startswith({str(lib)!r})\n"
        "sys.exit(code)\n"
    )
    args = [sys.executable, "-c", probe, *args]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(lib), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(args, cwd=tmp, env=env, capture_output=True, text=True, timeout=60)


def test_merkle_proofs_match_the_rfc_tree() -> None:
    h = hasher("sha256")

    def mth(leaves: list[bytes]) -> bytes:
        if len(leaves) == 1:
            return leaves[0]
        k = 1 << ((len(leaves) - 1).bit_length() - 1)
        return merkle.node_hash(h, mth(leaves[:k]), mth(leaves[k:]))

    leaves = [merkle.leaf_hash(h, b"%d" % i) for i in range(33)]
    frontier, nodes = merkle.Frontier(h), {}
    for leaf in leaves:
        nodes.update({(lv, ix): v for lv, ix, v in frontier.append(leaf)})

    def get(level: int, index: int) -> bytes:
        return nodes[(level, index)]

    for n in range(1, 34):
        root = mth(leaves[:n])
        assert merkle.root_from_nodes(h, get, n) == root
        for m in range(n):
            path = merkle.inclusion_proof(h, get, m, n)
            assert merkle.verify_inclusion(h, leaves[m], m, n, path, root)
            assert not merkle.verify_inclusion(h, leaves[m][::-1], m, n, path, root)
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(h, get, m, n)
            assert merkle.verify_consistency(h, m, n, mth(leaves[:m]), root, proof)
            if m < n:
                assert not merkle.verify_consistency(h, m, n, leaves[-1][::-1], root, proof)


def test_leaf_input_is_canonical_json() -> None:
    """The fast path writes the bytes json.dumps would; odd strings go through json."""
    from audit.checkpoint import leaf_input

    for mac_key in ("pkcs11:kek-audit.2", 'odd"key\u00e9'):
        made = leaf_input("sm3", 7, "ab" * 16, '{"v":1}', "cd" * 32, mac_key, "sha256")
        head, _, tail = made.partition(b"\n")
        assert head == b"archive-vault/audit-leaf/v1"
        assert tail == json.dumps(json.loads(tail), sort_keys=True, separators=(",", ":")).encode()
        assert json.loads(tail)["mac_key"] == mac_key


def test_sm3_known_answers() -> None:
    """GB/T 32905-2016 appendix A: "abc" and "abcd" x 16."""
    sm3 = hasher("sm3")
    assert sm3(b"abc").hex() == ("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
    assert sm3(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )
    # HMAC-SM3 is RFC 2104 over SM3 (block size 64).
    key = b"k" * 32
    inner = sm3(bytes(b ^ 0x36 for b in key.ljust(64, b"\0")) + b"abc")
    assert (
        mac(key, b"abc", "sm3") == sm3(bytes(b ^ 0x5C for b in key.ljust(64, b"\0")) + inner).hex()
    )


def test_witness_proofs_and_truncation(engine: sa.Engine, tmp_path: Path) -> None:
    signer = Ed25519PrivateKey.generate()
    keys = _keys(file_1=(os.urandom(32), signer))
    witness = DirectoryWitness(tmp_path / "witness")
    log = AuditLog(keys=keys, witness=witness, logger=QUIET)
    events = append_events(engine, log, 40)
    with engine.connect() as conn:
        log.seal(conn, batch=7)
    files = sorted(p.name for p in witness.path.iterdir())
    assert files == [f"{n:020d}.json" for n in (7, 14, 21, 28, 35, 40)]
    assert all(p.stat().st_mode & 0o222 == 0 for p in witness.path.iterdir())  # read-only
    with engine.connect() as conn:
        plain = log.verify(conn)
        seen = log.verify(conn, witness=witness)
    assert plain.ok and plain.witnessed is None and plain.last_checkpoint == 40
    assert seen.ok and seen.witnessed == 6 and seen.unwitnessed == 0
    newest = witness.path / f"{40:020d}.json"
    kept = newest.read_bytes()
    newest.unlink()  # its copy failed after the commit: the next seal sends it again
    with engine.connect() as conn:
        log.seal(conn)
    assert newest.read_bytes() == kept

    # An event proven to a third party, with nothing but the audit package.
    with engine.connect() as conn:
        bundle = log.prove_event(conn, events[12].id)
        consistency = log.prove_consistency(conn, 14, 40)
        with pytest.raises(ProofError) as unknown:
            log.prove_event(conn, "0" * 32)
    assert unknown.value.code == "event_not_found"
    pub = public_key_hex(signer.public_key())
    if engine.dialect.name == "sqlite":  # the standalone process once: it needs no database
        done = _verify_standalone(tmp_path, bundle, pub)
        assert done.returncode == 0, done.stderr
        assert events[12].id in done.stdout and "bundle verified" in done.stdout
    assert verify_bundle(json.dumps(bundle).encode(), signer.public_key()).ok
    assert verify_bundle(json.dumps(consistency).encode(), signer.public_key()).ok
    assert any("consistency proof" in line for line in verify_bundle(
        json.dumps(consistency).encode()).lines)  # fmt: skip

    # Tampered bundles are refused, each for its reason.
    changed = json.loads(json.dumps(bundle))
    changed["event"]["body"] = changed["event"]["body"].replace(
        '"outcome":"ok"', '"outcome":"error"'
    )
    assert verify_bundle(json.dumps(changed).encode(), signer.public_key()).problem == (
        "proof_mismatch"
    )
    path = json.loads(json.dumps(bundle))
    path["proof"]["path"][0] = "00" * 32
    assert verify_bundle(json.dumps(path).encode()).problem == "proof_mismatch"
    other = Ed25519PrivateKey.generate().public_key()
    assert verify_bundle(json.dumps(bundle).encode(), other).problem == "wrong_key"
    forged = json.loads(json.dumps(consistency))
    forged["second"]["root"] = "11" * 32
    assert verify_bundle(json.dumps(forged).encode()).problem == "bad_signature"
    assert verify_bundle(b"{not json").problem == "malformed"

    # Cut off the newest events with their chain rows and checkpoints.
    with as_db_admin(engine) as conn:
        conn.execute(sa.delete(audit_checkpoints).where(audit_checkpoints.c.position > 28))
        conn.execute(sa.delete(audit_chain).where(audit_chain.c.position > 28))
        conn.execute(sa.delete(audit_events).where(audit_events.c.seq > 28))
        for statement in _drop_tree_triggers(engine.dialect.name):
            conn.exec_driver_sql(statement)
        conn.execute(sa.delete(audit_tree))  # covering the tracks: the sealer rebuilds it
    with engine.connect() as conn:
        blind = log.verify(conn)
        cut = log.verify(conn, witness=witness)
    assert blind.ok and blind.last_checkpoint == 28  # the database alone cannot tell
    assert not cut.ok and cut.problem == "truncated" and cut.first_bad_position == 29
    assert "position 40" in cut.message and "removed" in cut.message

    # Someone with the signing key rewrites the tail: internally sound, not the witness's.
    forger = AuditLog(keys=keys, logger=QUIET)
    append_events(engine, forger, 12, start=100)
    with engine.connect() as conn:
        forger.seal(conn, batch=7, gap_grace=0)
        assert forger.verify(conn).ok
        rewritten = log.verify(conn, witness=witness)
    assert rewritten.problem == "witness_mismatch" and rewritten.first_bad_position == 35

    # A witness the database lacks, a forged witness file and an unreadable one.
    extra = DirectoryWitness(tmp_path / "extra")
    shutil.copytree(witness.path, extra.path)
    statement = json.loads((witness.path / f"{28:020d}.json").read_text())
    statement.update(position=30, prev_signature=None)
    statement["signature"] = signer.sign(statement_message(statement)).hex()
    for name in ("00000000000000000035.json", "00000000000000000040.json"):
        os.chmod(extra.path / name, 0o644)
        (extra.path / name).unlink()
    (extra.path / f"{30:020d}.json").write_text(json.dumps(statement))
    with engine.connect() as conn:
        missing = log.verify(conn, witness=extra)
        statement["signature"] = Ed25519PrivateKey.generate().sign(b"x").hex()
        (extra.path / f"{30:020d}.json").write_text(json.dumps(statement))
        bad = log.verify(conn, witness=extra)
        (extra.path / f"{30:020d}.json").write_text("{")
        unreadable = log.verify(conn, witness=extra)
    assert missing.problem == "witness_missing" and missing.first_bad_position == 30
    assert bad.problem == "witness_bad_signature"
    assert unreadable.problem == "witness_unreadable"


def test_rotated_keys_and_two_algorithms_in_one_log(engine: sa.Engine) -> None:
    old = (os.urandom(32), Ed25519PrivateKey.generate())
    new = (os.urandom(32), Ed25519PrivateKey.generate())
    first = AuditLog(keys=_keys(file_1=old), logger=QUIET)
    append_events(engine, first, 5)
    with engine.connect() as conn:
        first.seal(conn)
    rotated = AuditLog(keys=_keys(file_1=old, file_2=new), algorithm="sm3", logger=QUIET)
    events = append_events(engine, rotated, 5, start=6)
    with engine.connect() as conn:
        rotated.seal(conn, batch=3)
        report = rotated.verify(conn)
        rows = conn.execute(
            sa.select(audit_events.c.mac_key, audit_events.c.alg).order_by(audit_events.c.seq)
        ).all()
        cps = conn.execute(
            sa.select(
                audit_checkpoints.c.position, audit_checkpoints.c.key_id, audit_checkpoints.c.alg
            ).order_by(audit_checkpoints.c.position)
        ).all()
        bundle = rotated.prove_event(conn, events[0].id)
        early = rotated.prove_event(conn, append_events.__name__ and _first_id(conn))
        with pytest.raises(ProofError) as mixed:
            rotated.prove_consistency(conn, 5, 10)
        assert rotated.prove_consistency(conn, 8, 10)["kind"] == "consistency"
        forgetful = AuditLog(keys=_keys(file_2=new), logger=QUIET).verify(conn)
    assert report.ok and report.events == 10 and report.checkpoints == 3
    assert rows == [("file:1", "sha256")] * 5 + [("file:2", "sm3")] * 5
    assert [tuple(c) for c in cps] == [
        (5, "file:1", "sha256"),
        (8, "file:2", "sm3"),
        (10, "file:2", "sm3"),
    ]
    for proof in (bundle, early):
        assert proof["checkpoint"]["alg"] == "sm3"
        assert verify_bundle(json.dumps(proof).encode(), new[1].public_key()).ok
    assert mixed.value.code == "algorithm_mismatch"
    assert not forgetful.ok and forgetful.problem == "unknown_key"
    # The MAC of an sm3 event is HMAC-SM3 under the new key, nothing else.
    assert hashlib.sha256(b"") and mac(new[0], b"x", "sm3") != mac(new[0], b"x", "sha256")


def _first_id(conn: sa.Connection) -> str:
    return str(
        conn.execute(sa.select(audit_events.c.event_id).where(audit_events.c.seq == 1)).scalar()
    )


def _drop_tree_triggers(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS audit_tree_no_{verb}" for verb in ("update", "delete")]
    return [
        f"DROP TRIGGER IF EXISTS audit_tree_{n} ON audit_tree" for n in ("no_change", "no_truncate")
    ]
