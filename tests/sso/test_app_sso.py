"""Single sign-on into Archive Vault against the real OpenID provider (npm oidc-provider).

The app runs for real on 127.0.0.1 (its callback is registered at the provider); a
``requests`` session plays the browser, through the provider's own login pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pyotp
import pytest
import requests
from sqlalchemy import select

from tests.live import LiveServer, open_vault, serve, sso_settings
from tests.sso.conftest import OIDCProvider
from tests.sso.oidc_helpers import login_through_provider, logout_through_provider
from tests.webclient import events
from vault import uow
from vault.caller import Caller
from vault.config import Config
from vault.identity import accounts
from vault.models import Person, WebSession
from vault.runtime import Vault
from vault.web import create_app

TIMEOUT = 10
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r'class="error-code">([^<]+)<')


@pytest.fixture
def sso_vault(config: Config, oidc_provider: OIDCProvider) -> Iterator[Vault]:
    v = open_vault(config.with_(auth=sso_settings(oidc_provider)))
    yield v
    v.close()


@pytest.fixture
def live(sso_vault: Vault, app_port: int) -> Iterator[LiveServer]:
    with serve(create_app(sso_vault.config, vault=sso_vault), app_port) as server:
        yield server


class Browser:
    """A browser (one cookie jar for the app and the provider) driven with requests."""

    def __init__(self, live: LiveServer, lang: str = "en") -> None:
        self.live = live
        self.http = requests.Session()
        self.http.headers["Accept-Language"] = lang

    def get(self, path: str, **kw) -> requests.Response:
        url = path if path.startswith("http") else self.live.url + path
        return self.http.get(url, allow_redirects=False, timeout=TIMEOUT, **kw)

    def token(self) -> str:
        page = self.http.get(self.live.url + "/auth/login", timeout=TIMEOUT)
        return _TOKEN.search(page.text).group(1)

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        return self.http.post(
            self.live.url + path,
            data={"csrf_token": self.token(), **data},
            allow_redirects=False,
            timeout=TIMEOUT,
        )

    def start(self, next_url: str = "/") -> requests.Response:
        return self.post("/auth/sso", {"next": next_url})

    def to_provider(self, account: str, next_url: str = "/") -> str:
        """Start at the app, sign in at the provider; the app's callback URL (unrequested)."""
        started = self.start(next_url)
        assert started.status_code == 302, started.text[:500]
        return login_through_provider(self.http, started.headers["Location"], account)

    def sign_in(self, account: str, next_url: str = "/") -> requests.Response:
        return self.get(self.to_provider(account, next_url))

    def session_cookie(self) -> str:
        return next(c.value for c in self.http.cookies if c.name == "vault_session")

    def set_session_cookie(self, value: str) -> None:
        for cookie in self.http.cookies:
            if cookie.name == "vault_session":
                cookie.value = value


def code_of(resp: requests.Response) -> str | None:
    found = _CODE.search(resp.text)
    return found.group(1) if found else None


def person(v: Vault, email: str) -> Person | None:
    with v.sessions() as db:
        return db.scalar(select(Person).where(Person.email == email))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


# ---- signing in ---------------------------------------------------------------------------


def test_the_sign_in_page_offers_single_sign_on(live, oidc_provider):
    page = Browser(live).get("/auth/login")
    assert 'id="sso-button"' in page.text
    # The sign-in form sends the browser to the provider: CSP's form-action names it.
    assert f"form-action 'self' {oidc_provider.issuer};" in page.headers["Content-Security-Policy"]


def test_first_sign_in_creates_the_person_from_the_claims(live, sso_vault, oidc_provider):
    browser = Browser(live)
    started = browser.start("/catalogue")
    authorize = started.headers["Location"]
    params = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(oidc_provider.issuer)
    assert params["code_challenge_method"] == ["S256"] and params["code_challenge"]
    assert params["state"] and params["nonce"]
    assert params["redirect_uri"] == [f"{live.url}/auth/callback"]
    back = browser.get(login_through_provider(browser.http, authorize, "alice"))
    assert back.status_code == 302 and back.headers["Location"] == "/catalogue"
    alice = person(sso_vault, "alice@corp.test")
    assert alice is not None
    assert (alice.name, alice.roles, alice.sso_subject) == (
        "Alice Employee",
        ("employee",),
        "alice",
    )
    assert alice.hired_on == date(2019, 3, 1)
    assert "Alice Employee" in browser.get("/").text
    created = events(sso_vault, action="person:create")
    assert [(e.actor.subject, e.details["source"]) for e in created] == [("sso:alice", "sso")]
    login = events(sso_vault, action="auth:login", person_id=alice.id)
    assert [(e.outcome, e.details["method"]) for e in login] == [("ok", "sso")]


