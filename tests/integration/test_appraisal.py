"""Appraisal (DESIGN §2.3): legal holds, disposal approvals, crypto-shredding, old backups.

One world per test, on SQLite and PostgreSQL: clients whose relationship ended long ago
(records past their date), a held client, a core client; then holds, a batch through
every refusal to its approvals, and what every role and every path sees afterwards,
including an attacker who brings back a copy of the database made before the disposal.
"""

from __future__ import annotations

import base64
import io
import shutil
import sqlite3
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from tests import databases
from tests.factories import Factory
from vault import uow
from vault.appraisal import certificates, retention
from vault.archive import records
from vault.caller import Caller
from vault.crypto import (
    DataKey,
    DecryptionError,
    LocalKeyring,
    WrappedKey,
    decrypt_field,
    decrypt_stream,
)
from vault.crypto.contexts import attachment_aad, record_context
from vault.errors import InvalidInput
from vault.models import Person, Record
from vault.runtime import Vault
from vault.web import create_app

LONG_AGO = date.today() - timedelta(days=365 * 12)


@pytest.fixture
def config(config):
    """Blob files are looked at (copied as an old backup, removed as a fault): the local
    blob store on both databases (the PostgreSQL rows are tested in test_blob_stores)."""
    return config.with_(blob_store="local")


def _deposit(make: Factory, client, by: Person, title: str, **kw) -> Record:
    return uow.run(
        make.db,
        records.deposit,
        make.v,
        make.db,
        Caller(person=by),
        records.Deposit(
            client_id=client.id,
            section=kw.pop("section", "transactions"),
            title=title,
            content=kw.pop("content", f"terms of {title}".encode()),
            year=kw.pop("year", 2010),
            doc_type=kw.pop("doc_type", "contract"),
        ),
    )


def _ended(make: Factory, client, custodian: Person) -> None:
    uow.run(
        make.db,
        retention.end_relationship,
        make.v,
        make.db,
        Caller(person=custodian),
        client.id,
        LONG_AGO,
    )


def _events(db, reason: str) -> list[tuple[str, int | None]]:
    """(action, actor) of the audit events refused for ``reason``."""
    db.rollback()  # a fresh look: what the requests have committed since
    rows = db.execute(sa.text("SELECT action, actor_person_id, body FROM audit_events"))
    return [
        (r.action, r.actor_person_id)
        for r in rows
        if f'"reason": "{reason}"' in r.body or f'"reason":"{reason}"' in r.body
    ]


