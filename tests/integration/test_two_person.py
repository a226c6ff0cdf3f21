"""The two-person rule (DESIGN §3.10): no insider alone, admins included, creates access.

Each test does what an admin (honest or not) does through the API, the pages or the
command line, and checks what takes effect, what is refused and what the log says.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.factories import Factory, years_ago
from tests.webclient import Browser, error_code, events, text_of
from vault import proposals, uow
from vault.caller import Caller
from vault.cli import main
from vault.errors import Denied
from vault.models import Designation, Person, Proposal
from vault.people import departures, designations

REASON = "keeps the core clients' files"


def _person(db, person_id: int) -> Person:
    db.commit()  # a fresh read: what the app committed since (SQLite keeps a snapshot)
    db.expire_all()
    found = db.get(Person, person_id)
    assert found is not None
    return found


def test_one_admin_alone_reaches_no_core_content(api, make: Factory, vault, db):
    """The finding: a person hired '20 years ago', designated core, given a token, by one
    admin. Nothing of it takes effect until a second admin approves both acts."""
    admin, second = make.admin(), make.second_admin()
    admin_token, second_token = make.token(admin), make.token(second)
    record = make.record(make.client("core"), content=b"core terms")
    path = f"/records/{record.id}/content?purpose=check"

    made = api.post(
        "/people",
        admin_token,
        json={"email": "mole@corp.test", "name": "Mole", "hired_on": str(years_ago(20))},
    )
    assert made.status_code == 201, made.json
    mole_id = made.json["id"]
    assert made.json["hire_date_confirmed"] is False
    (confirm,) = made.json["proposals"]
    assert confirm["kind"] == "hire_date_confirm" and confirm["proposed_by"] == admin.id
    proposed = api.post(
        f"/people/{mole_id}/designations", admin_token, json={"tiers": ["core"], "reason": REASON}
    )
    assert proposed.status_code == 202 and proposed.json["status"] == "pending"
    mole_token = make.token(_person(db, mole_id))

    assert api.get(path, mole_token).json["code"] == "no_grant"  # not designated
    for proposal in (proposed.json, confirm):
        own = api.post(f"/proposals/{proposal['id']}/approve", admin_token, json={})
        assert own.status_code == 403 and own.json["code"] == "same_person_approval"
    assert api.get(path, mole_token).json["code"] == "no_grant"

    approved = api.post(f"/proposals/{proposed.json['id']}/approve", second_token, json={})
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    # Designated now, but the hire date is one admin's word: it counts for no tenure.
    assert api.get(path, mole_token).json["code"] == "tenure_too_short"
    api.post(f"/proposals/{confirm['id']}/approve", second_token, json={"note": "HR file"})
    opened = api.get(path, mole_token)
    assert opened.status_code == 200 and opened.json["content"] == "core terms"

    refused = [e for e in events(vault, action="designation:create") if e.outcome == "denied"] + [
        e for e in events(vault, action="person:hire_date") if e.outcome == "denied"
    ]
    assert {(e.actor.person_id, e.reason) for e in refused} == {(admin.id, "same_person_approval")}
    assert len(refused) == 2
    designation = db.scalar(sa.select(Designation).where(Designation.person_id == mole_id))
    assert designation is not None
    assert (designation.designated_by_id, designation.approved_by_id) == (admin.id, second.id)


def test_the_subject_cannot_approve_nor_propose_for_themselves(api, make: Factory, vault, db):
    admin, second = make.admin(), make.second_admin()
    admin_token, second_token = make.token(admin), make.token(second)
    proposed = api.post(
        f"/people/{second.id}/designations", admin_token, json={"tiers": ["core"], "reason": REASON}
    )
    assert proposed.status_code == 202
    own = api.post(f"/proposals/{proposed.json['id']}/approve", second_token, json={})
    assert own.status_code == 403 and own.json["code"] == "subject_approval"
    assert _person(db, second.id).custodian_tiers() == frozenset()
    for_self = api.post(
        f"/people/{second.id}/hire-date",
        second_token,
        json={"hired_on": str(years_ago(30)), "reason": "I was here first"},
    )
    assert for_self.status_code == 403 and for_self.json["code"] == "self_proposal"
    designate_self = api.post(
        f"/people/{second.id}/designations",
        second_token,
        json={"tiers": ["core"], "reason": REASON},
    )
    assert designate_self.json["code"] == "self_designation"
    denied = [e for e in events(vault, person_id=second.id) if e.outcome == "denied"]
    assert {e.reason for e in denied} >= {"subject_approval", "self_proposal", "self_designation"}
    assert api.get("/proposals", second_token).json["proposals"][0]["status"] == "pending"


def test_an_expired_proposal_cannot_be_approved(api, make: Factory, vault, db):
    admin, second = make.admin(), make.second_admin()
    employee = make.person(years=10)
    proposed = api.post(
        f"/people/{employee.id}/designations",
        make.token(admin),
        json={"tiers": ["general"], "reason": REASON},
    )
    proposal_id = proposed.json["id"]
    created = db.get(Proposal, proposal_id)
    assert created is not None
    assert created.expires_at - created.created_at == timedelta(days=7)
    # Eight days pass.
    created.expires_at = created.expires_at - timedelta(days=8)
    db.commit()
    assert api.get(f"/proposals/{proposal_id}", make.token(second)).json["status"] == "expired"
    late = api.post(f"/proposals/{proposal_id}/approve", make.token(second), json={})
    assert late.status_code == 409 and late.json["code"] == "proposal_expired"
    db.expire_all()
    assert db.get(Proposal, proposal_id).status == "expired"
    assert _person(db, employee.id).custodian_tiers() == frozenset()
    assert [e.details["kind"] for e in events(vault, action="proposal:expire")] == ["designation"]
    again = api.post(f"/proposals/{proposal_id}/approve", make.token(second), json={})
    assert again.status_code == 409 and again.json["code"] == "proposal_decided"


def test_a_decided_proposal_is_not_decided_again(api, make: Factory, db):
    admin, second = make.admin(), make.second_admin()
    employee = make.person(years=10)
    tokens = make.token(admin), make.token(second)
    first = api.post(
        f"/people/{employee.id}/roles", tokens[0], json={"role": "auditor", "reason": "audit team"}
    ).json
    assert api.post(f"/proposals/{first['id']}/approve", tokens[1], json={}).status_code == 200
    for verb, body in (("approve", {}), ("reject", {"note": "no"})):
        again = api.post(f"/proposals/{first['id']}/{verb}", tokens[1], json=body)
        assert again.status_code == 409 and again.json["code"] == "proposal_decided"
    duplicate = api.post(
        f"/people/{employee.id}/roles", tokens[0], json={"role": "auditor", "reason": "again"}
    )
    assert duplicate.status_code == 409 and duplicate.json["code"] == "role_held"


def test_each_kind_takes_effect_only_on_approval(api, make: Factory, vault, db):
    admin, second = make.admin(), make.second_admin()
    a, b = make.token(admin), make.token(second)
    employee = make.person(years=1)
    employee_token = make.token(employee)

    # The admin role: nothing until approved (the new admin sees no proposals before).
    role = api.post(f"/people/{employee.id}/roles", a, json={"role": "admin", "reason": "IT"})
    assert role.status_code == 202 and not _person(db, employee.id).has_role("admin")
    assert api.get("/proposals", employee_token).json["code"] == "role_required"
    granted = api.post(f"/proposals/{role.json['id']}/approve", b, json={})
    assert granted.status_code == 200, granted.json
    assert _person(db, employee.id).has_role("admin")
    assert api.get("/proposals", employee_token).status_code == 200

    # A hire date change.
    other = make.person(years=1)
    before = _person(db, other.id).hired_on
    change = api.post(
        f"/people/{other.id}/hire-date",
        a,
        json={"hired_on": str(years_ago(12)), "reason": "records found"},
    )
    assert change.status_code == 202 and _person(db, other.id).hired_on == before
    api.post(f"/proposals/{change.json['id']}/approve", b, json={})
    changed = _person(db, other.id)
    assert changed.hired_on == years_ago(12) and changed.hire_date_confirmed

    # Taking back a leaving date: setting it is one admin's act, undoing it is two.
    leaver = make.person(years=3)
    leaver_token = make.token(leaver)
    leaving = date.today() + timedelta(days=20)
    assert (
        api.post(f"/people/{leaver.id}/departure", a, json={"leaving_on": str(leaving)}).status_code
        == 200
    )
    withdraw = api.post(f"/people/{leaver.id}/departure/withdraw", a, json={"reason": "stays"})
    assert withdraw.status_code == 202
    assert api.get("/records", leaver_token).json["code"] == "person_departing"
    api.post(f"/proposals/{withdraw.json['id']}/approve", b, json={})
    assert _person(db, leaver.id).leaving_on is None
    assert api.get("/records", leaver_token).status_code == 200

    # Postponing one, and one turned down.
    api.post(f"/people/{leaver.id}/departure", a, json={"leaving_on": str(leaving)})
    later = leaving + timedelta(days=30)
    postpone = api.post(
        f"/people/{leaver.id}/departure/postpone",
        a,
        json={"leaving_on": str(later), "reason": "handover takes longer"},
    )
    earlier = api.post(
        f"/people/{leaver.id}/departure/postpone",
        a,
        json={"leaving_on": str(leaving - timedelta(days=1)), "reason": "wrong way"},
    )
    assert earlier.status_code == 400 and earlier.json["code"] == "invalid_leaving_date"
    assert _person(db, leaver.id).leaving_on == leaving
    api.post(f"/proposals/{postpone.json['id']}/approve", b, json={})
    assert _person(db, leaver.id).leaving_on == later
    withdraw = api.post(f"/people/{leaver.id}/departure/withdraw", a, json={"reason": "stays"})
    turned = api.post(f"/proposals/{withdraw.json['id']}/reject", b, json={"note": "no"})
    assert turned.status_code == 200 and turned.json["status"] == "rejected"
    assert _person(db, leaver.id).leaving_on == later
    changes = events(vault, action="departure:change")
    assert [(e.details["withdrawn"], e.details["approved_by"]) for e in changes] == [
        (True, second.id),
        (False, second.id),
    ]


def test_both_steps_and_the_outcome_are_audited(api, make: Factory, vault, db):
    admin, second = make.admin(), make.second_admin()
    employee = make.person(years=10)
    proposal = api.post(
        f"/people/{employee.id}/designations",
        make.token(admin),
        json={"tiers": ["special", "general"], "reason": REASON},
    ).json
    api.post(f"/proposals/{proposal['id']}/approve", make.token(second), json={"note": "ok"})
    (created,) = [
        e for e in events(vault, action="proposal:create") if e.details["kind"] == "designation"
    ]
    assert created.actor.person_id == admin.id and created.details["reason"] == REASON
    assert created.resource == {"proposal": str(proposal["id"]), "person": str(employee.id)}
    (approved,) = [
        e for e in events(vault, action="proposal:approve") if e.details["kind"] == "designation"
    ]
    assert approved.actor.person_id == second.id
    assert approved.details["proposed_by"] == admin.id and approved.details["note"] == "ok"
    (outcome,) = [e for e in events(vault, action="designation:create") if e.outcome == "ok"]
    assert outcome.actor.person_id == second.id
    assert outcome.details == {
        "tiers": "general,special",
        "proposal": proposal["id"],
        "proposed_by": admin.id,
        "approved_by": second.id,
    }


def test_the_operator_alone_neither_proposes_nor_approves(make: Factory, vault, db):
    admin = make.admin()
    employee = make.person(years=10)
    with pytest.raises(Denied) as exc:
        uow.run(
            db,
            designations.designate,
            vault,
            db,
            Caller.operator(),
            employee,
            ["core"],
            reason=REASON,
        )
    assert exc.value.code == "designation_needs_admin"
    with pytest.raises(Denied) as exc:
        uow.run(
            db,
            departures.propose_withdrawal,
            vault,
            db,
            Caller.operator(),
            employee,
            reason="stays",
        )
    assert exc.value.code == "proposal_needs_admin"
    proposal = uow.run(
        db,
        designations.designate,
        vault,
        db,
        Caller(person=admin),
        employee,
        ["core"],
        reason=REASON,
    )
    with pytest.raises(Denied) as exc:
        uow.run(db, proposals.approve, vault, db, Caller.operator(), proposal)
    assert exc.value.code == "proposal_needs_admin"
    assert _person(db, employee.id).custodian_tiers() == frozenset()
    # What the operator creates waits for an admin too: a hire date, an admin role.
    newcomer = make.person(roles=("employee", "admin"), years=20, confirmed=False)
    assert not newcomer.has_role("admin") and not newcomer.hire_date_confirmed
    waiting = {p.kind for p in proposals.pending(db, subject=newcomer)}
    assert waiting == {"hire_date_confirm", "role_grant"}


def test_pages_propose_approve_and_reject_in_english_and_chinese(web: Browser, make: Factory, db):
    admin, second = make.admin(), make.second_admin()
    employee = make.person(years=10)
    web.sign_in(admin)
    proposed = web.post(
        f"/admin/people/{employee.id}/designations", {"tiers": "core", "reason": REASON}
    )
    assert proposed.status_code == 302
    page = text_of(web.get(f"/admin/people/{employee.id}").get_data(as_text=True))
    assert "Waiting for a second administrator" in page and REASON in page
    assert "Not designated." in page
    (proposal,) = proposals.pending(db, kind="designation")
    db.commit()
    own = web.post(f"/admin/proposals/{proposal.id}/approve", {"note": ""})
    assert own.status_code == 403 and error_code(own) == "same_person_approval"
    assert "nobody approves their own proposal" in text_of(own.get_data(as_text=True))

    other = web.another(lang="zh")
    other.sign_in(second)
    listing = text_of(other.get("/admin/proposals").get_data(as_text=True))
    assert "等待第二位管理员批准" in listing and REASON in listing
    approved = other.post(f"/admin/proposals/{proposal.id}/approve", {"note": "同意"})
    assert approved.status_code == 302
    assert _person(db, employee.id).custodian_tiers() == {"core"}

    web.post(f"/admin/people/{employee.id}/roles", {"role": "auditor", "reason": "audit team"})
    db.commit()
    (role,) = proposals.pending(db, kind="role_grant")
    db.commit()
    missing = other.post(f"/admin/proposals/{role.id}/reject", {"note": ""})
    assert missing.status_code == 400 and error_code(missing) == "missing_note"
    rejected = other.post(f"/admin/proposals/{role.id}/reject", {"note": "不需要"})
    assert rejected.status_code == 302
    assert not _person(db, employee.id).has_role("auditor")
    decided = text_of(other.get("/admin/proposals").get_data(as_text=True))
    assert "已拒绝" in decided and "不需要" in decided


def test_the_command_line_proposes_and_a_second_admin_approves(make: Factory, config, db):
    admin, second = make.admin(), make.second_admin()
    env = {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}
    runner = CliRunner()
    added = runner.invoke(
        main,
        ["people", "add", "kim@corp.test", "--name", "Kim", "--hired-on", str(years_ago(9))],
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert "proposed, awaiting a second admin" in added.output
    designated = runner.invoke(
        main,
        ["designate", "kim@corp.test", "--tiers", "core", "--by", admin.email, "--reason", REASON],
        env=env,
    )
    assert designated.exit_code == 0, designated.output
    assert "proposed, awaiting a second admin" in designated.output
    listed = runner.invoke(main, ["proposals", "list", "--json"], env=env)
    rows = {r["kind"]: r for r in __import__("json").loads(listed.output)}
    assert set(rows) == {"hire_date_confirm", "designation"}
    assert rows["designation"]["proposed_by"] == admin.email
    own = runner.invoke(
        main, ["proposals", "approve", str(rows["designation"]["id"]), "--by", admin.email], env=env
    )
    assert own.exit_code != 0 and "same_person_approval" in own.output
    nobody = runner.invoke(main, ["proposals", "approve", str(rows["designation"]["id"])], env=env)
    assert nobody.exit_code != 0  # --by is required: the operator alone approves nothing
    for row in rows.values():
        done = runner.invoke(
            main, ["proposals", "approve", str(row["id"]), "--by", second.email], env=env
        )
        assert done.exit_code == 0 and "approved by" in done.output, done.output
    db.commit()
    kim = db.scalar(sa.select(Person).where(Person.email == "kim@corp.test"))
    assert kim is not None and kim.custodian_tiers() == {"core"} and kim.hire_date_confirmed


def test_a_hire_date_in_the_signed_id_token_counts_one_only_in_userinfo_waits(
    api, make: Factory, vault, db
):
    """Defence 3: tenure from data one person cannot forge. The provider's signed word
    counts as confirmed; a date that came only from userinfo waits for a second admin."""
    from vault.identity import accounts

    record = make.record(make.client("general"), content=b"general terms")
    hired = years_ago(10)
    for subject, signed in (("signed", True), ("unsigned", False)):
        ident = accounts.SsoIdentity(
            subject=subject,
            email=f"{subject}@corp.test",
            name=subject,
            email_verified=True,
            hired_on=hired,
            hired_on_signed=signed,
        )
        person = uow.run(db, accounts.sync_sso_person, vault, db, ident, accounts.Attempt())
        db.commit()
        assert person.hired_on == hired and person.hire_date_confirmed is signed
        make.designate(person, "general")
        read = api.get(f"/records/{record.id}/content?purpose=check", make.token(person))
        assert read.status_code == (200 if signed else 403), read.json
        if not signed:
            assert read.json["code"] == "tenure_too_short"
