"""My account: one's own password and one-time code, changed from one's own page only.

Both languages; every change audited; a wrong current password counts toward the
lockout like a sign-in; every other session ends and this one stays (issue 13.8)."""

from __future__ import annotations

import re
import time
from html import unescape

import pyotp
import pytest
from sqlalchemy import func, select

from tests.webclient import PASSWORD, error_code, events, text_of
from vault import uow
from vault.caller import Caller
from vault.errors import Denied
from vault.identity import accounts, sessions
from vault.models import LocalCredential, LoginFailure
from vault.web.auth.sessions import SESSION_KEY

OPERATOR = Caller.operator()
NEW = "a brand new passphrase 42"
LANGS = {
    "en": {
        "title": "My account",
        "sso": "Your password is managed by your identity provider",
        "wrong": "The current password is wrong.",
    },
    "zh": {
        "title": "我的账户",
        "sso": "您的密码由身份提供者",
        "wrong": "当前密码不正确。",
    },
}


def html(resp) -> str:
    return resp.get_data(as_text=True)


def _signed_out(browser) -> bool:
    resp = browser.get("/me")
    return resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


def _failures(db) -> int:
    db.rollback()
    count = select(func.count()).select_from(LoginFailure).where(LoginFailure.scope == "account")
    return int(db.scalar(count) or 0)


def _browser_signed_in(web, vault, db, person, **kw):
    """Another browser with a live session of ``person`` (as after a sign-in; no code used)."""
    opened = uow.run(
        db,
        sessions.open_session,
        vault,
        db,
        person,
        method=kw.pop("method", "password"),
        second_factor=True,
    )
    browser = web.another(**kw)
    with browser.session() as s:
        s[SESSION_KEY] = opened.key
    return browser


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_person_changes_their_password_other_sessions_end_this_one_stays(
    web, make, vault, db, lang
):
    words = LANGS[lang]
    person = make.person()
    me = web.another(lang=lang)
    me.sign_in(person)
    elsewhere = web.another()
    elsewhere.sign_in(person)
    page = me.get("/me/account")
    assert page.status_code == 200 and words["title"] in html(page)
    assert 'name="current"' in html(page) and 'name="again"' in html(page)

    wrong = me.post(
        "/me/account/password", {"current": "not my password", "new": NEW, "again": NEW}
    )
    assert wrong.status_code == 400 and error_code(wrong) == "wrong_password"
    assert words["wrong"] in text_of(html(wrong))
    mismatch = me.post(
        "/me/account/password", {"current": PASSWORD, "new": NEW, "again": NEW + "x"}
    )
    assert error_code(mismatch) == "password_mismatch"
    weak = me.post("/me/account/password", {"current": PASSWORD, "new": "short", "again": "short"})
    assert error_code(weak) == "weak_password"
    db.rollback()
    before = db.get(LocalCredential, person.id).password_hash

    done = me.post("/me/account/password", {"current": PASSWORD, "new": NEW, "again": NEW})
    assert done.status_code == 302 and done.headers["Location"] == "/me/account"
    assert me.get("/me").status_code == 200  # this session stays
    assert _signed_out(elsewhere)  # every other one ended
    db.rollback()
    stored = db.get(LocalCredential, person.id).password_hash
    assert stored != before and stored.startswith("$argon2id$") and NEW not in stored
    # The old password signs in no more; the new one does.
    old = web.another().post("/auth/login", {"email": person.email, "password": PASSWORD})
    assert old.status_code == 401
    web.another().sign_in(person, password=NEW)

    changes = events(vault, action="account:password", person_id=person.id)
    assert [(e.outcome, e.reason) for e in changes] == [
        ("denied", "wrong_password"),
        ("denied", "password_mismatch"),
        ("denied", "weak_password"),
        ("ok", "own_account"),
    ]
    assert changes[-1].decision == "allow"
    assert changes[-1].resource == {"person": str(person.id)}
    ended = [e for e in events(vault, action="auth:logout") if e.reason == "password_changed"]
    assert [(e.details["sessions"], e.details["everywhere"]) for e in ended] == [(1, False)]


def test_wrong_current_passwords_lock_the_account_like_sign_in(web, make, vault, db):
    person = make.person()
    web.sign_in(person)
    limit = vault.config.auth.login_max_failures
    for _ in range(limit):
        resp = web.post(
            "/me/account/password", {"current": "wrong guess", "new": NEW, "again": NEW}
        )
        assert error_code(resp) == "wrong_password"
    assert _failures(db) >= limit
    locked = web.post("/me/account/password", {"current": PASSWORD, "new": NEW, "again": NEW})
    assert locked.status_code == 429 and error_code(locked) == "account_locked"
    # The same lock as at sign-in: the right password does not sign in either, for now.
    signin = web.another().post("/auth/login", {"email": person.email, "password": PASSWORD})
    assert signin.status_code == 429 and error_code(signin) == "account_locked"
    lockouts = events(vault, action="auth:lockout")
    assert [e.reason for e in lockouts] == ["account_locked"]


def _secret_on(page: str) -> str:
    found = re.search(r'id="new-secret">([A-Z2-7]+)<', page)
    assert found, page[:2000]
    return found.group(1)


