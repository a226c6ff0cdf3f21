"""Local accounts: argon2id passwords, TOTP for admins, lockout, sign-out; all audited."""

from __future__ import annotations

from datetime import date, timedelta

import pyotp
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.webclient import PASSWORD, error_code, events, text_of
from vault import uow
from vault.caller import Caller
from vault.cli import main
from vault.identity import accounts
from vault.models import LocalCredential, LoginFailure
from vault.people import departures
from vault.web import create_app

OPERATOR = Caller.operator()


def login(web, email, password=PASSWORD, code="", next_url="/"):
    return web.post(
        "/auth/login", {"email": email, "password": password, "code": code, "next": next_url}
    )


def test_a_person_signs_in_with_a_password_and_lands_where_they_were_going(web, make, vault):
    person = make.person()
    uow.run(web.db, accounts.set_password, vault, web.db, OPERATOR, person, PASSWORD)
    resp = login(web, person.email, next_url="/catalogue?q=credit")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/catalogue?q=credit"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("vault_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served over http in this test
    page = web.get("/")
    assert page.status_code == 200 and person.name in page.get_data(as_text=True)
    ok = events(vault, action="auth:login", person_id=person.id)
    assert [(e.decision, e.outcome, e.details["method"]) for e in ok] == [("n/a", "ok", "password")]


def test_the_session_cookie_is_secure_over_https(web, make, vault):
    person = make.person()
    uow.run(web.db, accounts.set_password, vault, web.db, OPERATOR, person, PASSWORD)
    secure = web.another(https=True)
    resp = secure.post(
        "/auth/login",
        {"email": person.email, "password": PASSWORD},
        headers={"Referer": "https://localhost/auth/login"},
    )
    assert resp.status_code == 302
    assert "Secure" in resp.headers["Set-Cookie"]


def test_wrong_password_and_unknown_account_look_the_same(web, make, vault):
    person = make.person()
    uow.run(web.db, accounts.set_password, vault, web.db, OPERATOR, person, PASSWORD)
    wrong = login(web, person.email, password="not the password at all")
    unknown = login(web, "nobody@example.test")
    for resp in (wrong, unknown):
        assert resp.status_code == 401
        assert error_code(resp) == "bad_credentials"
        assert "Wrong e-mail, password or one-time code." in text_of(resp.get_data(as_text=True))
    assert web.get("/").status_code == 302  # still signed out
    denied = events(vault, action="auth:login", decision=None)
    assert [e.reason for e in denied] == ["bad_credentials", "bad_credentials"]
    assert denied[0].resource == {"person": str(person.id)}
    assert denied[1].actor.subject == "local:nobody@example.test"


def test_passwords_are_stored_as_argon2id_hashes(web, make, vault, db):
    person = make.person()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, person, PASSWORD)
    stored = db.get(LocalCredential, person.id).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert events(vault, action="person:update")[-1].details == {"credential": "password"}


def test_short_passwords_are_refused(make, vault, db):
    person = make.person()
    for bad in ("short", " " * 20, "x" * 300):
        try:
            uow.run(db, accounts.set_password, vault, db, OPERATOR, person, bad)
        except Exception as exc:
            assert getattr(exc, "code", "") == "weak_password"
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_admins_need_a_one_time_code(web, make, vault, db):
    admin = make.admin()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, admin, PASSWORD)
    not_enrolled = login(web, admin.email)
    assert not_enrolled.status_code == 403
    assert error_code(not_enrolled) == "totp_enrollment_required"
    secret = uow.run(db, accounts.enroll_totp, vault, db, OPERATOR, admin).secret
    without_code = login(web, admin.email)
    assert without_code.status_code == 401 and error_code(without_code) == "bad_credentials"
    wrong_code = login(
        web, admin.email, code="000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    )
    assert wrong_code.status_code == 401
    code = pyotp.TOTP(secret).now()
    assert login(web, admin.email, code=code).status_code == 302
    # The same code does not sign in twice (replay), even in another browser.
    replay = login(web.another(), admin.email, code=code)
    assert replay.status_code == 401 and error_code(replay) == "bad_credentials"
    # A failed attempt names the account it aimed at, not an actor: nobody proved who they are.
    last = events(vault, action="auth:login")[-1]
    assert (last.reason, last.actor.person_id, last.resource) == (
        "bad_credentials",
        None,
        {"person": str(admin.id)},
    )


def test_the_totp_secret_is_sealed_and_bound_to_its_person(make, vault, db):
    admin, other = make.admin(), make.person()
    secret = uow.run(db, accounts.enroll_totp, vault, db, OPERATOR, admin).secret
    cred = db.get(LocalCredential, admin.id)
    assert secret.encode() not in cred.totp_secret_ct
    assert secret.encode() not in cred.totp_wrapped_dek
    # Copied onto another person, the sealed secret opens nothing (fail closed).
    copy = LocalCredential(
        person_id=other.id,
        totp_secret_ct=cred.totp_secret_ct,
        totp_wrapped_dek=cred.totp_wrapped_dek,
    )
    assert accounts._totp_secret(vault, copy) is None


def test_repeated_failures_lock_the_account_without_checking_passwords(
    web, make, vault, db, monkeypatch
):
    person = make.person()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, person, PASSWORD)
    limit = vault.config.auth.login_max_failures
    for _ in range(limit):
        assert login(web, person.email, password="wrong wrong wrong").status_code == 401
    checked = []
    real_verify = accounts._verify_password
    monkeypatch.setattr(
        accounts, "_verify_password", lambda *a: checked.append(1) or real_verify(*a)
    )
    locked = login(web.another(), person.email)  # the right password, another browser
    assert locked.status_code == 429
    assert error_code(locked) == "account_locked"
    assert checked == []  # no hashing while locked: the limit protects the CPU too
    lockouts = events(vault, action="auth:lockout")
    assert len(lockouts) == 1
    assert lockouts[0].resource == {"person": str(person.id)}
    assert lockouts[0].details["scope"] == "account"
    assert events(vault, action="auth:login")[-1].reason == "account_locked"
    # Another account from the same address still signs in.
    other = make.person()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, other, PASSWORD)
    assert login(web.another(), other.email).status_code == 302


