"""A vault set up with ``--algorithms sm``: SM4-GCM for content, fields and attachment
segments, HMAC-SM3 for blind indexes; a full scenario through the API, the bytes at rest
checked for the cipher each names; and one vault holding records of both suites reads both."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, hmac

from tests.factories import Factory
from vault.cli import main
from vault.config import Config
from vault.crypto import suites
from vault.models import Attachment, Client, Record
from vault.runtime import Vault
from vault.web import create_app

PDF = b"%PDF-1.4 national suite attachment " * 2000  # two segments and more


@pytest.fixture
def config(config: Config) -> Config:
    return config.with_(algorithms="sm")


def _raw(db, model, ident):
    db.rollback()  # a fresh snapshot: the app committed in its own sessions
    return db.get(model, ident)


def test_sm_vault_scenario_and_a_vault_of_both_suites(api, make: Factory, vault, db, config):
    assert vault.suite is suites.SM
    sales, custodian = make.person(), make.custodian()
    s_token, c_token = make.token(sales), make.token(custodian)
    created = api.post(
        "/clients",
        s_token,
        json={"code": "SMCO", "name": "SM Co", "tier": "general", "tax_id": "91310000SM4"},
    )
    assert created.status_code == 201, created.json
    deposit = api.post(
        "/records",
        s_token,
        json={
            "client_id": created.json["id"],
            "section": "credit",
            "title": "SM record",
            "content": "国密 terms: net 30",
        },
    )
    assert deposit.status_code == 201, deposit.json
    rid = deposit.json["id"]
    upload = api.client.post(
        f"/api/v1/records/{rid}/attachments",
        headers={"Authorization": f"Bearer {s_token}"},
        data={"file": (io.BytesIO(PDF), "scan.pdf", "application/pdf")},
    )
    assert upload.status_code == 201, upload.json

    # Consult, attachment, copy, lookup: all through the choke point, as for AES.
    got = api.get(f"/records/{rid}/content?purpose=renewal", c_token)
    assert got.status_code == 200 and got.json["content"] == "国密 terms: net 30"
    att = api.get(
        f"/records/{rid}/attachments/{upload.json['id']}/content?purpose=renewal", c_token
    )
    assert att.status_code == 200 and att.data == PDF
    copy = api.post(f"/records/{rid}/copy", c_token, json={"purpose": "send to the auditor"})
    assert copy.status_code == 200 and "国密 terms: net 30" in copy.get_data(as_text=True)
    found = api.post("/clients/lookup", c_token, json={"tax_id": "91310000-sm4"})
    assert [c["code"] for c in found.json["items"]] == ["SMCO"]

    # At rest every ciphertext names SM4-GCM, and the blind index is HMAC-SM3.
    record = _raw(db, Record, rid)
    client = _raw(db, Client, created.json["id"])
    assert record.content_ct[0] == suites.FORMAT_SM4_GCM
    assert client.tax_id_ct[0] == suites.FORMAT_SM4_GCM
    blob = db.get(Attachment, upload.json["id"]).blob_key
    with vault.blobs.open(blob) as fh:
        assert fh.read(1)[0] == suites.FORMAT_SM4_GCM
    mac = hmac.HMAC(vault.keys.secret("blind-index"), hashes.SM3())
    mac.update(b"client.tax_id\x0091310000sm4")
    assert client.tax_id_bidx == mac.finalize().hex()

    # The same vault, with VAULT_ALGORITHMS=standard for new ciphertext (a move back):
    # new records are AES, and both kinds read, whichever suite the reader is set to.
    aes_vault = Vault.open(config.with_(algorithms="standard"))
    try:
        assert aes_vault.suite is suites.STANDARD
        aes_api = type(api)(create_app(config, vault=aes_vault).test_client())
        aes_client = aes_api.post(
            "/clients",
            s_token,
            json={"code": "AESCO", "name": "AES Co", "tier": "general", "tax_id": "AES-777"},
        )
        aes_rec = aes_api.post(
            "/records",
            s_token,
            json={
                "client_id": aes_client.json["id"],
                "section": "credit",
                "title": "AES record",
                "content": "aes terms",
            },
        )
        assert aes_rec.status_code == 201, aes_rec.json
        assert _raw(db, Record, aes_rec.json["id"]).content_ct[0] == suites.FORMAT_AES_256_GCM
        for reader in (api, aes_api):
            for record_id, text in ((rid, "国密 terms: net 30"), (aes_rec.json["id"], "aes terms")):
                shown = reader.get(f"/records/{record_id}/content?purpose=renewal", c_token)
                assert shown.status_code == 200 and shown.json["content"] == text
            for value, code in (("91310000SM4", "SMCO"), ("AES777", "AESCO")):
                hit = reader.post("/clients/lookup", c_token, json={"tax_id": value})
                assert [c["code"] for c in hit.json["items"]] == [code]
    finally:
        aes_vault.close()

    vault.maybe_seal(force=True)
    with vault.engine.connect() as conn:
        assert vault.audit.verify(conn).ok
    # The audit log follows the suite too: HMAC-SM3 for the MACs, SM3 for the chain and
    # the tree, named in every event written under it; the standard vault's events are
    # HMAC-SHA-256, and the one log of both verified above.
    assert vault.audit.algorithm == "sm3" and aes_vault.audit.algorithm == "sha256"
    with vault.engine.connect() as conn:
        by_record = dict(
            conn.execute(
                sa.text(
                    "SELECT resource_record, alg FROM audit_events WHERE action = 'record:deposit'"
                )
            ).all()
        )
    assert by_record == {str(rid): "sm3", str(aes_rec.json["id"]): "sha256"}


def test_init_keeps_the_suite_in_the_database(config, tmp_path):
    env = {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_ALGORITHMS": "",
    }
    runner = CliRunner()
    done = runner.invoke(main, ["init", "--algorithms", "sm"], env=env)
    assert done.exit_code == 0, done.output
    assert "algorithms: sm" in done.output
    engine = sa.create_engine(config.database_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT name, value FROM vault_settings")).all()
    engine.dispose()
    assert stored == [("algorithms", "sm")]
    # A later process without the setting still encrypts with the stored suite.
    opened = Vault.open(config.with_(algorithms=None))
    assert opened.suite is suites.SM
    opened.close()
    again = runner.invoke(main, ["init"], env=env)
    assert again.exit_code == 0 and "algorithms: sm" in again.output
    changed = runner.invoke(main, ["init", "--algorithms", "standard"], env=env)
    assert changed.exit_code == 2 and "algorithms_set" in changed.output
    # The setting alone moves new ciphertext, never refuses (init is also the upgrade).
    moving = runner.invoke(main, ["init"], env={**env, "VAULT_ALGORITHMS": "standard"})
    assert moving.exit_code == 0 and "algorithms: sm" in moving.output
    assert "VAULT_ALGORITHMS=standard" in moving.output
    bad = runner.invoke(main, ["init"], env={**env, "VAULT_ALGORITHMS": "gost"})
    assert bad.exit_code == 2 and "VAULT_ALGORITHMS must be standard or sm" in bad.output
