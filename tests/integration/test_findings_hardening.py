"""Findings of the security review, each done the way the attacker (or the crash) did it."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa

from audit import audit_events
from tests.factories import Factory
from vault import uow
from vault.archive import records
from vault.caller import Caller
from vault.crypto import DecryptionError, LocalKeyring
from vault.keys import rotation
from vault.models import Person
from vault.runtime import Vault
from vault.uow import unit_of_work


def _env(config) -> dict[str, str]:
    return {
        **os.environ,
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "PYTHONPATH": os.getcwd(),
    }


def _rotate_events(vault: Vault) -> list[str]:
    with vault.engine.connect() as conn:
        return [
            body
            for (body,) in conn.execute(
                sa.select(audit_events.c.body).where(audit_events.c.action == "key:rotate")
            )
        ]


# Finding 10: key rotation outside the log.


def test_a_rotation_killed_before_its_event_commits_leaves_no_new_active_key(vault, config):
    old = vault.keys.active_key_id
    script = textwrap.dedent(
        """
        import os, signal
        from vault.caller import Caller
        from vault.cli.common import opened
        from vault.keys import rotation

        with opened() as (v, db):
            rotation.rotate(v, db, Caller.operator())
            os.kill(os.getpid(), signal.SIGKILL)  # killed before the command commits
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], env=_env(config), capture_output=True, timeout=120
    )
    assert run.returncode == -9, run.stderr.decode()[-2000:]
    assert _rotate_events(vault) == []
    on_disk = LocalKeyring.load(config.keyring)
    assert on_disk.active_key_id == old  # no key is active without its event


def test_a_rotation_rolled_back_makes_no_key_and_a_committed_one_its_event_first(
    vault, config, make: Factory
):
    old = vault.keys.active_key_id
    session = vault.sessions()
    try:
        announced = rotation.rotate(vault, session, Caller.operator())
        session.rollback()  # the commit failed: the act and its event are gone
    finally:
        session.close()
    assert LocalKeyring.load(config.keyring).key_ids() == [old]
    assert vault.keys.active_key_id == old and _rotate_events(vault) == []

    with unit_of_work(vault) as db:
        new = rotation.rotate(vault, db, Caller.operator())
        assert LocalKeyring.load(config.keyring).active_key_id == old  # not before the commit
    assert new == announced
    assert LocalKeyring.load(config.keyring).active_key_id == new == vault.keys.active_key_id
    (body,) = _rotate_events(vault)
    assert f'"key":"{new}"' in body and f'"previous":"{old}"' in body


# Finding 12: under review, attachments, request ids.


def _under_review(api, make: Factory, vault, person) -> None:
    """Put ``person`` under review the way it happens: by crossing the export quota."""
    object.__setattr__(
        vault,
        "config",
        vault.config.with_(
            quota_hour=2, quota_day=3, custodian_quota_hour=2, custodian_quota_day=3
        ),
    )
    client = make.client("general")
    token = make.token(person)
    codes = [
        api.get(f"/records/{make.record(client).id}/content?purpose=look", token).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 403]
    with vault.engine.connect() as conn:
        flag = conn.scalar(sa.select(Person.under_review).where(Person.id == person.id))
    assert flag is True


def test_a_custodian_under_review_cannot_approve_deny_or_lend(api, make: Factory, vault, db):
    custodian = make.custodian("general")
    other = make.custodian("general")
    sales = make.person()
    record = make.record(make.client("general"))
    ask = {"record_id": record.id, "reason": "renewing the payment terms with them"}
    first = api.post("/access-requests", make.token(sales), json=ask).json
    item = api.post(
        f"/records/{record.id}/items",
        make.token(custodian),
        json={"kind": "folder", "label": "Folder", "location": "Shelf 1"},
    ).json
    _under_review(api, make, vault, custodian)
    token = make.token(custodian)

    for verb in ("approve", "deny"):
        got = api.post(f"/access-requests/{first['id']}/{verb}", token, json={})
        assert got.status_code == 403 and got.json["code"] == "under_review", got.json
    lent = api.post(
        f"/items/{item['id']}/checkout",
        token,
        json={"borrower": other.email, "pages": 3, "purpose": "prepare the renewal talks"},
    )
    assert lent.status_code == 403 and lent.json["code"] == "under_review"
    with vault.engine.connect() as conn:
        refused = conn.execute(
            sa.select(audit_events.c.action).where(
                audit_events.c.actor_person_id == custodian.id,
                audit_events.c.decision == "deny",
                audit_events.c.action.in_(["request:approve", "request:deny", "item:checkout"]),
            )
        ).all()
    assert sorted(a for (a,) in refused) == ["item:checkout", "request:approve", "request:deny"]
    # The request is untouched: another custodian still decides it.
    approved = api.post(f"/access-requests/{first['id']}/approve", make.token(other), json={})
    assert approved.status_code == 200, approved.json


