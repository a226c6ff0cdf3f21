"""Key rotation (DESIGN §3.12): rotate, re-wrap every data key, lose nothing, resume."""

from __future__ import annotations

import pyotp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.factories import Factory
from vault.caller import Caller
from vault.cli import main
from vault.crypto import WrappedKey
from vault.errors import Denied
from vault.identity import accounts
from vault.keys import rotation
from vault.keys import status as status_
from vault.models import Client, LocalCredential, Record
from vault.runtime import Vault
from vault.uow import unit_of_work

PURPOSE = "checking the payment terms"


def _operator(vault: Vault, service, *args, **kw):
    """Call a key service as the CLI's operator, in a session of its own."""
    with unit_of_work(vault) as session:
        return service(vault, session, Caller.operator(), *args, **kw)


def _rewrap(vault: Vault, *, batch: int = 1000, after_batch=None):
    """``keys rewrap`` as the CLI runs it: the boundary commits after each batch."""
    with unit_of_work(vault) as session:

        def done(n: int) -> None:
            session.commit()
            if after_batch is not None:
                after_batch(n)

        return rotation.rewrap(vault, session, Caller.operator(), batch=batch, progress=done)


def _env(config) -> dict[str, str]:
    return {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}


def _key_ids(db, column) -> list[str]:
    db.rollback()  # a fresh snapshot (SQLite keeps the old one otherwise)
    return [WrappedKey.from_bytes(b).key_id for b in db.scalars(sa.select(column))]


def _ciphertexts(db) -> dict[int, bytes]:
    db.rollback()
    return {rid: ct for rid, ct in db.execute(sa.select(Record.id, Record.content_ct))}


def _archive(make: Factory, n: int) -> dict[int, bytes]:
    """``n`` records in two clients, each with its own content."""
    clients = [make.client("general", tax_id="TAX-1"), make.client("core")]
    return {
        make.record(
            clients[i % 2], content=f"terms of deal {i}".encode()
        ).id: f"terms of deal {i}".encode()
        for i in range(n)
    }


def _reads_all(api, token: str, contents: dict[int, bytes]) -> None:
    for rid, content in contents.items():
        resp = api.get(f"/records/{rid}/content?purpose={PURPOSE}", token)
        assert resp.status_code == 200, resp.json
        assert resp.json["content"].encode() == content


def test_rotate_and_rewrap_keep_every_record_readable(api, make: Factory, vault, db, config):
    custodian = make.custodian()
    token = make.token(custodian)
    contents = _archive(make, 5)
    before = _ciphertexts(db)
    old = vault.keys.active_key_id
    _reads_all(api, token, contents)  # the app is open (and has read) before the rotation

    runner = CliRunner()
    rotated = runner.invoke(main, ["keys", "rotate"], env=_env(config))
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.split("new active key ")[1].split(".")[0]
    assert new != old
    rewrapped = runner.invoke(main, ["keys", "rewrap", "--batch", "2"], env=_env(config))
    assert rewrapped.exit_code == 0, rewrapped.output
    assert "re-wrapped 7 data keys" in rewrapped.output  # 5 records, 2 clients

    assert set(_key_ids(db, Record.wrapped_dek)) == {new}
    assert set(_key_ids(db, Client.wrapped_dek)) == {new}
    assert _ciphertexts(db) == before  # content untouched, byte for byte
    # The app opened before the rotation still knows only the old key: it reads the
    # new one from the keyring file when it first meets it.
    assert new not in vault.keys.key_ids()
    _reads_all(api, token, contents)

    status = runner.invoke(main, ["keys", "status"], env=_env(config))
    assert status.exit_code == 0, status.output
    assert f"active key: {new}" in status.output
    counts = [
        line for line in status.output.splitlines() if line.startswith(("records", "clients"))
    ]
    assert counts == [f"records:      {new} 5", f"clients:      {new} 2"]  # none under the old

    again = runner.invoke(main, ["keys", "rewrap"], env=_env(config))
    assert "re-wrapped 0 data keys" in again.output and "7 were under it already" in again.output


