"""DESIGN §3 invariants 1, 2, 4, 5, 7, 10, 11, 12 as an attacker or a user would see them."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from audit import drop_append_only_ddl
from vault import uow
from vault.cli import main
from vault.crypto import KeyringError
from vault.models import Client, Person, Record
from vault.runtime import Vault
from vault.web import create_app

CANARY = "CANARY-客户机密-Zq7x"
TAX_CANARY = "TAXCANARY9Q7X"
BANK_CANARY = "BANKCANARY5521"
FILE_CANARY = b"FILECANARY-scan-of-contract-\xe5\xae\xa2"


def forms(secret: str | bytes) -> list[bytes]:
    """Every form a leaked secret could take in a file."""
    if isinstance(secret, bytes):
        return [secret]
    return [
        secret.encode("utf-8"),
        json.dumps(secret)[1:-1].encode(),  # JSON \u escapes
        secret.encode("utf-16-le"),
        secret.encode("utf-16-be"),
    ]


def written_bytes(vault: Vault, backend: str) -> bytes:
    """Every byte the vault wrote: database (file or pg_dump), blobs, logs."""
    chunks = []
    cfg = vault.config
    if backend == "sqlite":
        db_file = Path(cfg.database_url.removeprefix("sqlite:///"))
        chunks += [p.read_bytes() for p in db_file.parent.glob(db_file.name + "*")]
    else:
        url = sa.engine.make_url(cfg.database_url)  # the test's own database (tests/databases.py)
        dump = subprocess.run(
            [
                "pg_dump",
                "-h",
                url.host,
                "-p",
                str(url.port),
                "-U",
                url.username,
                url.database,
            ],
            capture_output=True,
            check=True,
        )
        chunks.append(dump.stdout)
    for folder in (cfg.blobs, cfg.logs):
        chunks += [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    return b"\n".join(chunks)


def test_no_plaintext_at_rest(api, make, vault, backend, capfd):
    """Invariant 1: a full scenario with canaries; no byte written anywhere holds them."""
    sales, custodian = make.person(), make.custodian()
    auditor = make.person(roles=("employee", "auditor"))
    s_token, c_token = make.token(sales), make.token(custodian)
    created = api.post(
        "/clients",
        s_token,
        json={
            "code": "CANCO",
            "name": "Canary Co",
            "tier": "core",
            "tax_id": TAX_CANARY,
            "bank_account": BANK_CANARY,
        },
    )
    assert created.status_code == 201
    record = api.post(
        "/records",
        s_token,
        json={
            "client_id": created.json["id"],
            "section": "credit",
            "title": "CONTROL-TITLE-visible",
            "content": f"terms: {CANARY}",
        },
    ).json
    upload = api.client.post(
        f"/api/v1/records/{record['id']}/attachments",
        headers={"Authorization": f"Bearer {s_token}"},
        data={"file": (io.BytesIO(FILE_CANARY * 100), "scan.pdf", "application/pdf")},
    )
    assert upload.status_code == 201
    assert api.get(f"/records/{record['id']}/content?purpose=peek", s_token).status_code == 403
    got = api.get(f"/records/{record['id']}/content?purpose=renewal", c_token)
    assert CANARY in got.json["content"]
    att = api.get(
        f"/records/{record['id']}/attachments/{upload.json['id']}/content?purpose=renewal", c_token
    )
    assert att.data == FILE_CANARY * 100
    found = api.post("/clients/lookup", c_token, json={"tax_id": TAX_CANARY}).json["items"]
    assert [c["code"] for c in found] == ["CANCO"]
    refused = api.post("/clients/lookup", s_token, json={"bank_account": BANK_CANARY})
    assert refused.status_code == 403
    api.get("/audit/events", make.token(auditor))
    vault.maybe_seal()

    captured = capfd.readouterr()
    everything = written_bytes(vault, backend) + captured.out.encode() + captured.err.encode()
    assert b"CONTROL-TITLE-visible" in everything  # the scan does see what is stored in clear
    for secret in (CANARY, TAX_CANARY, BANK_CANARY, FILE_CANARY):
        for form in forms(secret):
            assert form not in everything, f"{secret!r} found at rest as {form!r}"


def test_ciphertext_moved_to_another_record_does_not_decrypt(api, make, db):
    """Invariant 2: content copied between records fails with one error that reveals nothing."""
    custodian = make.custodian()
    a = make.record(make.client("general"), content=b"record A terms")
    b = make.record(make.client("general"), content=b"record B terms")
    db.execute(
        sa.update(Record)
        .where(Record.id == b.id)
        .values(content_ct=a.content_ct, wrapped_dek=a.wrapped_dek)
    )
    db.commit()
    token = make.token(custodian)
    resp = api.get(f"/records/{b.id}/content?purpose=review", token)
    assert resp.status_code == 503 and resp.json["code"] == "decryption_failed"
    assert "record A" not in resp.get_data(as_text=True)
    assert api.get(f"/records/{a.id}/content?purpose=review", token).json["content"] == (
        "record A terms"
    )


def test_each_record_has_its_own_key(make):
    a, b = make.record(), make.record()
    assert a.wrapped_dek != b.wrapped_dek
    assert a.content_ct != b.content_ct


def _break_audit_store(db, backend):
    if backend == "sqlite":
        db.execute(
            sa.text(
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit store down'); END"
            )
        )
    else:
        db.execute(
            sa.text(
                "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN RAISE EXCEPTION 'audit store down'; END$$"
            )
        )
        db.execute(
            sa.text(
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
                "FOR EACH ROW EXECUTE FUNCTION audit_down()"
            )
        )
    db.commit()


def test_no_audit_no_content(api, make, db, backend):
    """Invariant 4: when the audit append fails, the consultation fails and nothing leaves."""
    custodian, sales = make.custodian(), make.person()
    record = make.record(make.client("general"), content=b"must not leave")
    c_token, s_token = make.token(custodian), make.token(sales)
    client_id = record.client_id
    records_before = db.scalar(sa.select(sa.func.count()).select_from(Record))
    _break_audit_store(db, backend)

    resp = api.get(f"/records/{record.id}/content?purpose=review", c_token)
    assert resp.status_code == 503 and resp.json["code"] == "storage_unavailable"
    assert "must not leave" not in resp.get_data(as_text=True)
    deposit = api.post(
        "/records",
        s_token,
        json={"client_id": client_id, "section": "basic", "title": "t", "content": "x"},
    )
    assert deposit.status_code == 503
    assert db.scalar(sa.select(sa.func.count()).select_from(Record)) == records_before


def test_every_consultation_is_audited_allowed_or_denied(api, make, vault, db):
    custodian, sales = make.custodian(), make.person()
    record = make.record(make.client("core"))
    api.get(f"/records/{record.id}/content?purpose=review", make.token(custodian))
    api.get(f"/records/{record.id}/content?purpose=review", make.token(sales))
    api.get("/records/999999/content?purpose=review", make.token(sales))
    rows = db.execute(
        sa.text(
            "SELECT actor_person_id, decision, resource_record FROM audit_events "
            "WHERE action = 'record:consult' ORDER BY seq"
        )
    ).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (custodian.id, "allow", str(record.id)),
        (sales.id, "deny", str(record.id)),
        (sales.id, "n/a", "999999"),
    ]


def _env(config) -> dict[str, str]:
    return {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "x",
    }


TAMPERS = {
    "changed": [
        "UPDATE audit_events SET body = replace(body, '\"deny\"', '\"allow\"') "
        "WHERE seq = (SELECT min(seq) FROM audit_events WHERE decision = 'deny')"
    ],
    "deleted": ["DELETE FROM audit_events WHERE seq = (SELECT min(seq) + 2 FROM audit_events)"],
    # A replay of the first event under a new id, appended after the sealed head.
    "inserted": [
        "INSERT INTO audit_events (seq, event_id, time, action, actor_person_id, "
        "decision, outcome, resource_record, resource_client, body, mac) "
        "SELECT seq + 1000000, 'deadbeefdeadbeefdeadbeefdeadbeef', time, action, "
        "actor_person_id, decision, outcome, resource_record, resource_client, body, "
        "mac FROM audit_events WHERE seq = (SELECT min(seq) FROM audit_events)"
    ],
    "reordered": [
        "UPDATE audit_events SET seq = -seq WHERE seq IN (SELECT min(seq) + 1 FROM audit_events)"
    ],
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_audit_verify_names_the_first_bad_event(tamper, api, make, vault, db, config, backend):
    """Invariant 5 through the CLI: exit 0 when intact; otherwise exit 1 naming the event."""
    custodian, sales = make.custodian(), make.person()
    record = make.record(make.client("general"))
    for token in (make.token(custodian), make.token(sales)):
        api.get(f"/records/{record.id}/content?purpose=review", token)
    runner = CliRunner()
    sealed = runner.invoke(main, ["audit", "seal"], env=_env(config))
    assert sealed.exit_code == 0, sealed.output
    ok = runner.invoke(main, ["audit", "verify"], env=_env(config))
    assert ok.exit_code == 0 and "audit log intact" in ok.output

    for statement in drop_append_only_ddl(backend if backend == "sqlite" else "postgresql"):
        db.execute(sa.text(statement))
    for statement in TAMPERS[tamper]:
        db.execute(sa.text(statement))
    db.commit()
    bad = runner.invoke(main, ["audit", "verify"], env=_env(config))
    assert bad.exit_code == 1, bad.output
    assert "AUDIT LOG BROKEN" in bad.output and "at event seq" in bad.output


def test_audit_rows_cannot_be_changed_through_the_database(make, db):
    make.record()
    with pytest.raises(sa.exc.DBAPIError):
        db.execute(sa.text("UPDATE audit_events SET decision = 'allow'"))
    db.rollback()
    with pytest.raises(sa.exc.DBAPIError):
        db.execute(sa.text("DELETE FROM audit_events"))
    db.rollback()


def test_custody_needs_an_admin_designation_never_self(make, vault, db):
    """Invariants 7 and 10: designation by an admin only, never oneself; no custodian role."""
    from vault.caller import Caller
    from vault.errors import Denied, InvalidInput
    from vault.people import designations, directory

    admin, other_admin = make.admin(), make.person(roles=("employee", "admin"), years=10)
    employee = make.person(years=20)
    with pytest.raises(Denied) as exc:
        uow.run(
            db,
            designations.designate,
            vault,
            db,
            Caller(person=admin),
            admin,
            ["core"],
            reason="keeps the core files",
        )
    assert exc.value.code == "self_designation"
    with pytest.raises(Denied) as exc:
        uow.run(
            db,
            designations.designate,
            vault,
            db,
            Caller(person=employee),
            employee,
            ["core"],
            reason="keeps the core files",
        )
    assert exc.value.code == "role_required"
    with pytest.raises(InvalidInput) as exc2:
        uow.run(
            db,
            directory.add_person,
            vault,
            db,
            Caller.operator(),
            email="x@corp.test",
            name="X",
            hired_on=employee.hired_on,
            roles=["custodian"],
        )
    assert exc2.value.code == "custodian_not_a_role"
    proposal = uow.run(
        db,
        designations.designate,
        vault,
        db,
        Caller(person=other_admin),
        admin,
        ["core"],
        reason="keeps the core files",
    )
    assert db.get(Person, admin.id).custodian_tiers() == frozenset()  # not before approval
    make.approve(proposal.id, make.second_admin())
    db.expire_all()
    assert db.get(Person, admin.id).custodian_tiers() == {"core"}
    denials = db.execute(
        sa.text(
            "SELECT count(*) FROM audit_events WHERE action = 'designation:create' "
            "AND outcome = 'denied'"
        )
    ).scalar()
    assert denials == 2


def test_tenure_is_recomputed_at_each_decision(api, make, db):
    custodian = make.custodian("general", years=2.9)
    record = make.record(make.client("general"))
    token = make.token(custodian)
    path = f"/records/{record.id}/content?purpose=review"
    assert api.get(path, token).json["code"] == "tenure_too_short"
    db.execute(
        sa.update(Person)
        .where(Person.id == custodian.id)
        .values(hired_on=custodian.hired_on.replace(year=custodian.hired_on.year - 1))
    )
    db.commit()
    assert api.get(path, token).status_code == 200


BAD_DEPOSITS = [
    ("not json", "invalid_json", 400),
    ([1, 2], "invalid_json", 400),
    ({}, "missing_client_id", 400),
    (
        {"client_id": "1; DROP TABLE records", "section": "credit", "title": "t", "content": "x"},
        "invalid_client_id",
        400,
    ),
    (
        {"client_id": True, "section": "credit", "title": "t", "content": "x"},
        "invalid_client_id",
        400,
    ),
    (
        {"client_id": 424242, "section": "credit", "title": "t", "content": "x"},
        "client_not_found",
        404,
    ),
    (
        {"client_id": "CID", "section": "secret", "title": "t", "content": "x"},
        "invalid_section",
        400,
    ),
    ({"client_id": "CID", "section": "credit", "title": "", "content": "x"}, "invalid_title", 400),
    (
        {"client_id": "CID", "section": "credit", "title": "t" * 301, "content": "x"},
        "invalid_title",
        400,
    ),
    ({"client_id": "CID", "section": "credit", "title": "t"}, "missing_content", 400),
    (
        {"client_id": "CID", "section": "credit", "title": "t", "content": {"a": 1}},
        "invalid_content",
        400,
    ),
    (
        {"client_id": "CID", "section": "credit", "title": "t", "content_base64": "!!!"},
        "invalid_content",
        400,
    ),
    (
        {
            "client_id": "CID",
            "section": "credit",
            "title": "t",
            "content": "x",
            "valid_until": "next tuesday",
        },
        "invalid_valid_until",
        400,
    ),
    (
        {
            "client_id": "CID",
            "section": "basic",
            "title": "t",
            "content": "x",
            "valid_until": "2027-01-01",
        },
        "invalid_valid_until",
        400,
    ),
    (
        {"client_id": "CID", "section": "credit", "title": "t", "content": "x" * (1 << 20) + "y"},
        "content_too_large",
        413,
    ),
    (
        {"client_id": "CID", "section": "credit", "title": "t", "content": "x" * (3 << 20)},
        "too_large",
        413,
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "status"), BAD_DEPOSITS, ids=[c for _, c, _ in BAD_DEPOSITS]
)
def test_bad_input_gets_a_stable_code_and_changes_nothing(api, make, db, body, code, status):
    """Invariant 11."""
    token = make.token(make.person())
    client = make.client()
    if isinstance(body, dict) and body.get("client_id") == "CID":
        body = {**body, "client_id": client.id}
    before = db.scalar(sa.select(sa.func.count()).select_from(Record))
    if body == "not json":
        resp = api.client.post(
            "/api/v1/records",
            data="{oops",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    else:
        resp = api.post("/records", token, json=body)
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    assert resp.json["code"] == code
    assert "Traceback" not in resp.get_data(as_text=True)
    assert db.scalar(sa.select(sa.func.count()).select_from(Record)) == before


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/records?limit=abc", "invalid_limit"),
        ("/records?limit=0", "invalid_limit"),
        ("/records?offset=-1", "invalid_offset"),
        ("/records?section=nope", "invalid_section"),
        ("/clients?tier=platinum", "invalid_tier"),
        ("/clients?tax_id=---", "sensitive_in_url"),
        ("/records?Bank-Account=1", "sensitive_in_url"),
        ("/records/1/content?purpose=" + "p" * 501, "purpose_required"),
        ("/records/abc", "record_not_found"),
        ("/nowhere", "not_found"),
    ],
)
def test_bad_queries_get_stable_codes(api, make, path, code):
    make.record()
    resp = api.get(path, make.token(make.custodian()))
    assert 400 <= resp.status_code < 500
    assert resp.json["code"] == code


def test_bad_client_input(api, make, db):
    token = make.token(make.person())
    make.client(code="TAKEN")
    before = db.scalar(sa.select(sa.func.count()).select_from(Client))
    for body, code in (
        ({"code": "TAKEN", "name": "n", "tier": "core"}, "client_exists"),
        ({"code": "bad code!", "name": "n", "tier": "core"}, "invalid_client_code"),
        ({"code": "OKAY", "name": "n", "tier": "gold"}, "invalid_tier"),
        ({"code": "OKAY", "name": "n", "tier": "core", "kind": "alien"}, "invalid_kind"),
    ):
        resp = api.post("/clients", token, json=body)
        assert resp.json["code"] == code
    assert db.scalar(sa.select(sa.func.count()).select_from(Client)) == before


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_readable_keyring_is_refused(config, vault, mode):
    """Invariant 12 (keyring): the vault will not start on a keyring others can read."""
    os.chmod(config.keyring, mode)
    with pytest.raises(KeyringError, match="chmod"):
        Vault.open(config)
    with pytest.raises(KeyringError):
        create_app(config)
    result = CliRunner().invoke(main, ["audit", "verify"], env=_env(config))
    assert result.exit_code == 1 and "chmod" in result.output


def test_keyring_is_created_private(tmp_path):
    home = tmp_path / "fresh"
    result = CliRunner().invoke(
        main,
        ["init"],
        env={"VAULT_HOME": str(home), "VAULT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
    )
    assert result.exit_code == 0, result.output
    assert (home / "keyring.json").stat().st_mode & 0o777 == 0o600
    assert (home / "secret_key").stat().st_mode & 0o777 == 0o600
    assert home.stat().st_mode & 0o077 == 0