def _attach(api, token: str, record_id: int, data: bytes = b"scan"):
    return api.client.post(
        f"/api/v1/records/{record_id}/attachments",
        headers={"Authorization": f"Bearer {token}"},
        data={"file": (io.BytesIO(data), "scan.txt", "text/plain")},
    )


def test_only_the_depositor_or_a_custodian_in_scope_attaches_files(api, make: Factory, vault):
    depositor, stranger = make.person(), make.person()
    record = make.record(make.client("general"), by=depositor)
    core_only = make.custodian("core")

    assert _attach(api, make.token(depositor), record.id).status_code == 201
    assert _attach(api, make.token(make.custodian("general")), record.id).status_code == 201
    for person, code in ((stranger, "not_depositor"), (core_only, "not_depositor")):
        got = _attach(api, make.token(person), record.id, b"planted")
        assert got.status_code == 403 and got.json["code"] == code, got.json
    missing = _attach(api, make.token(stranger), 999_999)
    assert missing.status_code == 404 and missing.json["code"] == "record_not_found"
    listed = api.get(f"/records/{record.id}", make.token(depositor)).json["attachments"]
    assert len(listed) == 2
    with vault.engine.connect() as conn:
        refused = conn.execute(
            sa.select(audit_events.c.actor_person_id, audit_events.c.resource_record).where(
                audit_events.c.action == "record:attach", audit_events.c.outcome == "denied"
            )
        ).all()
    assert sorted(refused) == sorted(
        [(stranger.id, str(record.id)), (core_only.id, str(record.id)), (stranger.id, "999999")]
    )


def test_the_request_id_is_the_servers_and_a_plain_client_id_is_kept_apart(api, make: Factory):
    custodian = make.custodian("general")
    record = make.record(make.client("general"))
    token = make.token(custodian)
    auditor = make.token(make.person(roles=("employee", "auditor")))
    sent = {
        "plain": "trace-42.a_B",
        "forged": "0" * 32,
        "hostile": "x; Set-Cookie: a=b",
        "long": "a" * 65,
        "html": "<script>",
    }
    seen = {}
    for name, value in sent.items():
        got = api.client.get(
            f"/api/v1/records/{record.id}/content?purpose={name}",
            headers={"Authorization": f"Bearer {token}", "X-Request-Id": value},
        )
        assert got.status_code == 200
        assert got.headers["X-Request-Id"] != value
        seen[name] = got.headers["X-Request-Id"]
    events = api.get("/audit/events?action=record:consult", auditor).json["items"]
    by_purpose = {ev["purpose"]: ev for ev in events}
    for name, value in sent.items():
        ev = by_purpose[name]
        assert ev["request_id"] == seen[name] and re.fullmatch("[0-9a-f]{32}", ev["request_id"])
        kept = ev["details"].get("client_request_id")
        assert kept == (value if name in ("plain", "forged") else None), name
    assert by_purpose["forged"]["request_id"] != "0" * 32


# Finding 6: refusals that left no audit event.


def _events(vault: Vault, action: str) -> list[dict]:
    with vault.engine.connect() as conn:
        return [
            json.loads(body)
            for (body,) in conn.execute(
                sa.select(audit_events.c.body)
                .where(audit_events.c.action == action)
                .order_by(audit_events.c.seq)
            )
        ]