def test_a_crash_midway_loses_nothing_and_a_rerun_completes(
    api, make: Factory, vault: Vault, db, monkeypatch
):
    custodian = make.custodian()
    token = make.token(custodian)
    contents = _archive(make, 7)
    before = _ciphertexts(db)
    old = vault.keys.active_key_id
    new = _operator(vault, rotation.rotate)

    # Crash in the middle of the second batch of records: the first batch is committed,
    # the second rolls back whole.
    keys = vault.keys
    calls = {"n": 0}

    class CrashingKeys:
        """The vault's wrap-only keys, with a power cut at the fourth rewrap."""

        def __getattr__(self, name):
            return getattr(keys, name)

        def rewrap(self, wrapped, context):
            calls["n"] += 1
            if calls["n"] == 4:
                raise RuntimeError("power cut")
            return keys.rewrap(wrapped, context)

    monkeypatch.setattr(vault, "keys", CrashingKeys())
    with pytest.raises(RuntimeError, match="power cut"):
        _rewrap(vault, batch=3)
    monkeypatch.undo()
    db.rollback()
    assert sorted(_key_ids(db, Record.wrapped_dek)) == sorted([new] * 3 + [old] * 4)
    assert _ciphertexts(db) == before
    _reads_all(api, token, contents)  # half old, half new: everything still opens

    # Crash between batches, through the progress hook: after the second batch (the first
    # one has nothing left to do) committed.
    batches = {"n": 0}

    def crash(_n: int) -> None:
        batches["n"] += 1
        if batches["n"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _rewrap(vault, batch=3, after_batch=crash)
    db.rollback()
    assert _key_ids(db, Record.wrapped_dek).count(new) == 6

    report = _rewrap(vault, batch=3)
    assert report.rewrapped == {"records": 1, "clients": 2, "totp_secrets": 0}
    assert report.current["records"] == 6 and report.total_failed == 0
    assert set(_key_ids(db, Record.wrapped_dek)) == {new}
    assert _ciphertexts(db) == before
    _reads_all(api, token, contents)
    counts = _operator(vault, status_.status).wrapped
    assert counts["records"] == {new: 7} and counts["clients"] == {new: 2}


def test_totp_secrets_are_rewrapped_and_still_verify(make: Factory, vault, db):
    admin = make.admin()
    enrolled = _operator(vault, accounts.enroll_totp, admin)
    new = _operator(vault, rotation.rotate)
    report = _rewrap(vault)
    assert report.rewrapped["totp_secrets"] == 1
    assert _key_ids(db, LocalCredential.totp_wrapped_dek) == [new]
    cred = db.get(LocalCredential, admin.id)
    assert cred is not None
    assert accounts._check_totp(vault, cred, pyotp.TOTP(enrolled.secret).now())


def test_a_key_that_cannot_be_unwrapped_is_left_alone_and_reported(
    make: Factory, vault, db, config
):
    record = make.record()
    damaged = WrappedKey("local-1", bytes(61)).to_bytes()
    with vault.engine.begin() as conn:
        conn.execute(sa.update(Record).where(Record.id == record.id).values(wrapped_dek=damaged))
    _operator(vault, rotation.rotate)
    result = CliRunner().invoke(main, ["keys", "rewrap"], env=_env(config))
    assert result.exit_code == 1
    assert "records: 1 wrapped key(s) could not be unwrapped" in result.output
    db.rollback()
    assert db.scalar(sa.select(Record.wrapped_dek).where(Record.id == record.id)) == damaged


def test_rotation_and_rewrap_are_audited(api, make: Factory, vault, db):
    make.record()
    new = _operator(vault, rotation.rotate)
    _rewrap(vault)
    auditor = make.person(roles=("employee", "auditor"))
    token = make.token(auditor)
    rotated = api.get("/audit/events?action=key:rotate", token).json["items"]
    assert [(e["resource"]["key"], e["details"]["previous"]) for e in rotated] == [(new, "local-1")]
    rewraps = api.get("/audit/events?action=key:rewrap", token).json["items"]
    assert [e["details"].get("kind") for e in rewraps] == ["records", "clients", None]
    assert rewraps[-1]["details"]["complete"] is True and rewraps[-1]["outcome"] == "ok"


def test_only_admins_rotate_and_read_the_key_status(api, make: Factory, vault, db):
    make.record()
    _operator(vault, rotation.rotate)
    employee = make.person()
    for act in (rotation.rotate, rotation.rewrap):
        with vault.sessions() as session, pytest.raises(Denied) as denied:
            act(vault, session, Caller(person=employee))
        assert denied.value.code == "role_required"
    assert api.get("/keys/status", make.token(employee)).status_code == 403
    assert api.get("/keys/status").status_code == 401
    body = api.get("/keys/status", make.token(make.admin())).json
    assert body["active_key_id"] == "local-2" and body["key_ids"] == ["local-1", "local-2"]
    assert body["wrapped_keys"]["records"] == {"local-1": 1}
    assert body["outdated"] == 2  # a record and its client
    assert "local-1" in str(body) and "kek" not in str(body).lower()