def test_holds_block_disposal_and_lifting_needs_two(api, web, make: Factory, vault, db):
    admin, second = make.admin(), make.second_admin()
    keeper = make.custodian()
    a, b, k = make.token(admin), make.token(second), make.token(keeper)
    held_client, listed_client = make.client(), make.client()
    for c in (held_client, listed_client):
        _ended(make, c, keeper)
    on_client = _deposit(make, held_client, keeper, "Supply contract")
    listed = _deposit(make, listed_client, keeper, "Lease")
    free = _deposit(make, listed_client, keeper, "Old order", doc_type="order", year=2000)

    # Everyone sees the date on the card; the due records are listed for disposal.
    card = api.get(f"/records/{listed.id}", make.token(make.person())).json
    assert card["retention"]["rule"] == "contracts"
    assert card["retention"]["state"] == "due" and card["held"] is False
    due = {d["id"] for d in api.get("/disposal/due", k).json["items"]}
    assert {on_client.id, listed.id, free.id} <= due

    # Placing a hold is one person's act: on a client's whole file, or on records.
    r = api.post("/holds", k, json={"client_id": held_client.id, "reason": "litigation 2026-14"})
    assert r.status_code == 201, r.json
    client_hold = r.json["id"]
    r = api.post("/holds", k, json={"record_ids": [listed.id], "reason": "tax audit"})
    assert r.status_code == 201
    record_hold = r.json["id"]
    employee_try = api.post(
        "/holds", make.token(make.person()), json={"record_ids": [free.id], "reason": "why not"}
    )
    assert employee_try.status_code == 403
    assert api.post("/holds", k, json={"reason": "nothing named"}).json["code"] == (
        "invalid_hold_target"
    )

    # Held records show it on the card and in the catalogue, and leave the due list.
    card = api.get(f"/records/{on_client.id}", k).json
    assert card["held"] is True and card["retention"]["state"] == "held"
    assert [h["id"] for h in card["holds"]] == [client_hold]
    page = api.get(f"/records?client_id={listed_client.id}", k).json["items"]
    assert {p["id"]: p["held"] for p in page} == {listed.id: True, free.id: False}
    due = {d["id"] for d in api.get("/disposal/due", k).json["items"]}
    assert on_client.id not in due and listed.id not in due and free.id in due
    on_pages = api.get("/holds", k).json["holds"]
    assert {h["id"] for h in on_pages} == {client_hold, record_hold}

    # Held records can never be proposed for disposal.
    for rid in (on_client.id, listed.id):
        refused = api.post("/disposal/batches", k, json={"record_ids": [rid], "reason": "due"})
        assert refused.status_code == 409 and refused.json["code"] == "record_held"

    # Lifting needs two admins: the proposer cannot approve their own.
    lift = api.post(f"/holds/{record_hold}/lift", a, json={"reason": "audit closed"})
    assert lift.status_code == 202, lift.json
    own = api.post(f"/proposals/{lift.json['id']}/approve", a, json={})
    assert own.status_code == 403 and own.json["code"] == "same_person_approval"
    assert api.post(f"/holds/{record_hold}/lift", k, json={"reason": "me"}).status_code == 403
    assert api.get(f"/records/{listed.id}", k).json["held"] is True
    assert api.post(f"/proposals/{lift.json['id']}/approve", b, json={}).status_code == 200
    assert api.get(f"/records/{listed.id}", k).json["retention"]["state"] == "due"
    batch = api.post("/disposal/batches", k, json={"record_ids": [listed.id], "reason": "due"})
    assert batch.status_code == 201, batch.json

    # A schedule change is two admins' act, and the dates it moves are audited.
    longer = retention.default_text().replace(
        'anchor = "record_year"\nyears = 10', 'anchor = "record_year"\nyears = 40', 1
    )
    change = api.post("/retention/schedule", a, json={"text": longer, "reason": "new law"})
    assert change.status_code == 202, change.json
    assert api.get(f"/records/{free.id}", k).json["retention"]["state"] == "due"
    assert api.post(f"/proposals/{change.json['id']}/approve", b, json={}).status_code == 200
    moved = api.get(f"/records/{free.id}", k).json["retention"]
    assert (moved["state"], moved["disposal_date"]) == ("kept", "2040-12-31")
    db.rollback()
    dates = (
        db.execute(sa.text("SELECT body FROM audit_events WHERE action = 'retention:dates'"))
        .scalars()
        .all()
    )
    assert any(
        f"{free.id}" in body and '"why":"schedule"' in body.replace(" ", "") for body in dates
    )
    bad = api.post("/retention/schedule", a, json={"text": "rules = [", "reason": "oops"})
    assert bad.status_code == 400 and bad.json["code"] == "invalid_schedule"
    assert _events(db, "record_held"), "the refusals are audited"

    # The pages, in both languages: the card's rule, date and hold; the disposal page's
    # due list, batch and holds with their reasons.
    browser = web.another()
    browser.sign_in(keeper)
    page = browser.get(f"/records/{on_client.id}").get_data(as_text=True)
    assert "Retention rule" in page and "Held (legal hold)" in page and "Hold No." in page
    browser.lang = "zh-CN,zh;q=0.9"
    page = browser.get(f"/records/{on_client.id}").get_data(as_text=True)
    assert "保管规则" in page and "冻结中" in page and "自客户关系终止起" in page
    page = browser.get("/disposal").get_data(as_text=True)
    assert "到期待销毁" in page and listed.file_number in page and "litigation 2026-14" in page
    assert "等待批准" in page  # the batch just proposed
    catalogue = browser.get(f"/catalogue?client={held_client.id}").get_data(as_text=True)
    assert "冻结中" in catalogue
    schedule = browser.get("/retention").get_data(as_text=True)
    assert "保管期限表" in schedule and "credit_reports" in schedule