def test_groups_map_to_roles_and_never_to_custody(live, sso_vault):
    auditor = Browser(live)
    assert auditor.sign_in("audrey").status_code == 302
    assert auditor.get("/audit").status_code == 200
    assert auditor.get("/admin/keys").status_code == 403
    admin = Browser(live)
    admin.sign_in("adam+otp")  # an admin signs in with a second factor at the provider
    assert admin.get("/admin/people").status_code == 200
    assert person(sso_vault, "adam@corp.test").role_set == {"employee", "admin"}
    carl = Browser(live)
    carl.sign_in("carl")  # in a group named "custodian"
    claimant = person(sso_vault, "carl@corp.test")
    assert claimant.role_set == {"employee"} and claimant.custodian_tiers() == frozenset()
    assert carl.get("/audit").status_code == 403


def test_later_sign_ins_update_roles_from_the_groups(live, sso_vault):
    with sso_vault.sessions() as db:
        db.add(
            Person(
                email="alice@corp.test",
                name="Alice",
                hired_on=date(2010, 1, 1),
                roles=("admin", "employee"),
                sso_subject="alice",
            )
        )
        db.commit()
    Browser(live).sign_in("alice")
    alice = person(sso_vault, "alice@corp.test")
    assert alice.roles == ("employee",) and alice.hired_on == date(2019, 3, 1)
    update = events(sso_vault, action="person:update")[-1]
    assert update.details["previous_roles"] == "admin,employee"
    assert update.details["roles"] == "employee"


def test_an_existing_person_is_linked_by_a_verified_email(live, sso_vault):
    with sso_vault.sessions() as db:
        db.add(
            Person(
                email="audrey@corp.test",
                name="Audrey",
                hired_on=date(2015, 1, 1),
                roles=("employee",),
            )
        )
        db.commit()
    assert Browser(live).sign_in("audrey").status_code == 302
    audrey = person(sso_vault, "audrey@corp.test")
    assert audrey.sso_subject == "audrey" and audrey.has_role("auditor")
    linked = events(sso_vault, action="person:update")[-1]
    assert linked.details["sso_linked"] is True and linked.actor.subject == "sso:audrey"
    with sso_vault.sessions() as db:
        assert len(db.scalars(select(Person)).all()) == 1


def test_an_email_linked_to_another_subject_is_not_taken_over(live, sso_vault):
    with sso_vault.sessions() as db:
        db.add(
            Person(
                email="alice@corp.test",
                name="Other Alice",
                hired_on=date(2015, 1, 1),
                roles=("employee",),
                sso_subject="someone-else",
            )
        )
        db.commit()
    resp = Browser(live).sign_in("alice")
    assert resp.status_code == 409 and code_of(resp) == "sso_email_taken"


def test_a_leaving_date_claim_starts_the_departure(live, sso_vault):
    resp = Browser(live).sign_in("leo")
    assert resp.status_code == 403 and code_of(resp) == "person_departing"
    leo = person(sso_vault, "leo@corp.test")
    assert leo.leaving_on == date.today() + timedelta(days=14)
    depart = events(sso_vault, action="person:depart")
    assert [(e.resource["person"], e.details["source"]) for e in depart] == [(str(leo.id), "sso")]
    assert events(sso_vault, action="auth:login")[-1].reason == "person_departing"


# ---- what is refused ------------------------------------------------------------------------


def test_a_bad_or_replayed_state_is_refused(live, sso_vault):
    browser = Browser(live)
    callback = browser.to_provider("alice")
    forged = browser.get(with_query(callback, state="forged-state"))
    assert forged.status_code == 400 and code_of(forged) == "sso_bad_state"
    assert "Traceback" not in forged.text
    # The flow was used up by the failed attempt: the genuine answer no longer works either.
    assert code_of(browser.get(callback)) == "sso_bad_state"
    # Another browser cannot finish someone else's sign-in.
    other = Browser(live)
    assert code_of(other.get(browser.to_provider("alice"))) == "sso_bad_state"
    assert person(sso_vault, "alice@corp.test") is None
    refused = events(sso_vault, action="auth:login")
    assert {e.reason for e in refused} == {"sso_bad_state"}


