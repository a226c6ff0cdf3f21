"""Audit evidence that outlives the database (issue 10, points 2 and 3): audit keys from
the key provider that rotate under the two-person rule, a witness directory, proofs for
a third party. One world per test, many checks in it."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from audit import (
    WitnessConflict,
    audit_chain,
    audit_checkpoints,
    audit_events,
    load_public_key,
    verify_bundle,
)
from tests.factories import Factory
from tests.integration.test_invariants import written_bytes
from tests.keyproviders import Bao, Token
from tests.unit.audit.helpers import as_db_admin
from vault import auditing
from vault.caller import Caller
from vault.cli import main
from vault.config import Config
from vault.crypto import LocalKeyring
from vault.errors import InvalidInput
from vault.policy import Action
from vault.runtime import Vault


def _rows(url: str) -> tuple[list[tuple[str, str]], list[tuple[int, str]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            events = [tuple(r) for r in conn.execute(
                sa.select(audit_events.c.mac_key, audit_events.c.alg).order_by(audit_events.c.seq)
            )]  # fmt: skip
            cps = [tuple(r) for r in conn.execute(
                sa.select(audit_checkpoints.c.position, audit_checkpoints.c.key_id)
                .order_by(audit_checkpoints.c.position)
            )]  # fmt: skip
    finally:
        engine.dispose()
    return events, cps  # type: ignore[return-value]


def test_rotation_witness_and_proofs_through_the_cli(
    vault: Vault, db, make: Factory, config: Config, tmp_path: Path, backend: str
) -> None:
    admin, second = make.admin(), make.second_admin()
    db.commit()
    witness = tmp_path / "witness"
    env = {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_WITNESS_DIR": str(witness),
    }
    bare = {k: v for k, v in env.items() if k != "VAULT_WITNESS_DIR"}
    runner = CliRunner()

    def run(*args: str, ok: bool = True, environ: dict[str, str] | None = None) -> str:
        result = runner.invoke(main, list(args), env=environ or env)
        assert (result.exit_code == 0) is ok, result.output
        return result.output

    run("audit", "seal")
    assert sorted(witness.iterdir()), "the seal wrote no witness file"
    said = run("audit", "verify", environ=bare)
    assert "no witness" in said and "cannot be seen" in said
    assert "checkpoints match" in run("audit", "verify")

    # New audit keys: one admin proposes, another approves; refused without --by.
    assert "--by" in run("audit", "rotate-keys", "--reason", "yearly", ok=False)
    said = run("audit", "rotate-keys", "--by", admin.email, "--reason", "yearly")
    proposal = said.split("#")[1].split()[0]
    assert "same_person_approval" in run(
        "proposals", "approve", proposal, "--by", admin.email, ok=False
    )
    run("proposals", "approve", proposal, "--by", second.email)
    assert max(LocalKeyring.load(config.keyring).audit_versions()) == 2
    fresh = Vault.open(config)  # a process opened after the rotation uses file:2
    try:
        with fresh.sessions() as later:
            auditing.record(fresh, later, Caller.operator(), Action.AUDIT_VERIFY)
            later.commit()
    finally:
        fresh.close()
    run("audit", "seal")  # the approval and the events after it, under file:2 now
    said = run("audit", "verify")
    assert "audit log intact" in said and "checkpoints match" in said
    events, cps = _rows(config.database_url)
    assert ("file:1", "sha256") in events and events[-1] == ("file:2", "sha256")
    assert cps[0][1] == "file:1" and cps[-1][1] == "file:2"

    # Prove the first event (made under file:1) and the log's growth, to a third party.
    first_id = str(db.execute(sa.select(audit_events.c.event_id).limit(1)).scalar())
    bundle, growth = tmp_path / "event.json", tmp_path / "growth.json"
    run("audit", "prove", "--event", first_id, "--out", str(bundle))
    run("audit", "prove", "--from", str(cps[0][0]), "--to", str(cps[-1][0]), "--out", str(growth))
    assert "exists" in run("audit", "prove", "--event", first_id, "--out", str(bundle), ok=False)
    assert "--event" in run("audit", "prove", "--out", str(tmp_path / "x.json"), ok=False)
    pem = runner.invoke(main, ["audit", "public-key"], env=env).stdout
    assert "BEGIN PUBLIC KEY" in pem, pem
    key = load_public_key(pem.encode())
    old_key = load_public_key(
        runner.invoke(main, ["audit", "public-key", "--key-id", "file:1"], env=env).stdout.encode()
    )
    result = verify_bundle(bundle.read_bytes(), key)
    assert result.ok and first_id in " ".join(result.lines), result.message
    assert verify_bundle(growth.read_bytes(), [old_key, key]).ok  # across the rotation
    assert verify_bundle(growth.read_bytes(), key).problem == "wrong_key"
    assert verify_bundle(bundle.read_bytes(), old_key).problem == "wrong_key"
    assert str(cps[-1][0]) in run("audit", "checkpoints")
    db.rollback()  # a fresh read: the proofs were audited by the CLI's own process
    assert db.execute(
        sa.select(sa.func.count()).select_from(audit_events).where(
            audit_events.c.action == "audit:export"
        )
    ).scalar() == 2  # fmt: skip

    # The national algorithms from here on (VAULT_AUDIT_ALGORITHM=sm3): one log holds both.
    sm = Vault.open(config.with_(audit_algorithm="sm3", witness_dir=witness))
    try:
        with sm.sessions() as later:
            ev = auditing.record(sm, later, Caller.operator(), Action.AUDIT_VERIFY)
            later.commit()
        with sm.engine.connect() as conn:
            sm.audit.seal(conn)
            mixed = sm.audit.verify(conn, witness=sm.audit.witness)
            sm_bundle = sm.audit.prove_event(conn, ev.id)
    finally:
        sm.close()
    assert mixed.ok, mixed
    assert sm_bundle["event"]["alg"] == "sm3" and sm_bundle["checkpoint"]["alg"] == "sm3"
    assert verify_bundle(json.dumps(sm_bundle).encode(), key).ok
    assert _rows(config.database_url)[0][-1] == ("file:2", "sm3")

    # No audit key, of either version, was written to the database, the logs or the witness.
    written = written_bytes(vault, backend) + b"".join(p.read_bytes() for p in witness.iterdir())
    for mac, signing in LocalKeyring.load(config.keyring).audit_versions().values():
        for secret in (mac, signing.private_bytes_raw()):
            for form in (secret, secret.hex().encode(), base64.b64encode(secret)):
                assert form not in written

    # Cut off everything after the first checkpoint: only the witness can tell.
    db.rollback()
    cut = cps[0][0]
    with as_db_admin(vault.engine) as conn:
        for table, column in (
            (audit_checkpoints, audit_checkpoints.c.position),
            (audit_chain, audit_chain.c.position),
        ):
            conn.execute(sa.delete(table).where(column > cut))
        conn.execute(
            sa.delete(audit_events).where(
                ~audit_events.c.seq.in_(sa.select(audit_chain.c.event_seq))
            )
        )
    said = run("audit", "verify", environ=bare)
    assert "audit log intact" in said and f"position {cut}" in said
    result = runner.invoke(main, ["audit", "verify"], env=env)
    assert result.exit_code == 1 and "truncated" in result.output, result.output
    assert f"ends at position {cut}" in result.output


def _provider_world(config: Config, service: Token | Bao, tmp_path: Path) -> None:
    """File-key events, then the provider's own keys, rotated once; all verify and prove."""
    runner = CliRunner()
    env = {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    local = Vault.open(config.with_(key_provider="local"))
    try:
        with local.sessions() as db:
            auditing.record(local, db, Caller.operator(), Action.AUDIT_VERIFY)
            db.commit()
        local.maybe_seal(force=True)
    finally:
        local.close()
    env.update(service.env(), VAULT_KEY_PROVIDER=config.key_provider)
    done = runner.invoke(main, ["init", "--key-provider", config.key_provider], env=env)
    assert done.exit_code == 0 and "audit keys inside" in done.output, done.output
    transit = config.key_provider == "transit"
    # With Transit, the same OpenBao server's KV keeps a copy of every checkpoint too.
    v = Vault.open(config.with_(witness_kv_path="secret/av-audit") if transit else config)
    try:
        keys = v.audit.keys
        first, first_sign = keys.mac_key_id(), keys.signing_key_id()
        assert first.startswith(f"{config.key_provider}:") and "audit" in first
        for step in range(2):
            with v.sessions() as db:
                for _ in range(3):
                    auditing.record(v, db, Caller.operator(), Action.AUDIT_VERIFY)
                db.commit()
            with v.engine.connect() as conn:
                v.audit.seal(conn, batch=2)
            if step == 0:
                rotated = keys.provider_keys.rotate()  # type: ignore[attr-defined]
                assert rotated != first and keys.mac_key_id() == rotated
        if config.key_provider == "pkcs11":  # generated inside the token, never to leave it
            from pkcs11 import Attribute

            for secret, private, _ in keys.provider_keys._own._load().values():  # type: ignore[attr-defined]
                for obj in (secret, private):
                    assert obj[Attribute.SENSITIVE] and not obj[Attribute.EXTRACTABLE]
        with v.engine.connect() as conn:
            report = v.audit.verify(conn)
            early = str(conn.execute(sa.select(audit_events.c.event_id).limit(1)).scalar())
            bundle = v.audit.prove_event(conn, early)
        assert report.ok and report.events == 7, report
        if transit:
            kv = v.audit.witness
            assert kv is not None and "secret" in kv.describe()
            with v.engine.connect() as conn:
                seen = v.audit.verify(conn, witness=kv)
            # The key file's checkpoint (before the KV was set) is sent as the newest once.
            assert seen.ok and seen.witnessed == 5 and seen.unwitnessed == 0, seen
            statement = dict(kv.read()[-1].data or {})
            kv.record(statement)  # the same again: nothing changes
            with pytest.raises(WitnessConflict):
                kv.record({**statement, "root": "00" * 32})
        signer = keys.signing_key_id()
        assert signer is not None and signer != first_sign
        assert verify_bundle(json.dumps(bundle).encode(), keys.public_key(signer)).ok
        events, cps = _rows(config.database_url)
        assert [k for k, _ in events] == ["file:1"] + [first] * 3 + [rotated] * 3
        assert [k for _, k in cps] == ["file:1", first_sign, first_sign, signer, signer]
    finally:
        v.close()
    # No audit key of the provider was written anywhere: the key file holds version 1 only.
    assert max(LocalKeyring.load(config.keyring).audit_versions()) == 1
    assert "audit" not in json.loads(config.keyring.read_text()).get("audit_keys", {})
    assert os.stat(config.keyring).st_mode & 0o077 == 0


def test_audit_keys_inside_the_hsm(config: Config, hsm_token: Token, tmp_path: Path) -> None:
    _provider_world(hsm_token.settings(config), hsm_token, tmp_path)


def test_audit_keys_in_transit(config: Config, bao: Bao, tmp_path: Path) -> None:
    _provider_world(bao.settings(config), bao, tmp_path)


def test_the_sm3_audit_log_is_refused_at_start_by_a_provider_without_hmac_sm3(
    config: Config, hsm_token: Token, bao: Bao
) -> None:
    """A PKCS#11 token and Transit compute HMAC-SHA-256 only: a vault whose audit log would
    be HMAC-SM3 under them does not open (a clear refusal, not a failure at every act)."""
    env = {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}
    assert CliRunner().invoke(main, ["init"], env=env).exit_code == 0
    for provider in (hsm_token, bao):
        with pytest.raises(InvalidInput) as refused:
            Vault.open(provider.settings(config).with_(audit_algorithm="sm3"))
        assert refused.value.code == "audit_algorithm_unsupported"
        assert "VAULT_AUDIT_ALGORITHM=sha256" in str(refused.value)