def _pending_on(page: str) -> str:
    return unescape(re.search(r'name="pending" value="([^"]+)"', page).group(1))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_admin_replaces_their_one_time_code_after_a_code_from_the_new_secret(
    web, make, vault, db, lang
):
    admin = make.admin()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, admin, PASSWORD)
    old = uow.run(db, accounts.enroll_totp, vault, db, OPERATOR, admin).secret
    me = web.another(lang=lang)
    me.sign_in(admin, code=pyotp.TOTP(old).now())
    elsewhere = _browser_signed_in(web, vault, db, admin)
    assert 'name="code"' in html(me.get("/me/account"))

    # The current password and a current code first (wrong ones count like sign-in).
    no_code = me.post("/me/account/totp", {"current": PASSWORD, "code": "000000"})
    assert no_code.status_code == 400 and error_code(no_code) == "wrong_code"
    assert _failures(db) == 1
    started = me.post("/me/account/totp", {"current": PASSWORD, "code": ""})
    assert error_code(started) == "wrong_code"
    # A code one step ahead (the sign-in used this step's code; each code works once).
    started = me.post(
        "/me/account/totp", {"current": PASSWORD, "code": pyotp.TOTP(old).at(time.time() + 30)}
    )
    assert started.status_code == 200, error_code(started)
    page = html(started)
    new = _secret_on(page)
    assert new != old and "otpauth://totp/" in page and f"secret={new}" in unescape(page)
    db.rollback()
    cred = db.get(LocalCredential, admin.id)
    assert accounts._totp_secret(vault, cred) == old  # nothing replaced yet

    pending = _pending_on(page)
    wrong = me.post("/me/account/totp/confirm", {"pending": pending, "code": "12345x"})
    assert wrong.status_code == 400 and error_code(wrong) == "wrong_new_code"
    assert _secret_on(html(wrong)) == new  # shown again, to try once more
    forged = me.post("/me/account/totp/confirm", {"pending": "x" + pending, "code": "123456"})
    assert error_code(forged) == "totp_pending_expired"
    # Another browser of the same person cannot use this one's pending secret.
    stolen = elsewhere.post(
        "/me/account/totp/confirm", {"pending": pending, "code": pyotp.TOTP(new).now()}
    )
    assert error_code(stolen) == "totp_pending_expired"

    code = pyotp.TOTP(new).now()
    done = me.post("/me/account/totp/confirm", {"pending": pending, "code": code})
    assert done.status_code == 302
    assert me.get("/me").status_code == 200 and _signed_out(elsewhere)
    db.rollback()
    assert accounts._totp_secret(vault, db.get(LocalCredential, admin.id)) == new
    # The old secret signs in no more; the confirming code is not replayed either.
    for stale in (pyotp.TOTP(old).at(time.time() + 30), code):
        resp = web.another().post(
            "/auth/login", {"email": admin.email, "password": PASSWORD, "code": stale}
        )
        assert resp.status_code == 401
    changes = events(vault, action="account:totp", person_id=admin.id)
    assert [(e.outcome, e.reason, e.details.get("step")) for e in changes] == [
        ("denied", "wrong_code", None),
        ("denied", "wrong_code", None),
        ("ok", "own_account", "new_secret"),
        ("denied", "wrong_new_code", None),
        ("denied", "totp_pending_expired", None),
        ("denied", "totp_pending_expired", None),
        ("ok", "own_account", "replaced"),
    ]
    ended = [e for e in events(vault, action="auth:logout") if e.reason == "totp_changed"]
    assert [e.details["sessions"] for e in ended] == [1]


def test_only_the_person_themselves_changes_their_credentials(make, vault, db):
    employee, admin = make.person(), make.admin()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, employee, PASSWORD)
    for action, call in (
        (
            "account:password",
            lambda who: accounts.change_own_password(vault, db, who, employee, PASSWORD, NEW, NEW),
        ),
        (
            "account:totp",
            lambda who: accounts.start_totp_change(vault, db, who, employee, PASSWORD, ""),
        ),
    ):
        for who, code in (
            (Caller(person=admin), "not_own_account"),
            (OPERATOR, "not_own_account"),
            (Caller(person=employee, via_token=True), "account_browser_only"),
        ):
            with pytest.raises(Denied) as refused:
                uow.run(db, call, who)
            assert refused.value.code == code
        denied = events(vault, action=action, decision="deny")
        assert [e.reason for e in denied] == [
            "not_own_account",
            "not_own_account",
            "account_browser_only",
        ]
    db.rollback()
    assert accounts._verify_password(db.get(LocalCredential, employee.id).password_hash, PASSWORD)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_single_sign_on_people_are_told_their_provider_manages_the_password(
    web, make, vault, db, lang
):
    person = make.person()
    person.sso_subject = "sub-123"
    db.commit()
    me = _browser_signed_in(web, vault, db, person, method="sso", lang=lang)
    page = me.get("/me/account")
    assert page.status_code == 200
    assert LANGS[lang]["sso"] in text_of(html(page))
    assert 'name="current"' not in html(page)
    refused = me.post(
        "/me/account/password", {"current": "anything at all", "new": NEW, "again": NEW}
    )
    assert refused.status_code == 409 and error_code(refused) == "no_local_password"
    assert [e.reason for e in events(vault, action="account:password")] == ["no_local_password"]