def test_a_bad_nonce_is_refused(live, sso_vault):
    browser = Browser(live)
    callback = browser.to_provider("alice")
    serializer = live.app.session_interface.get_signing_serializer(live.app)
    session = serializer.loads(browser.session_cookie())
    session["sso_pending"]["nonce"] = "not-the-nonce-sent"
    browser.set_session_cookie(serializer.dumps(session))
    resp = browser.get(callback)
    assert resp.status_code == 400 and code_of(resp) == "sso_bad_nonce"
    assert person(sso_vault, "alice@corp.test") is None


def test_an_answer_from_another_issuer_is_refused(live, sso_vault):
    browser = Browser(live)
    callback = browser.to_provider("alice")
    resp = browser.get(with_query(callback, iss="https://evil.example"))
    assert resp.status_code == 400 and code_of(resp) == "sso_wrong_issuer"
    assert person(sso_vault, "alice@corp.test") is None


def test_a_provider_naming_another_issuer_is_refused(config, oidc_provider, app_port):
    # The same provider reached under another name: its discovery names 127.0.0.1.
    renamed = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    v = open_vault(config.with_(auth=sso_settings(oidc_provider, oidc_issuer=renamed)))
    try:
        with serve(create_app(v.config, vault=v), app_port) as server:
            resp = Browser(server).start()
            assert resp.status_code == 400 and code_of(resp) == "sso_wrong_issuer"
    finally:
        v.close()


def test_a_refusal_by_the_provider_gives_a_clear_page(live, sso_vault):
    browser = Browser(live, lang="zh-CN")
    resp = browser.get(browser.to_provider("mallory"))  # unknown: error=access_denied
    assert resp.status_code == 403 and code_of(resp) == "sso_access_denied"
    assert "身份提供者未让您登录。" in resp.text
    assert events(sso_vault, action="auth:login")[-1].reason == "sso_access_denied"


def test_the_provider_being_down_gives_a_clear_page(live, oidc_provider, sso_vault):
    browser = Browser(live)
    with oidc_provider.down():
        resp = browser.start()
        assert resp.status_code == 503 and code_of(resp) == "sso_unavailable"
        assert "cannot be reached right now" in resp.text and "Traceback" not in resp.text
    # Down between the provider's login and the callback: the same clear page.
    callback = browser.to_provider("alice")
    with oidc_provider.down():
        resp = browser.get(callback)
        assert resp.status_code == 503 and code_of(resp) == "sso_unavailable"
    assert person(sso_vault, "alice@corp.test") is None
    # Up again: signing in works.
    assert browser.sign_in("alice").status_code == 302


# ---- signing out ----------------------------------------------------------------------------


def test_sign_out_ends_the_provider_session_too(live, sso_vault, oidc_provider):
    browser = Browser(live)
    browser.sign_in("alice")
    out = browser.post("/auth/logout", {})
    assert out.status_code == 302
    end_session = out.headers["Location"]
    params = parse_qs(urlsplit(end_session).query)
    assert end_session.startswith(oidc_provider.issuer)
    assert params["post_logout_redirect_uri"] == [f"{live.url}/auth/signed-out"]
    assert params["id_token_hint"] and params["client_id"] == [oidc_provider.client_id]
    assert browser.get("/").status_code == 302  # the vault's own session ended first
    back = logout_through_provider(browser.http, end_session)
    assert back.startswith(f"{live.url}/auth/signed-out")
    assert browser.get(back).status_code == 200
    alice = person(sso_vault, "alice@corp.test")
    assert [e.reason for e in events(sso_vault, action="auth:logout")] == ["signed_out"]
    assert events(sso_vault, action="auth:logout")[0].actor.person_id == alice.id
    # The provider forgot the sign-in: the next one asks for the login form again.
    started = browser.start()
    first = browser.http.get(started.headers["Location"], timeout=TIMEOUT)
    assert 'name="prompt" value="login"' in first.text


def test_single_sign_on_people_are_audited_like_everyone(live, sso_vault):
    browser = Browser(live)
    browser.sign_in("audrey")
    audrey = person(sso_vault, "audrey@corp.test")
    page = browser.get(f"/audit?person={audrey.email}")
    assert page.status_code == 200 and "auth:login" in page.text
    assert Caller(person=audrey).actor().subject == "audrey"