def test_the_lock_is_kept_in_the_database_for_every_process(web, make, vault, config, db):
    person = make.person()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, person, PASSWORD)
    for _ in range(vault.config.auth.login_max_failures):
        login(web, person.email, password="wrong wrong wrong")
    stored = db.scalar(select(func.count()).select_from(LoginFailure))
    assert stored == 2 * vault.config.auth.login_max_failures  # per account and per address
    other_process = create_app(config, vault=vault)
    from tests.webclient import Browser

    elsewhere = Browser(other_process, vault, db)
    assert login(elsewhere, person.email).status_code == 429


def test_the_lock_lifts_after_the_window(web, make, vault, db):
    person = make.person()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, person, PASSWORD)
    for _ in range(vault.config.auth.login_max_failures):
        login(web, person.email, password="wrong wrong wrong")
    assert login(web, person.email).status_code == 429
    for row in db.scalars(select(LoginFailure)):
        row.at = row.at - timedelta(minutes=vault.config.auth.login_window_minutes + 1)
    db.commit()
    assert login(web, person.email).status_code == 302


def test_too_many_failures_from_one_address_are_refused(web, make, vault, db, monkeypatch):
    monkeypatch.setattr(
        vault, "config", vault.config.with_(auth=vault.config.auth.with_(login_ip_max_failures=3))
    )
    for n in range(3):
        assert login(web, f"guess{n}@example.test").status_code == 401
    person = make.person()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, person, PASSWORD)
    refused = login(web.another(), person.email)
    assert refused.status_code == 429 and error_code(refused) == "too_many_attempts"
    assert events(vault, action="auth:lockout")[-1].details["scope"] == "ip"


def test_a_departing_person_cannot_sign_in(web, make, vault, db):
    person = make.person()
    uow.run(db, accounts.set_password, vault, db, OPERATOR, person, PASSWORD)
    uow.run(
        db, departures.set_departure, vault, db, OPERATOR, person, date.today() + timedelta(days=10)
    )
    resp = login(web, person.email)
    assert resp.status_code == 403 and error_code(resp) == "person_departing"
    assert events(vault, action="auth:login")[-1].decision == "deny"
    assert web.get("/").status_code == 302


def test_signing_out_ends_the_session_and_is_audited(web, make, vault):
    person = make.person()
    web.sign_in(person)
    assert web.get("/").status_code == 200
    out = web.post("/auth/logout")
    assert out.status_code == 302 and out.headers["Location"] == "/auth/signed-out"
    assert web.get("/auth/signed-out").status_code == 200
    after = web.get("/")
    assert after.status_code == 302 and after.headers["Location"].startswith("/auth/login")
    logout = events(vault, action="auth:logout")
    assert [(e.actor.person_id, e.reason) for e in logout] == [(person.id, "signed_out")]


def test_the_sign_in_page_offers_the_local_form_and_no_sso_when_unconfigured(web):
    page = web.get("/auth/login").get_data(as_text=True)
    assert 'action="/auth/login"' in page and 'name="password"' in page
    assert "/auth/sso" not in page
    resp = web.post("/auth/sso")
    assert resp.status_code == 404 and error_code(resp) == "sso_not_configured"


def test_cli_sets_passwords_and_enrolls_totp(make, vault, config, db, web, monkeypatch):
    person = make.admin()
    env = {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}
    runner = CliRunner()
    done = runner.invoke(
        main,
        ["people", "set-password", person.email, "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert done.exit_code == 0, done.output
    weak = runner.invoke(
        main, ["people", "set-password", person.email, "--password-stdin"], input="short\n", env=env
    )
    assert weak.exit_code == 2 and "weak_password" in weak.output
    enrolled = runner.invoke(main, ["people", "enroll-totp", person.email], env=env)
    assert enrolled.exit_code == 0
    uri = enrolled.stdout.strip().splitlines()[0]
    assert uri.startswith("otpauth://totp/Archive%20Vault:")
    code = pyotp.parse_uri(uri).now()
    assert login(web, person.email, code=code).status_code == 302
    prompted = runner.invoke(
        main, ["people", "set-password", person.email], env=env, input=f"{PASSWORD}x\n{PASSWORD}x\n"
    )
    assert prompted.exit_code == 0, prompted.output
    unknown = runner.invoke(main, ["people", "enroll-totp", "nobody@example.test"], env=env)
    assert unknown.exit_code == 4 and "person_not_found" in unknown.output
