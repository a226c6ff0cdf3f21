"""Backups that keep keys apart: one world per database, backed up with the real CLI.

The backup holds no plaintext and no key (scanned like the vault itself, invariant 1);
a backup with a changed byte, a missing file, an added file or a forged manifest is
refused with its exit code and changes nothing; a vault that is not empty, or holds
another vault's blob, is refused, while one a stopped restore left blobs in is not;
and the round trip into an empty vault that reaches the same key provider gives back
every record, attachment and lookup, with an audit log that verifies.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from tests import databases
from tests.factories import Factory
from tests.integration.test_invariants import forms
from vault.cli import main
from vault.crypto import LocalKeyring
from vault.runtime import Vault
from vault.web import create_app

CANARY = "BACKUPCANARY-机密条款-7Q"
TAX_CANARY = "TAXBACKUP4471"
FILE_CANARY = b"FILECANARY-backup-%PDF-"
PIN_CANARY = "PINCANARY-0427"
TOKEN_CANARY = "s.TRANSITCANARY9981"


def _env(config, **extra: str) -> dict[str, str]:
    return {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "test-secret",
        # Settings a key provider would need: they must never reach a backup.
        "VAULT_PKCS11_PIN": PIN_CANARY,
        "VAULT_TRANSIT_TOKEN": TOKEN_CANARY,
        **extra,
    }


def _key_forms(keyring: Path) -> list[bytes]:
    """Every key in the key file, as raw bytes, base64 and hex."""
    doc = json.loads(keyring.read_text())
    encoded = [*doc["keks"].values(), *doc["secrets"].values(), doc["signing_key"]]
    out = []
    for value in encoded:
        raw = base64.b64decode(value)
        out += [raw, value.encode(), raw.hex().encode()]
    return out


def _everything(folder: Path) -> bytes:
    """Every byte of the backup; a PostgreSQL dump (compressed) also as the SQL it holds."""
    chunks = [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]
    for dump in folder.glob("*.pgdump"):
        sql = subprocess.run(["pg_restore", "-f", "-", str(dump)], capture_output=True, check=True)
        chunks.append(sql.stdout)
    return b"\n".join(chunks)


def test_backup_round_trip_refusals_and_canary(
    api, make: Factory, vault, config, backend, tmp_path
):
    sales, custodian = make.person(), make.custodian()
    s_token, c_token = make.token(sales), make.token(custodian)
    client = api.post(
        "/clients",
        s_token,
        json={"code": "BAKCO", "name": "Backup Co", "tier": "general", "tax_id": TAX_CANARY},
    ).json
    records = []
    for n in range(3):
        made = api.post(
            "/records",
            s_token,
            json={
                "client_id": client["id"],
                "section": "credit",
                "title": f"Backed-up record {n}",
                "content": f"{CANARY} #{n}",
            },
        )
        assert made.status_code == 201, made.json
        records.append(made.json["id"])
    attachments = {}
    for rid in records[:2]:
        up = api.client.post(
            f"/api/v1/records/{rid}/attachments",
            headers={"Authorization": f"Bearer {s_token}"},
            data={"file": (io.BytesIO(FILE_CANARY * 500), "scan.pdf", "application/pdf")},
        )
        assert up.status_code == 201, up.json
        attachments[rid] = up.json["id"]
    assert api.get(f"/records/{records[0]}/content?purpose=renewal", c_token).status_code == 200

    runner = CliRunner()
    folder = tmp_path / "backup"
    made = runner.invoke(main, ["backup", str(folder)], env=_env(config))
    assert made.exit_code == 0, made.output
    assert "2 blobs" in made.output and "no key is in it" in made.output
    again = runner.invoke(main, ["backup", str(folder)], env=_env(config))
    assert again.exit_code == 5 and "backup_exists" in again.output

    # Canary: no plaintext, no key, no PIN or token, whatever the encoding.
    stored = _everything(folder)
    assert b"Backed-up record 0" in stored  # the scan sees what is kept in clear
    for secret in (CANARY, TAX_CANARY, FILE_CANARY, PIN_CANARY, TOKEN_CANARY, "test-secret"):
        for form in forms(secret):
            assert form not in stored, f"{secret!r} found in the backup as {form!r}"
    for form in _key_forms(config.keyring):
        assert form not in stored, "a key of the key file is in the backup"
    assert not any(p.name in ("keyring.json", "secret_key") for p in folder.rglob("*"))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["backend"] == backend and manifest["blobs"] == 2
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())

    # The target: an empty vault with the same key provider (here: a copy of the key file).
    target_home = tmp_path / "target"
    target_home.mkdir(mode=0o700)
    shutil.copy2(config.keyring, target_home / "keyring.json")
    # ... and the record key shares, key material kept with the keys, never in a backup.
    assert not any(p.name == "shares.db" for p in folder.rglob("*"))
    shutil.copy2(config.shares, target_home / "shares.db")
    target_url = databases.empty(backend, target_home)
    target = config.with_(
        home=target_home,
        database_url=target_url,
        blob_dir=None,
        log_dir=None,
        keyring_path=None,
        shares_path=None,
    )
    try:
        databases.upgrade(target_url)
        env = _env(target)

        # Tampered copies are refused (exit 2) and leave the target empty.
        blob = next(p for p in (folder / "blobs").rglob("*") if p.is_file())
        rel = blob.relative_to(folder)
        tampering = {
            "changed byte": lambda d: _flip(d / rel),
            "missing file": lambda d: (d / rel).unlink(),
            "extra file": lambda d: (
                (d / "blobs" / "ff").mkdir() or (d / "blobs/ff/extra").write_bytes(b"x")
            ),
            "forged manifest": lambda d: _flip(d / "manifest.json", at=40),
        }
        for name, tamper in tampering.items():
            copy = tmp_path / f"tampered-{name.replace(' ', '-')}"
            shutil.copytree(folder, copy)
            tamper(copy)
            refused = runner.invoke(main, ["restore", str(copy)], env=env)
            assert refused.exit_code == 2, (name, refused.output)
            assert "backup_tampered" in refused.output and "Traceback" not in refused.output, name
        # A vault with another key provider (here: another key file) cannot take it.
        stranger = tmp_path / "stranger"
        LocalKeyring.create(stranger / "keyring.json")
        alien = runner.invoke(
            main, ["restore", str(folder)], env={**env, "VAULT_HOME": str(stranger)}
        )
        assert alien.exit_code == 2 and "made by another vault" in alien.output, alien.output
        with sa.create_engine(target_url).connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM records")) == 0

        # The source vault is not empty: refused (exit 5), nothing changes.
        busy = runner.invoke(main, ["restore", str(folder)], env=_env(config))
        assert busy.exit_code == 5 and "vault_not_empty" in busy.output

        # A restore that stopped while writing blobs left some behind: a new run goes on.
        left = target.blobs / rel.parent.name
        left.mkdir(parents=True)
        shutil.copy2(blob, left / blob.name)
        (left / f"{blob.name}.part").write_bytes(b"half")
        foreign = left / ("0" * 32)
        foreign.write_bytes(b"another vault's blob")
        mixed = runner.invoke(main, ["restore", str(folder)], env=env)
        assert mixed.exit_code == 5 and "vault_not_empty" in mixed.output, mixed.output
        foreign.unlink()
        done = runner.invoke(main, ["restore", str(folder)], env=env)
        assert done.exit_code == 0, done.output
        assert "3 records" in done.output and "2 blobs" in done.output
        verified = runner.invoke(main, ["audit", "verify"], env=env)
        assert verified.exit_code == 0 and "audit log intact" in verified.output, verified.output
        twice = runner.invoke(main, ["restore", str(folder)], env=env)
        assert twice.exit_code == 5 and "vault_not_empty" in twice.output

        # Every record, attachment and lookup, through the restored vault's own API.
        restored = Vault.open(target)
        try:
            other = type(api)(create_app(target, vault=restored).test_client())
            for n, rid in enumerate(records):
                got = other.get(f"/records/{rid}/content?purpose=renewal", c_token)
                assert got.status_code == 200 and got.json["content"] == f"{CANARY} #{n}"
            for rid, aid in attachments.items():
                att = other.get(
                    f"/records/{rid}/attachments/{aid}/content?purpose=renewal", c_token
                )
                assert att.status_code == 200 and att.data == FILE_CANARY * 500
            hit = other.post("/clients/lookup", c_token, json={"tax_id": TAX_CANARY})
            assert [c["code"] for c in hit.json["items"]] == ["BAKCO"]
        finally:
            restored.close()
    finally:
        databases.drop(target_url)


def _flip(path: Path, at: int = -5) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
