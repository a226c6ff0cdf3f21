"""API tokens are their holder's alone (finding 1, defence 2).

The finding: an admin's page issued a token for a custodian and showed it on screen; with
it the admin read content as the custodian. Here an admin tries every way the pages and
the API offer and gets no usable token for anyone else; the custodian creates their own,
which works; the admin sees its name, never its value, and revokes it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.webclient import error_code, events, text_of
from vault import uow
from vault.caller import Caller
from vault.cli import main
from vault.errors import Denied
from vault.identity import tokens
from vault.models import ApiToken

CONTENT = b"CUSTODIAN-ONLY-CONTENT"
_NEW_TOKEN = re.compile(r'<code id="new-token">([^<]+)</code>')
_ANY_TOKEN = re.compile(r"avt_[A-Za-z0-9_\-]{20,}")


def _rows(db, person) -> list[ApiToken]:
    db.commit()  # a fresh snapshot: the app wrote since
    return list(db.scalars(select(ApiToken).where(ApiToken.person_id == person.id)))


def test_an_admin_gets_no_usable_token_for_a_custodian_by_any_way(web, make, vault, db, api):
    custodian = make.custodian("general")
    record = make.record(make.client("general"), content=CONTENT)
    admin = make.admin()
    web.sign_in(admin)
    # The page that used to issue one is gone, and the person page offers no such form.
    for path in (f"/admin/people/{custodian.id}/tokens", f"/admin/people/{custodian.id}"):
        resp = web.post(path, {"label": "as the custodian"})
        assert resp.status_code in (404, 405), path
    page = web.get(f"/admin/people/{custodian.id}").get_data(as_text=True)
    assert 'id="issue-token"' not in page and 'id="new-token"' not in page
    assert _ANY_TOKEN.search(page) is None
    # The API has no route to create one for someone else, and with a token none at all.
    admin_token = make.token(admin)
    assert api.post(f"/people/{custodian.id}/tokens", admin_token, json={}).status_code == 405
    minted = api.post("/me/tokens", admin_token, json={"label": "x"})
    assert minted.status_code == 403 and minted.json["code"] == "browser_session_required"
    # Signed in, the admin can create a token: their own, which reads nothing of the
    # custodian's (no grant).
    csrf = web.token("/me/tokens")
    own = web.client.post(
        "/api/v1/me/tokens", json={"label": "mine"}, headers={"X-CSRFToken": csrf}
    )
    assert own.status_code == 201 and own.json["person_id"] == admin.id
    consult = api.get(f"/records/{record.id}/content?purpose=pretending", own.json["token"])
    assert consult.status_code == 403 and consult.json["code"] == "no_grant"
    assert CONTENT.decode() not in consult.get_data(as_text=True)
    # The services refuse it too, whatever a future page might try.
    db.commit()
    as_admin = Caller(person=admin)
    with pytest.raises(Denied) as created:
        uow.run(db, tokens.create_token, vault, db, as_admin, custodian, "as them")
    assert created.value.code == "not_own_credential"
    with pytest.raises(Denied) as issued:
        uow.run(db, tokens.issue_token, vault, db, as_admin, custodian, "as them")
    assert issued.value.code == "role_required"
    assert _rows(db, custodian) == []
    refused = {e.reason for e in events(vault, decision="deny", person_id=admin.id)}
    assert {"browser_session_required", "not_own_credential", "role_required"} <= refused


def test_a_custodian_creates_their_own_token_and_the_admin_only_revokes_it(
    web, make, vault, db, api
):
    custodian = make.custodian("general")
    record = make.record(make.client("general"), content=CONTENT)
    web.sign_in(custodian)
    assert 'id="create-token"' in web.get("/me/tokens").get_data(as_text=True)
    created = web.post("/me/tokens", {"label": "nightly report"})
    assert created.status_code == 200
    token = _NEW_TOKEN.search(created.get_data(as_text=True)).group(1)
    works = api.get(f"/records/{record.id}/content?purpose=nightly+report", token)
    assert works.status_code == 200 and CONTENT.decode() in works.get_data(as_text=True)
    again = web.get("/me/tokens").get_data(as_text=True)
    assert token not in again and "nightly report" in again  # shown once, named ever after
    (row,) = _rows(db, custodian)
    assert row.token_hash != token and row.label == "nightly report"
    (made,) = events(vault, action="token:create")
    assert (made.actor.person_id, made.resource["token"]) == (custodian.id, str(row.id))
    assert token not in str(made.details) and token not in str(made.resource)
    # The admin lists it, by page and by API, without its value; then revokes it.
    admin = make.admin()
    admin_browser = web.another()
    admin_browser.sign_in(admin)
    page = admin_browser.get(f"/admin/people/{custodian.id}").get_data(as_text=True)
    assert "nightly report" in page and token not in page and _ANY_TOKEN.search(page) is None
    listed = api.get(f"/people/{custodian.id}/tokens", make.token(admin))
    assert listed.status_code == 200
    assert [(t["label"], t["revoked_at"]) for t in listed.json["items"]] == [
        ("nightly report", None)
    ]
    assert "token" not in listed.json["items"][0] and token not in listed.get_data(as_text=True)
    assert admin_browser.post(f"/admin/tokens/{row.id}/revoke").status_code == 302
    dead = api.get("/me", token)
    assert dead.status_code == 401 and dead.json["code"] == "invalid_token"
    twice = admin_browser.post(f"/admin/tokens/{row.id}/revoke")
    assert twice.status_code == 409 and error_code(twice) == "token_revoked"
    revokes = events(vault, action="token:revoke")
    expected = [(admin.id, "ok"), (admin.id, "denied")]
    assert [(e.actor.person_id, e.outcome) for e in revokes] == expected


def test_a_token_cannot_mint_another(make, vault, api, db):
    person = make.person()
    token = make.token(person)
    resp = api.post("/me/tokens", token, json={"label": "more"})
    assert resp.status_code == 403 and resp.json["code"] == "browser_session_required"
    assert len(_rows(db, person)) == 1
    (denied,) = events(vault, action="token:create")
    assert denied.decision == "deny" and denied.actor.person_id == person.id


def test_own_tokens_through_the_api_from_the_signed_in_browser(web, make, api, db):
    person, other = make.person(), make.person()
    theirs = make.token(other)
    (their_row,) = _rows(db, other)
    web.sign_in(person)
    csrf = {"X-CSRFToken": web.token("/me/tokens")}
    bad = web.client.post("/api/v1/me/tokens", json={"label": ""}, headers=csrf)
    assert bad.status_code == 400 and bad.json["code"] == "invalid_label"
    made = web.client.post("/api/v1/me/tokens", json={"label": "ci"}, headers=csrf)
    assert made.status_code == 201 and made.json["token"].startswith("avt_")
    listed = web.client.get("/api/v1/me/tokens").json["items"]
    assert [t["label"] for t in listed] == ["ci"] and "token" not in listed[0]
    # Another person's token is not the caller's to revoke, nor to learn of.
    not_mine = web.client.post(f"/api/v1/me/tokens/{their_row.id}/revoke", headers=csrf)
    assert not_mine.status_code == 404 and not_mine.json["code"] == "token_not_found"
    assert api.get("/me", theirs).status_code == 200
    gone = web.client.post(f"/api/v1/me/tokens/{made.json['id']}/revoke", headers=csrf)
    assert gone.status_code == 200 and gone.json["revoked_at"]
    assert api.get("/me", made.json["token"]).status_code == 401
    # The page's revoke button does the same.
    second = web.post("/me/tokens", {"label": "laptop"})
    row = next(r for r in _rows(db, person) if r.label == "laptop")
    assert second.status_code == 200
    assert web.post(f"/me/tokens/{row.id}/revoke").status_code == 302
    assert "The token was revoked." in text_of(web.get("/me/tokens").get_data(as_text=True))


def test_a_departing_or_departed_person_cannot_create_tokens(make, vault, db, api):
    departing, departed = make.person(), make.person()
    departing_token, departed_token = make.token(departing), make.token(departed)
    departing.leaving_on = date.today() + timedelta(days=10)
    departed.leaving_on = date.today()
    db.commit()
    for person, token, code in (
        (departing, departing_token, "person_departing"),
        (departed, departed_token, "person_disabled"),
    ):
        with pytest.raises(Denied) as refused:
            uow.run(db, tokens.create_token, vault, db, Caller(person=person), person, "later")
        assert refused.value.code == code
        assert api.post("/me/tokens", token, json={"label": "x"}).json["code"] == code
        assert len(_rows(db, person)) == 1


def test_the_operator_cli_issues_tokens_audited_as_the_operator(make, config, vault, api):
    person = make.person()
    result = CliRunner().invoke(
        main,
        ["tokens", "issue", person.email, "--label", "batch job"],
        env={"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url},
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert api.get("/me", token).json["email"] == person.email
    (issued,) = events(vault, action="token:issue")
    assert issued.actor.person_id is None and issued.actor.subject.startswith("cli:")
    assert issued.resource["person"] == str(person.id)