def test_sign_out_without_a_kept_id_token_still_reaches_the_provider(live, oidc_provider):
    browser = Browser(live)
    browser.sign_in("alice")
    serializer = live.app.session_interface.get_signing_serializer(live.app)
    session = serializer.loads(browser.session_cookie())
    session.pop("sso_id_token")  # as when the provider's token was too large to keep
    browser.set_session_cookie(serializer.dumps(session))
    out = browser.post("/auth/logout", {})
    params = parse_qs(urlsplit(out.headers["Location"]).query)
    assert "id_token_hint" not in params and params["client_id"] == [oidc_provider.client_id]
    back = logout_through_provider(browser.http, out.headers["Location"])
    assert back.startswith(f"{live.url}/auth/signed-out")


# ---- an admin's second factor ------------------------------------------------------------


def _sessions_of(v: Vault, email: str) -> list[WebSession]:
    with v.sessions() as db:
        return list(
            db.scalars(
                select(WebSession)
                .join(Person, Person.id == WebSession.person_id)
                .where(Person.email == email)
            )
        )


def test_an_admin_without_a_second_factor_is_refused_with_a_clear_page(live, sso_vault):
    browser = Browser(live, lang="zh-CN")
    resp = browser.sign_in("adam")  # password only at the provider (amr ["pwd"])
    assert resp.status_code == 403 and code_of(resp) == "second_factor_required"
    assert "管理员需要第二重验证" in resp.text
    assert browser.get("/admin/people").status_code == 302  # not signed in
    assert _sessions_of(sso_vault, "adam@corp.test") == []
    refused = events(sso_vault, action="auth:login")[-1]
    assert (refused.outcome, refused.reason) == ("denied", "second_factor_required")
    assert refused.details["amr"] == "pwd"
    # An employee needs no second factor.
    assert Browser(live).sign_in("alice").status_code == 302


def test_an_admin_with_the_providers_second_factor_signs_in(live, sso_vault):
    browser = Browser(live)
    assert browser.sign_in("adam+hwk").status_code == 302
    assert browser.get("/admin/people").status_code == 200
    (row,) = _sessions_of(sso_vault, "adam@corp.test")
    assert (row.method, row.second_factor) == ("sso", True)
    login = events(sso_vault, action="auth:login")[-1]
    assert (login.outcome, login.details["second_factor"]) == ("ok", True)


def test_the_accepted_evidence_comes_from_settings(config, oidc_provider, app_port):
    settings = sso_settings(oidc_provider, oidc_admin_amr=(), oidc_admin_acr=("urn:test:mfa",))
    v = open_vault(config.with_(auth=settings))
    try:
        with serve(create_app(v.config, vault=v), app_port) as server:
            otp_only = Browser(server).sign_in("adam+otp")
            assert code_of(otp_only) == "second_factor_required"
            by_acr = Browser(server).sign_in("adam+acr=urn:test:mfa")
            assert by_acr.status_code == 302
            assert Browser(server).sign_in("adam+acr=urn:test:pwd").status_code == 403
    finally:
        v.close()


def test_an_admin_with_a_vault_code_steps_up_after_single_sign_on(live, sso_vault):
    Browser(live).sign_in("adam")  # refused, but the person now exists
    with sso_vault.sessions() as db:
        adam = db.scalar(select(Person).where(Person.email == "adam@corp.test"))
        secret = uow.run(db, accounts.enroll_totp, sso_vault, db, Caller.operator(), adam).secret
    browser = Browser(live)
    resp = browser.sign_in("adam", next_url="/admin/people")
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/step-up"
    assert browser.get("/admin/people").status_code == 302  # nothing signed in yet
    assert _sessions_of(sso_vault, "adam@corp.test") == []
    form = browser.get("/auth/step-up")
    assert form.status_code == 200 and 'id="step-up-button"' in form.text
    wrong = browser.post("/auth/step-up", {"code": "000000"})
    assert wrong.status_code == 401 and code_of(wrong) == "bad_credentials"
    done = browser.post("/auth/step-up", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/people"
    assert browser.get("/admin/people").status_code == 200
    (row,) = _sessions_of(sso_vault, "adam@corp.test")
    assert (row.method, row.second_factor) == ("sso", True)
    login = events(sso_vault, action="auth:login")[-1]
    assert (login.outcome, login.details["step_up"]) == ("ok", "totp")
    # The pending step-up was used once: posting again signs nobody in.
    other = Browser(live)
    assert other.post("/auth/step-up", {"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert other.get("/admin/people").status_code == 302