def _snapshot(vault: Vault, db, backend: str, where: Path, request) -> str:
    """A copy of the database as it is now: SQLite's backup API, PostgreSQL's TEMPLATE
    (a database of its own, dropped when the test ends)."""
    if backend == "sqlite":
        source = sqlite3.connect(sa.make_url(vault.config.database_url).database or "")
        target = where / "old-backup.db"
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return f"sqlite:///{target}"
    db.close()
    db.get_bind().dispose()
    vault.engine.dispose()
    name = sa.make_url(vault.config.database_url).database
    old = f"vt_old_{uuid.uuid4().hex[:12]}"
    with databases.admin().connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{old}" TEMPLATE "{name}"'))
    url = databases.pg_url(old)
    request.addfinalizer(lambda: databases.drop(url))
    return url


def test_disposal_approvals_shred_every_path_and_old_backups(
    api, make: Factory, vault, db, backend, tmp_path, request
):
    admin, second = make.admin(), make.second_admin()
    proposer = make.custodian()
    core_keeper = make.custodian("core")
    employee, auditor = make.person(), make.person(roles=("employee", "auditor"))
    tokens = {p: make.token(p) for p in (admin, second, proposer, core_keeper, employee, auditor)}
    general, core = make.client(), make.client("core")
    for c in (general, core):
        _ended(make, c, proposer)
    title = "供货合同 Supply contract"
    gone = _deposit(make, general, proposer, title, content=b"CANARY-GONE terms")
    gone_core = _deposit(make, core, proposer, "Core contract", content=b"CANARY-CORE")
    kept = _deposit(make, general, proposer, "Recent return", section="returns", year=2025)
    with io.BytesIO(b"CANARY-ATTACHMENT scan") as scan:
        att = uow.run(
            db,
            records.attach,
            vault,
            db,
            Caller(person=proposer),
            gone.id,
            filename="scan.txt",
            content_type="text/plain",
            stream=scan,
        )
    att_id, blob_key = att.id, att.blob_key
    r = api.post(
        f"/records/{gone.id}/items",
        tokens[proposer],
        json={"kind": "folder", "label": "F-1", "location": "shelf 3"},
    )
    assert r.status_code == 201, r.json
    item_id = r.json["id"]
    # The copy an attacker will bring back: database and blobs, before the disposal.
    old_url = _snapshot(vault, db, backend, tmp_path, request)
    old_blobs = tmp_path / "old-blobs"
    shutil.copytree(vault.config.blobs, old_blobs)

    # A record that is not due cannot be proposed; neither can anyone but a custodian.
    p = tokens[proposer]
    assert (
        api.post("/disposal/batches", p, json={"record_ids": [kept.id], "reason": "tidy"}).json[
            "code"
        ]
        == "record_not_due"
    )
    assert (
        api.post(
            "/disposal/batches", tokens[admin], json={"record_ids": [gone.id], "reason": "tidy"}
        ).status_code
        == 403
    )
    assert (
        api.post(
            "/disposal/batches", tokens[employee], json={"record_ids": [gone.id], "reason": "tidy"}
        ).status_code
        == 403
    )
    made = api.post(
        "/disposal/batches", p, json={"record_ids": [gone.id, gone_core.id], "reason": "due"}
    )
    assert made.status_code == 201, made.json
    batch = made.json
    assert batch["needs_custodian"] is True and batch["status"] == "proposed"
    bid = batch["id"]

    # Approvals: the proposer never approves nor countersigns their own batch; the admin
    # alone is not enough for core records; a second custodian of core completes it.
    own = api.post(f"/disposal/batches/{bid}/countersign", p, json={})
    assert own.status_code == 403 and own.json["code"] == "same_person_approval"
    assert api.post(f"/disposal/batches/{bid}/approve", p, json={}).status_code == 403
    assert api.post(f"/disposal/batches/{bid}/approve", tokens[auditor], json={}).status_code == 403
    approved = api.post(f"/disposal/batches/{bid}/approve", tokens[admin], json={"note": "ok"})
    assert approved.status_code == 200 and approved.json["status"] == "proposed"
    assert (
        api.post(f"/disposal/batches/{bid}/countersign", tokens[admin], json={}).status_code == 403
    )
    assert api.get(f"/records/{gone.id}", p).json["disposed_at"] is None
    done = api.post(f"/disposal/batches/{bid}/countersign", tokens[core_keeper], json={})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "disposed" and done.json["countersigned_by"] == core_keeper.id

    # The catalogue entry stays, marked disposed, with its rule, approvers and date.
    card = api.get(f"/records/{gone.id}", tokens[employee]).json
    assert card["title"] == title and card["disposed_at"]
    assert card["retention"]["state"] == "disposed"
    assert card["disposal"]["rule"] == "contracts"
    assert card["disposal"]["approved_by"] == admin.id
    assert card["disposal"]["proposed_by"] == proposer.id
    row = db.get(Record, gone.id)
    db.refresh(row)
    assert row.content_ct == b"" and row.wrapped_dek == b""
    assert not (vault.config.blobs / blob_key[:2] / blob_key).exists() and not any(
        blob_key in str(f) for f in vault.config.blobs.rglob("*")
    )
    assert not vault.shares.has_share(gone.id) and vault.shares.has_share(kept.id)

    # Every path, every role: refused with record_disposed, and audited.
    for person, token in tokens.items():
        paths = [
            api.get(f"/records/{gone.id}/content?purpose=look+again", token),
            api.post(f"/records/{gone.id}/copy", token, json={"purpose": "copy it"}),
            api.get(f"/records/{gone.id}/attachments/{att_id}/content?purpose=scan+please", token),
            api.post(
                f"/items/{item_id}/checkout",
                token,
                json={"borrower": employee.email, "pages": 3, "purpose": "take it home"},
            ),
        ]
        lend = paths.pop()
        for answer in paths:
            assert answer.status_code == 409, (person.email, answer.json)
            assert answer.json["code"] == "record_disposed"
            assert b"CANARY" not in answer.data
        # Only custodians lend at all (the gate refuses anyone else before the record).
        expected = "record_disposed" if person is proposer else lend.json["code"]
        assert lend.status_code in (403, 409) and lend.json["code"] == expected
    audited = _events(db, "record_disposed")
    assert len(audited) >= 3 * len(tokens) + 1
    assert {actor for _, actor in audited} >= {p.id for p in tokens}
    assert api.get(f"/records/{kept.id}/content?purpose=still+here", p).status_code == 200
    added = api.client.post(
        f"/api/v1/records/{gone.id}/attachments",
        headers={"Authorization": f"Bearer {p}"},
        data={"file": (io.BytesIO(b"late scan"), "late.txt", "text/plain")},
    )
    assert added.status_code == 409 and added.json["code"] == "record_disposed"

    # The destruction certificate: the PDF lists the records (Chinese titles drawn), its
    # signature verifies under the audit signing key, its digest is in the audit log.
    cert = api.get(f"/disposal/batches/{bid}/certificate", tokens[auditor])
    assert cert.status_code == 200 and cert.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(cert.data)).pages)
    assert gone.file_number in text and gone_core.file_number in text
    assert "供货合同" in text and admin.email in text and core_keeper.email in text
    signature = base64.b64decode(cert.headers["X-Signature"])
    sha = cert.headers["X-Certificate-SHA256"]
    assert certificates.verify(vault, cert.data, signature, sha)
    assert not certificates.verify(vault, cert.data + b" ", signature, sha)
    db.rollback()
    logged = db.execute(
        sa.text("SELECT body FROM audit_events WHERE action = 'disposal:carry_out'")
    ).scalar_one()
    assert sha in str(logged)
    assert api.get(f"/disposal/batches/{bid}/certificate", tokens[employee]).status_code == 403

    # The old backup comes back (same keys, same share file): the record does not decrypt
    # by any path. Through the vault: refused, the tombstone says disposed.
    old = Vault.open(vault.config.with_(database_url=old_url))
    try:
        with old.sessions() as session:
            stale = session.get(Record, gone.id)
            assert stale is not None and stale.disposed_at is None and stale.content_ct
        old_api = create_app(old.config, vault=old).test_client()
        for token in tokens.values():
            answer = old_api.get(
                f"/api/v1/records/{gone.id}/content?purpose=from+backup",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code in (401, 409)  # tokens made after the backup: unknown
        old_custodian = old_api.get(
            f"/api/v1/records/{gone.id}/content?purpose=from+backup",
            headers={"Authorization": f"Bearer {_old_token(old, proposer)}"},
        )
        assert old_custodian.status_code == 409
        assert old_custodian.json["code"] == "record_disposed"
        still = old_api.get(
            f"/api/v1/records/{kept.id}/content?purpose=from+backup",
            headers={"Authorization": f"Bearer {_old_token(old, proposer)}"},
        )
        assert still.status_code == 200, "records not disposed of read from the backup"
        # Around the vault, with the key file itself: the provider's half unwraps, and
        # opens neither the content nor the attachment; the share is gone.
        keyring = LocalKeyring.load(vault.config.keyring)
        half = keyring.unwrap(WrappedKey.from_bytes(stale.wrapped_dek), record_context(gone.id))
        with pytest.raises(DecryptionError):
            decrypt_field(
                half,
                stale.content_ct,
                record_id=str(gone.id),
                field="content",
                version=stale.content_version,
            )
        with pytest.raises(DecryptionError):
            vault.shares.share(gone.id)
        blob = old_blobs / blob_key[:2] / blob_key
        found = blob if blob.exists() else next(f for f in old_blobs.rglob(blob_key))
        with open(found, "rb") as fh, pytest.raises(DecryptionError):
            b"".join(decrypt_stream(half, fh, aad=attachment_aad(gone.id, att_id)))
        share_bytes = Path(vault.config.shares).read_bytes()
        assert b"CANARY" not in share_bytes
        assert not isinstance(half, type(None)) and isinstance(half, DataKey)
    finally:
        old.close()


def _old_token(old: Vault, person: Person) -> str:
    """A token made in the restored database (the tokens of the test came after it)."""
    from vault.identity import tokens

    with old.sessions() as session:
        found = session.get(Person, person.id)
        made = tokens.issue_token(old, session, Caller.operator(), found, "restored")
        session.commit()
    return made


def test_a_bad_schedule_is_refused_at_start(tmp_path):
    """The app refuses to start (before it opens anything), the CLI says why, exit 2."""
    from click.testing import CliRunner

    from vault.cli import main
    from vault.config import Config

    config = Config(home=tmp_path / "var", testing=True, secret_key="test-secret")
    bad = tmp_path / "schedule.toml"
    bad.write_text(
        '[[rules]]\nid = "all"\ntitle = "All"\nsection = "basic"\n'
        'anchor = "record_year"\nyears = 5\n'
    )
    with pytest.raises(InvalidInput, match="no rule covers credit records") as refused:
        create_app(config.with_(retention_schedule=bad))
    assert refused.value.code == "invalid_schedule"
    assert not (tmp_path / "var").exists(), "nothing was opened or created"
    said = CliRunner().invoke(main, ["retention", "check", str(bad)])
    assert said.exit_code == 2 and "no rule covers credit records" in said.output
    assert "Traceback" not in said.output
    bad.write_text("rules = [")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        create_app(config.with_(retention_schedule=bad))
    bad.write_text(retention.default_text().replace("years = 3", "years = -3"))
    with pytest.raises(InvalidInput, match="greater than or equal to 0"):
        create_app(config.with_(retention_schedule=bad))
    good = tmp_path / "good.toml"
    good.write_text(retention.default_text())
    assert len(retention.check_configured(config.with_(retention_schedule=good)).rules) == 7
    said = CliRunner().invoke(main, ["retention", "check", str(good)])
    assert said.exit_code == 0 and "valid, 7 rules" in said.output


def test_the_operator_cannot_approve_countersign_or_turn_down_a_batch(make: Factory, vault, db):
    # The CLI's --by is required; a caller without a person (the operator, a script on
    # the service) is refused each decision with its code, audited, and nothing changes.
    from vault.appraisal import disposal
    from vault.errors import Denied

    proposer = make.custodian("core")
    client = make.client("core")
    _ended(make, client, proposer)
    due = _deposit(make, client, proposer, "Old core contract")
    batch = uow.run(
        db, disposal.propose, vault, db, Caller(person=proposer), [due.id], "past retention"
    )
    operator = Caller.operator()
    for act, code, args in (
        (disposal.approve, "admin_required", ()),
        (disposal.countersign, "custodian_required", ()),
        (disposal.reject, "admin_required", ("no",)),
    ):
        with pytest.raises(Denied) as refused:
            uow.run(db, act, vault, db, operator, batch.id, *args)
        assert refused.value.code == code
    db.rollback()
    again = disposal.get(db, batch.id)
    assert again.status == "proposed" and again.admin_approved_by_id is None
    assert again.custodian_approved_by_id is None
    assert db.get(Record, due.id).disposed_at is None
    refusals = _events(db, "admin_required") + _events(db, "custodian_required")
    assert len(refusals) == 3 and all(actor is None for _, actor in refusals)


def test_the_four_properties_check_runs_before_disposal_and_its_faults_are_certified(
    make: Factory, vault, db
):
    # Past retention and approved, a record is destroyed even when it is no longer
    # authentic; what the check before the shredding found is kept: the run (trigger
    # disposal), its id and faults in the carry-out event and on the signed certificate.
    import json

    from audit.schema import audit_events
    from vault.appraisal import checks, disposal
    from vault.models import CheckRun, DestructionCertificate

    admin, proposer = make.admin(), make.custodian()
    client = make.client()
    _ended(make, client, proposer)
    sound = _deposit(make, client, proposer, "Sound contract")
    altered = _deposit(make, client, proposer, "Altered contract")
    db.execute(sa.update(Record).where(Record.id == altered.id).values(content_digest="0" * 64))
    db.commit()
    vault.maybe_seal(force=True)
    batch = uow.run(
        db,
        disposal.propose,
        vault,
        db,
        Caller(person=proposer),
        [sound.id, altered.id],
        "past retention",
    )
    done = uow.run(db, disposal.approve, vault, db, Caller(person=admin), batch.id)
    assert done.status == "disposed"
    run = db.scalars(sa.select(CheckRun).where(CheckRun.trigger == "disposal")).one()
    assert run.records == 2 and run.failures >= 1
    body = db.scalars(
        sa.select(audit_events.c.body).where(audit_events.c.action == "disposal:carry_out")
    ).one()
    details = json.loads(body)["details"]
    assert details["check_run"] == run.id and details["records_with_faults"] == 1
    cert = db.scalars(
        sa.select(DestructionCertificate).where(DestructionCertificate.batch_id == batch.id)
    ).one()
    text = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(cert.pdf)).pages)
    assert f"#{run.id}" in text and "check faults" in text
    assert certificates.verify(vault, cert.pdf, cert.signature, cert.sha256)
    # Afterwards a full check looks at the entries that stay, not for content that is gone.
    db.commit()
    vault.maybe_seal(force=True)
    after = uow.run(db, checks.run_check, vault, db, Caller.operator(), "all")
    assert after.run.figures["disposed"] == 2
    assert not {"undecryptable", "content_changed"} & {f.code for f in after.findings}
