"""Server-side sessions (defence 7): a row per signed-in browser, ended from anywhere.

Sign out everywhere, a password or one-time-code change, a departure, a change of roles
and an admin each end every session of the person at once; a cookie whose session has
ended, or expired, is worth nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from tests.webclient import events, text_of
from vault import uow
from vault.caller import Caller
from vault.db import utcnow
from vault.identity import accounts, sessions
from vault.models import WebSession
from vault.people import departures

OPERATOR = Caller.operator()


def _live(db, person) -> list[WebSession]:
    db.commit()  # a fresh snapshot: the app wrote since
    return list(
        db.scalars(
            select(WebSession).where(
                WebSession.person_id == person.id, WebSession.revoked_at.is_(None)
            )
        )
    )


def _two_browsers(web, person):
    first, second = web.another(), web.another()
    first.sign_in(person)
    second.sign_in(person)
    assert first.get("/").status_code == 200 and second.get("/").status_code == 200
    assert len(_live(web.db, person)) == 2
    return first, second


def _signed_out(browser) -> bool:
    resp = browser.get("/catalogue")
    return resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login")


def test_the_profile_lists_live_sessions_and_sign_out_everywhere_ends_them(web, make, vault):
    person = make.person()
    first, second = _two_browsers(web, person)
    page = text_of(first.get("/me").get_data(as_text=True))
    assert page.count("local password") == 2 and "this browser" in page
    listed = first.client.get("/api/v1/me/sessions").json["items"]
    assert len(listed) == 2 and [s["current"] for s in listed].count(True) == 1
    out = first.post("/me/sessions/end-all")
    assert out.status_code == 302 and out.headers["Location"] == "/auth/signed-out"
    # The other browser is told its session was ended, and asked to sign in again.
    assert "expired=ended" in second.get("/").headers["Location"]
    assert _signed_out(first) and _signed_out(second)
    assert _live(web.db, person) == []
    ended = [e for e in events(vault, action="auth:logout") if e.reason == "signed_out_everywhere"]
    assert [(e.actor.person_id, e.details["sessions"]) for e in ended] == [(person.id, 2)]


def test_a_stolen_cookie_is_useless_after_sign_out(web, make):
    person = make.person()
    web.sign_in(person)
    stolen = web.client.get_cookie("vault_session").value
    assert web.post("/auth/logout").status_code == 302
    thief = web.another()
    thief.client.set_cookie("vault_session", stolen)
    assert _signed_out(thief)
    assert thief.client.get("/api/v1/me").status_code == 401
    assert _live(web.db, person) == []


def test_an_expired_session_row_is_refused_and_ended(web, make, vault):
    person = make.person()
    web.sign_in(person)
    web.db.execute(
        update(WebSession)
        .where(WebSession.person_id == person.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    web.db.commit()
    assert web.client.get("/api/v1/me").status_code == 401
    (row,) = list(web.db.scalars(select(WebSession).where(WebSession.person_id == person.id)))
    web.db.refresh(row)
    assert row.revoked_at is not None and row.ended_reason == "absolute_timeout"
    assert events(vault, action="auth:logout")[-1].reason == "absolute_timeout"


@pytest.mark.parametrize("change", ["password", "totp"])
def test_a_password_or_one_time_code_change_ends_every_session(web, make, vault, change):
    person = make.person()
    first, second = _two_browsers(web, person)
    if change == "password":
        uow.run(web.db, accounts.set_password, vault, web.db, OPERATOR, person, "x" * 20)
    else:
        uow.run(web.db, accounts.enroll_totp, vault, web.db, OPERATOR, person)
    assert _signed_out(first) and _signed_out(second)
    reason = f"{change}_changed"
    assert [e.reason for e in events(vault, action="auth:logout")] == [reason]


def test_a_departure_ends_every_session(web, make, vault):
    person = make.person()
    first, second = _two_browsers(web, person)
    admin = make.admin()
    admin_browser = web.another()
    admin_browser.sign_in(admin)
    day = (date.today() + timedelta(days=14)).isoformat()
    set_ = admin_browser.post(f"/admin/people/{person.id}/departure", {"leaving_on": day})
    assert set_.status_code == 302
    assert _signed_out(first) and _signed_out(second)
    ended = [e for e in events(vault, action="auth:logout") if e.reason == "departure"]
    assert [(e.actor.person_id, e.resource["person"]) for e in ended] == [
        (admin.id, str(person.id))
    ]


def test_the_departure_service_ends_sessions_for_every_caller(web, make, vault, db):
    person = make.person()
    web.sign_in(person)
    uow.run(db, departures.set_departure, vault, db, OPERATOR, person, date.today() + timedelta(3))
    assert _signed_out(web)


def test_a_role_change_ends_every_session(web, make, vault, db, monkeypatch):
    person = make.person()
    first, second = _two_browsers(web, person)
    auth = vault.config.auth.with_(oidc_role_map={"audit": "auditor"})
    monkeypatch.setattr(vault, "config", vault.config.with_(auth=auth))
    # The provider now puts the person in a group that maps to the auditor role.
    ident = accounts.SsoIdentity(
        subject="sub-1",
        email=person.email,
        name=person.name,
        email_verified=True,
        groups=("audit",),
    )
    uow.run(db, accounts.sync_sso_person, vault, db, ident, accounts.Attempt())
    assert _signed_out(first) and _signed_out(second)
    assert events(vault, action="auth:logout")[-1].reason == "roles_changed"


def test_an_admin_ends_a_persons_sessions(web, make, vault, api):
    person = make.person()
    first, second = _two_browsers(web, person)
    admin = make.admin()
    admin_browser = web.another()
    admin_browser.sign_in(admin)
    page = text_of(admin_browser.get(f"/admin/people/{person.id}").get_data(as_text=True))
    assert page.count("local password") == 2
    done = admin_browser.post(f"/admin/people/{person.id}/sessions/revoke")
    assert done.status_code == 302
    assert _signed_out(first) and _signed_out(second)
    assert admin_browser.get("/").status_code == 200  # the admin's own session lives on
    (revoked,) = events(vault, action="session:revoke")
    assert (revoked.actor.person_id, revoked.details["sessions"]) == (admin.id, 2)
    employee = make.person()
    refused = api.post(f"/people/{person.id}/sessions/revoke", make.token(employee))
    assert refused.status_code == 403 and refused.json["code"] == "role_required"
    by_api = api.post(f"/people/{person.id}/sessions/revoke", make.token(admin))
    assert by_api.status_code == 200 and by_api.json == {"ended": 0}


def test_end_all_sessions_is_one_call_that_counts(web, make, vault, db):
    person = make.person()
    _two_browsers(web, person)
    ended = uow.run(db, sessions.end_all_sessions, vault, db, OPERATOR, person, "test")
    assert ended == 2 and _live(db, person) == []
    assert uow.run(db, sessions.end_all_sessions, vault, db, OPERATOR, person, "test") == 0
