"""Temporary, scoped, approved, expiring grants (DESIGN §3.8) through the API."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.factories import Factory
from vault import uow
from vault.db import utcnow
from vault.models import AccessRequest, Grant, Notification

REASON = "renewing the payment terms with this client"


def ask(api, token, **body):
    return api.post("/access-requests", token, json={"reason": REASON, **body})


def test_request_approve_consult_then_refused_after_expiry(api, make: Factory, db):
    sales, custodian = make.person(), make.custodian("general")
    record = make.record(make.client("general"), content=b"net 60, limit 2M")
    s_tok, c_tok = make.token(sales), make.token(custodian)
    path = f"/records/{record.id}/content?purpose=prepare+renewal"
    assert api.get(path, s_tok).json["code"] == "no_grant"

    req = ask(api, s_tok, record_id=record.id, actions=["consult"])
    assert req.status_code == 201 and req.json["status"] == "pending"
    assert req.json["approvals_needed"] == 1
    waiting = api.get("/access-requests?waiting=1", c_tok).json["items"]
    assert [r["id"] for r in waiting] == [req.json["id"]]
    inbox = api.get("/notifications", c_tok).json["items"]
    assert any(n["kind"] == "request_waiting" for n in inbox)

    approved = api.post(f"/access-requests/{req.json['id']}/approve", c_tok, json={})
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    mine = api.get("/grants", s_tok).json["items"]
    assert mine[0]["status"] == "active" and 0 < mine[0]["seconds_left"] <= 8 * 3600
    assert any(
        n["kind"] == "request_approved" for n in api.get("/notifications", s_tok).json["items"]
    )

    got = api.get(path, s_tok)
    assert got.status_code == 200 and got.json["content"] == "net 60, limit 2M"

    # Time passes: the grant ends without any job running.
    db.execute(sa.update(Grant).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    expired = api.get(path, s_tok)
    assert expired.status_code == 403 and expired.json["code"] == "no_grant"
    history = api.get("/grants", s_tok).json["items"]
    assert history[0]["status"] == "expired"  # history survives expiry


def test_grant_event_names_the_grant(api, make: Factory):
    sales = make.person()
    record = make.record(make.client("general"))
    grant = make.grant(sales, record)
    api.get(f"/records/{record.id}/content?purpose=prepare+renewal", make.token(sales))
    auditor = make.person(roles=("employee", "auditor"))
    events = api.get(
        f"/audit/events?action=record:consult&person_id={sales.id}", make.token(auditor)
    ).json["items"]
    assert events[0]["grant_id"] == str(grant.id)
    assert events[0]["policy_ids"] == ["permit-grant-consult"]


def test_core_requests_need_two_distinct_approvers(api, make: Factory):
    sales = make.person()
    first, second = make.custodian("core"), make.custodian("core")
    record = make.record(make.client("core"))
    req = ask(api, make.token(sales), record_id=record.id).json
    assert req["approvals_needed"] == 2
    one = api.post(f"/access-requests/{req['id']}/approve", make.token(first), json={})
    assert one.json["status"] == "pending" and len(one.json["approvals"]) == 1
    again = api.post(f"/access-requests/{req['id']}/approve", make.token(first), json={})
    assert again.status_code == 409 and again.json["code"] == "already_approved"
    path = f"/records/{record.id}/content?purpose=prepare+renewal"
    assert api.get(path, make.token(sales)).status_code == 403
    two = api.post(f"/access-requests/{req['id']}/approve", make.token(second), json={})
    assert two.json["status"] == "approved"
    assert api.get(path, make.token(sales)).status_code == 200


def test_nobody_approves_their_own_request(api, make: Factory):
    custodian = make.custodian("general")
    other_custodian = make.custodian("general")
    record = make.record(make.client("general"))
    # A custodian may ask for copy rights they want tracked as a grant; still not self-approved.
    req = ask(api, make.token(custodian), record_id=record.id).json
    resp = api.post(f"/access-requests/{req['id']}/approve", make.token(custodian), json={})
    assert resp.status_code == 403 and resp.json["code"] == "self_approval"
    ok = api.post(f"/access-requests/{req['id']}/approve", make.token(other_custodian), json={})
    assert ok.status_code == 200


def test_only_custodians_in_scope_with_tenure_approve(api, make: Factory):
    sales, colleague = make.person(), make.person()
    out_of_scope = make.custodian("general")
    new_hire = make.custodian("special", years=0.2)
    record = make.record(make.client("special"))
    req = ask(api, make.token(sales), record_id=record.id).json
    url = f"/access-requests/{req['id']}/approve"
    for person, code in (
        (colleague, "not_custodian"),
        (out_of_scope, "tier_out_of_scope"),
        (new_hire, "tenure_too_short"),
        (make.admin(), "not_custodian"),
    ):
        resp = api.post(url, make.token(person), json={})
        assert resp.status_code == 403 and resp.json["code"] == code, person.email


def test_deny_ends_the_request(api, make: Factory):
    sales, custodian = make.person(), make.custodian()
    record = make.record()
    req = ask(api, make.token(sales), record_id=record.id).json
    denied = api.post(
        f"/access-requests/{req['id']}/deny",
        make.token(custodian),
        json={"note": "no business need"},
    )
    assert denied.json["status"] == "denied"
    late = api.post(f"/access-requests/{req['id']}/approve", make.token(custodian), json={})
    assert late.status_code == 409 and late.json["code"] == "request_denied"


def test_pending_requests_expire_after_seven_days(api, make: Factory, db):
    sales, custodian = make.person(), make.custodian()
    record = make.record()
    req = ask(api, make.token(sales), record_id=record.id).json
    db.execute(sa.update(AccessRequest).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.commit()
    resp = api.post(f"/access-requests/{req['id']}/approve", make.token(custodian), json={})
    assert resp.status_code == 409 and resp.json["code"] == "request_expired"
    assert api.get(f"/access-requests/{req['id']}", make.token(sales)).json["status"] == "expired"


def test_client_file_grant_covers_every_record_of_that_client_only(api, make: Factory):
    sales = make.person()
    client, other = make.client("general"), make.client("general")
    r1, r2, r3 = make.record(client), make.record(client), make.record(other)
    make.grant(sales, client=client)
    token = make.token(sales)
    for rec, status in ((r1, 200), (r2, 200), (r3, 403)):
        assert (
            api.get(f"/records/{rec.id}/content?purpose=prepare+renewal", token).status_code
            == status
        )


def test_bad_requests_get_stable_codes_and_change_nothing(api, make: Factory, db):
    token = make.token(make.person())
    record = make.record()
    cases = [
        ({"record_id": record.id, "reason": "because"}, "missing_reason"),
        ({"record_id": record.id, "reason": "x" * 1001}, "invalid_reason"),
        ({"reason": REASON}, "invalid_request_target"),
        (
            {"record_id": record.id, "client_id": record.client_id, "reason": REASON},
            "invalid_request_target",
        ),
        ({"record_id": record.id, "reason": REASON, "actions": ["delete"]}, "invalid_actions"),
        ({"record_id": record.id, "reason": REASON, "actions": "consult"}, "invalid_actions"),
        (
            {"client_id": record.client_id, "reason": REASON, "actions": ["copy"]},
            "copy_needs_single_record",
        ),
        ({"record_id": record.id, "reason": REASON, "duration_hours": 73}, "invalid_duration"),
        (
            {"record_id": record.id, "reason": REASON, "duration_minutes": 72 * 60 + 1},
            "invalid_duration",
        ),
        (
            {"record_id": record.id, "reason": REASON, "duration_hours": 1, "duration_minutes": 5},
            "invalid_duration",
        ),
        ({"record_id": 99999, "reason": REASON}, "record_not_found"),
    ]
    for body, code in cases:
        resp = api.post("/access-requests", token, json=body)
        assert 400 <= resp.status_code < 500 and resp.json["code"] == code, body
    assert db.scalar(sa.select(sa.func.count()).select_from(AccessRequest)) == 0


def test_revoke_by_custodian_and_admin_not_by_holder(api, make: Factory):
    sales = make.person()
    record = make.record(make.client("general"))
    g1 = make.grant(sales, record)
    g2 = make.grant(sales, record)
    holder = api.post(f"/grants/{g1.id}/revoke", make.token(sales), json={})
    assert holder.status_code == 403
    by_custodian = api.post(
        f"/grants/{g1.id}/revoke", make.token(make.custodian()), json={"reason": "no longer needed"}
    )
    assert by_custodian.json["status"] == "revoked"
    by_admin = api.post(f"/grants/{g2.id}/revoke", make.token(make.admin()), json={})
    assert by_admin.json["status"] == "revoked"
    resp = api.get(f"/records/{record.id}/content?purpose=prepare+renewal", make.token(sales))
    assert resp.json["code"] == "no_grant"


def test_withdraw_only_own(api, make: Factory):
    sales, other = make.person(), make.person()
    req = ask(api, make.token(sales), record_id=make.record().id).json
    assert api.post(f"/access-requests/{req['id']}/withdraw", make.token(other)).status_code == 404
    assert (
        api.post(f"/access-requests/{req['id']}/withdraw", make.token(sales)).json["status"]
        == "withdrawn"
    )


def test_racing_approvals_issue_exactly_one_grant(make: Factory, vault, db, backend):
    """Two custodians approve the same request at the same moment: one grant."""
    import threading

    from vault.caller import Caller
    from vault.errors import VaultError
    from vault.grants import requests

    sales = make.person()
    record = make.record(make.client("general"))
    custodians = [make.custodian("general") for _ in range(4)]
    req = uow.run(
        db,
        requests.request_access,
        vault,
        db,
        Caller(person=sales),
        requests.Ask(reason=REASON, record_id=record.id),
    )
    barrier = threading.Barrier(len(custodians))
    outcomes: list[str] = []

    def approve(person):
        with vault.sessions() as session:
            barrier.wait()
            try:
                uow.run(
                    session,
                    requests.approve,
                    vault,
                    session,
                    Caller(person=session.merge(person)),
                    req.id,
                )
                outcomes.append("ok")
            except VaultError as exc:
                outcomes.append(exc.code)

    threads = [threading.Thread(target=approve, args=(c,)) for c in custodians]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) - {"ok"} <= {"request_approved"}
    assert db.scalar(sa.select(sa.func.count()).select_from(Grant)) == 1


def test_notifications_are_mailed_when_smtp_is_configured(make: Factory, vault, db):
    """A real SMTP server (aiosmtpd) receives the custodian's notification."""
    from aiosmtpd.controller import Controller

    # MOVED:grants
    from vault.caller import Caller
    from vault.grants import requests

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        custodian = make.custodian("general")
        object.__setattr__(
            vault, "config", vault.config.with_(smtp_host="127.0.0.1", smtp_port=port)
        )
        sales = make.person()
        record = make.record(make.client("general"), content=b"NEVER-IN-MAIL")
        uow.run(
            db,
            requests.request_access,
            vault,
            db,
            Caller(person=sales),
            requests.Ask(reason=REASON, record_id=record.id),
        )
        assert received == []  # the request only wrote the outbox: the worker mails
        from vault.worker import outbox

        assert outbox.drain(vault) >= 1
    finally:
        controller.stop()
    to_custodian = [body for rcpt, body in received if custodian.email in rcpt]
    assert to_custodian and "waits for you" in to_custodian[0]
    assert all("NEVER-IN-MAIL" not in body for _, body in received)
    note = db.scalar(sa.select(Notification).where(Notification.person_id == custodian.id))
    assert note is not None and note.emailed_at is not None


def test_default_duration_and_a_short_window(api, make: Factory):
    sales, custodian = make.person(), make.custodian()
    record = make.record()
    default = ask(api, make.token(sales), record_id=record.id).json
    assert default["duration_minutes"] == 8 * 60
    short = ask(api, make.token(sales), record_id=record.id, duration_minutes=2).json
    api.post(f"/access-requests/{short['id']}/approve", make.token(custodian), json={})
    grant = next(
        g
        for g in api.get("/grants", make.token(sales)).json["items"]
        if g["request_id"] == short["id"]
    )
    assert 100 <= grant["seconds_left"] <= 120