def test_a_copy_of_a_format_that_cannot_be_watermarked_is_a_denied_audited_copy(
    api, make: Factory, vault, db
):
    custodian = make.custodian("general")
    client = make.client("general")
    zipped = uow.run(
        db,
        records.deposit,
        vault,
        db,
        Caller.operator(),
        records.Deposit(
            client_id=client.id,
            section="transactions",
            title="Scans",
            content=b"PK\x03\x04zip",
            content_type="application/zip",
        ),
    )
    got = api.post(
        f"/records/{zipped.id}/copy", make.token(custodian), json={"purpose": "for the bank"}
    )
    assert got.status_code == 400 and got.json["code"] == "copy_format_unsupported"
    (event,) = _events(vault, "record:copy")
    assert event["outcome"] == "denied" and event["reason"] == "copy_format_unsupported"
    assert event["actor"]["person_id"] == custodian.id
    assert event["resource"]["record"] == str(zipped.id) and event["purpose"] == "for the bank"
    # A stranger is refused for who they are, not told about the format.
    stranger = api.post(
        f"/records/{zipped.id}/copy", make.token(make.person()), json={"purpose": "curious"}
    )
    assert stranger.status_code == 403 and stranger.json["code"] == "no_grant"


def test_ids_beyond_the_columns_range_are_audited_like_unknown_ids(api, make: Factory, vault):
    custodian = make.custodian("general")
    token = make.token(custodian)
    huge, unknown = 2**31, 2**31 - 1
    for record_id in (unknown, huge, 10**30):
        got = api.get(f"/records/{record_id}/content?purpose=look", token)
        assert got.status_code == 404 and got.json["code"] == "record_not_found"
    for item_id in (unknown, huge, 10**30):
        got = api.post(
            f"/items/{item_id}/checkout",
            token,
            json={"borrower": custodian.email, "pages": 1, "purpose": "prepare the talks"},
        )
        assert got.status_code == 404 and got.json["code"] == "item_not_found"
    # An id past the column reaches the service as 0, an id no row has (ids start at 1):
    # refused and audited exactly as an unknown id, by the same code path.
    consults = _events(vault, "record:consult")
    assert [e["resource"]["record"] for e in consults] == [str(unknown), "0", "0"]
    assert all(e["outcome"] == "denied" and e["reason"] == "record_not_found" for e in consults)
    # A check-out of an unknown item leaves what an unknown item in range leaves.
    checkouts = [(e["outcome"], e["reason"]) for e in _events(vault, "item:checkout")]
    assert checkouts in ([], [("denied", "item_not_found")] * 3)


def test_a_tampered_segment_mid_stream_writes_a_decryption_failed_event(
    api, make: Factory, vault, db
):
    depositor = make.person()
    record = make.record(make.client("general"), by=depositor)
    size = 2 * 1024 * 1024 + 1234  # three segments: the first leaves before the bad one
    # Larger than an upload may be: filed as the intake would, through the service.
    att = uow.run(
        db,
        records.attach,
        vault,
        db,
        Caller(person=depositor),
        record.id,
        filename="scan.bin",
        content_type="application/octet-stream",
        stream=io.BytesIO(bytes(range(256)) * (size // 256)),
    )
    # The blob store of the backend (a folder on SQLite, rows on PostgreSQL), rewritten.
    with vault.blobs.open(att.blob_key) as blob:
        data = bytearray(blob.read())
    data[1024 * 1024 + 4096] ^= 0x01  # a byte of the second segment
    with vault.blobs.writer(att.blob_key) as out:
        out.write(bytes(data))

    custodian = make.custodian("general")
    got = api.get(
        f"/records/{record.id}/attachments/{att.id}/content?purpose=check+the+scan",
        make.token(custodian),
        buffered=False,
    )
    assert got.status_code == 200  # the response started with the good first segment
    with pytest.raises(DecryptionError):
        b"".join(got.response)
    got.close()
    events = [
        e for e in _events(vault, "record:consult") if e["actor"]["person_id"] == custodian.id
    ]
    assert [(e["decision"], e["outcome"], e["reason"]) for e in events] == [
        ("allow", "ok", "custodian"),
        ("n/a", "error", "decryption_failed"),
    ]
    assert events[1]["resource"]["record"] == str(record.id)
    assert events[1]["purpose"] == "check the scan"
