"""Sessions and headers: CSRF, idle and absolute expiry, safe redirects, CSP, no-store."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.webclient import error_code, events
from vault.db import utcnow
from vault.models import WebSession
from vault.web import create_app
from vault.web.auth.redirects import safe_next
from vault.web.headers import API_CSP
from vault.web.routing import spec_of

TEMPLATES = Path(__file__).resolve().parents[2] / "vault" / "web" / "templates"
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

EVIL_TARGETS = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "javascript:alert(1)",
    "evil.example",
    " /catalogue",
    "/%0a/evil",
    "https:evil.example",
    "/auth/logout",
    "//",
    "/" + "a" * 2000,
    "/%2F/evil.example",
    "/%5Cevil.example",
]


# ---- CSRF -------------------------------------------------------------------------------


def test_forms_without_the_csrf_token_are_refused(web, make, vault):
    person = make.person()
    # Even the sign-in form: a forged sign-in would put the victim in the attacker's account.
    resp = web.post("/auth/login", {"email": person.email, "password": "x" * 20}, csrf=False)
    assert resp.status_code == 400 and error_code(resp) == "csrf_failed"
    web.sign_in(person)
    record = make.record()
    for path, data in (
        ("/auth/logout", {}),
        (
            "/deposit",
            {"client_id": record.client_id, "section": "basic", "title": "Forged", "content": "x"},
        ),
        (f"/records/{record.id}/consult", {"purpose": "forged purpose"}),
    ):
        for token in (None, "forged-token"):
            form = dict(data) if token is None else {**data, "csrf_token": token}
            resp = web.post(path, form, csrf=False)
            assert resp.status_code == 400, path
            assert error_code(resp) == "csrf_failed"
    assert web.get("/").status_code == 200  # still signed in: the forged sign-out did nothing
    assert events(vault, action="record:deposit", person_id=person.id) == []
    assert events(vault, action="record:consult", person_id=person.id) == []


def test_browser_json_posts_need_the_token_and_bearer_calls_do_not(web, make, vault):
    person = make.person()
    client = make.client()
    web.sign_in(person)
    body = {
        "client_id": client.id,
        "section": "basic",
        "title": "From the browser",
        "content": "text",
    }
    no_token = web.client.post("/api/v1/records", json=body)
    assert no_token.status_code == 400 and no_token.json["code"] == "csrf_failed"
    token = web.token("/")
    with_token = web.client.post("/api/v1/records", json=body, headers={"X-CSRFToken": token})
    assert with_token.status_code == 201
    bearer = make.token(person)
    fresh = web.app.test_client()
    by_token = fresh.post(
        "/api/v1/records", json=body, headers={"Authorization": f"Bearer {bearer}"}
    )
    assert by_token.status_code == 201


def test_a_request_with_a_token_ignores_the_session(web, make):
    person = make.person()
    web.sign_in(person)
    # A bad bearer token does not fall back to the browser's session.
    resp = web.client.get("/api/v1/me", headers={"Authorization": "Bearer avt_nope"})
    assert resp.status_code == 401 and resp.json["code"] == "invalid_token"
    assert web.client.get("/api/v1/me").json["email"] == person.email


def test_signing_in_starts_a_new_session_with_a_new_csrf_secret(web, make):
    person = make.person()
    web.get("/auth/login")
    with web.session() as s:
        before = s.get("csrf_token")
        s["planted"] = "by an attacker"
    web.sign_in(person)
    with web.session() as s:
        assert s.get("csrf_token") != before
        assert "planted" not in s


# ---- expiry (kept in the session's row, not in the cookie) -------------------------------


def _set_clock(db, person, **values) -> None:
    """Move a person's session clocks (``last_seen_at``, ``created_at``, ``expires_at``)."""
    db.execute(update(WebSession).where(WebSession.person_id == person.id).values(**values))
    db.commit()


def _row(db, person) -> WebSession:
    db.expire_all()
    return db.scalars(select(WebSession).where(WebSession.person_id == person.id)).one()


def test_an_idle_session_expires(web, make, vault):
    person = make.person()
    web.sign_in(person)
    idle = timedelta(minutes=vault.config.auth.session_idle_minutes)
    _set_clock(web.db, person, last_seen_at=utcnow() - idle - timedelta(seconds=5))
    resp = web.get("/catalogue")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/auth/login?next=/catalogue&expired=idle_timeout"
    page = web.get(resp.headers["Location"]).get_data(as_text=True)
    assert "after a while without activity" in page
    assert web.get("/").status_code == 302  # the session is gone, not just refused once
    ended = events(vault, action="auth:logout")
    assert [(e.actor.person_id, e.reason) for e in ended] == [(person.id, "idle_timeout")]
    row = _row(web.db, person)
    assert row.revoked_at is not None and row.ended_reason == "idle_timeout"


def test_activity_keeps_a_session_alive(web, make, vault):
    person = make.person()
    web.sign_in(person)
    almost = timedelta(minutes=vault.config.auth.session_idle_minutes) - timedelta(seconds=30)
    _set_clock(web.db, person, last_seen_at=utcnow() - almost)
    assert web.get("/catalogue").status_code == 200
    assert utcnow() - _row(web.db, person).last_seen_at < timedelta(seconds=5)  # restarted


def test_a_session_ends_after_its_absolute_lifetime_even_when_busy(web, make, vault):
    person = make.person()
    web.sign_in(person)
    _set_clock(web.db, person, expires_at=utcnow() - timedelta(seconds=5))
    resp = web.get("/")
    assert resp.status_code == 302 and "expired=absolute_timeout" in resp.headers["Location"]
    assert events(vault, action="auth:logout")[-1].reason == "absolute_timeout"


def test_the_absolute_lifetime_comes_from_settings(web, make, vault):
    person = make.person()
    web.sign_in(person)
    row = _row(web.db, person)
    hours = vault.config.auth.session_max_hours
    assert abs((row.expires_at - row.created_at) - timedelta(hours=hours)) < timedelta(seconds=2)


def test_the_timeouts_come_from_settings(web, make, vault, monkeypatch):
    monkeypatch.setattr(
        vault, "config", vault.config.with_(auth=vault.config.auth.with_(session_idle_minutes=1))
    )
    person = make.person()
    web.sign_in(person)
    _set_clock(web.db, person, last_seen_at=utcnow() - timedelta(seconds=65))
    assert "idle_timeout" in web.get("/").headers["Location"]


def test_a_session_cookie_signed_with_another_key_is_ignored(web, make, config, vault):
    person = make.person()
    web.another().sign_in(person)
    key = "k" * 43
    other = create_app(config.with_(secret_key="another-secret"), vault=vault)
    forged = other.test_client()
    with forged.session_transaction() as s:
        s["sid"] = key
        s["_user_id"] = str(person.id)
    cookie = forged.get_cookie("vault_session")
    web.client.set_cookie("vault_session", cookie.value)
    assert web.get("/").status_code == 302


def test_the_cookie_carries_a_key_and_no_identity(web, make):
    person = make.person()
    web.sign_in(person)
    with web.session() as s:
        assert set(s) <= {"sid", "csrf_token", "_flashes"}, dict(s)
        key = s["sid"]
    row = _row(web.db, person)
    assert key not in (row.key_hash, str(row.id)) and len(row.key_hash) == 64


# ---- redirects --------------------------------------------------------------------------


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_safe_next_refuses_other_sites(target):
    assert safe_next(target) == "/"


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/catalogue?q=credit&page=2",
        "/records/3",
        "/catalogue?q=credit%20report%0A",
        "/audit?person=a%40b.c",
        "/admin/people#top",
    ],
)
def test_safe_next_keeps_paths_on_this_site(target):
    assert safe_next(target) == target


def test_open_redirects_are_refused_everywhere(web, make, vault):
    person = make.person()
    for target in EVIL_TARGETS[:8]:
        lang = web.get("/lang/zh_Hans", query_string={"next": target})
        assert lang.status_code == 302 and lang.headers["Location"] == "/", target
    from tests.webclient import PASSWORD
    from vault import uow
    from vault.caller import Caller
    from vault.identity import accounts

    uow.run(web.db, accounts.set_password, vault, web.db, Caller.operator(), person, PASSWORD)

    for target in EVIL_TARGETS[:8]:
        browser = web.another()
        resp = browser.post(
            "/auth/login", {"email": person.email, "password": PASSWORD, "next": target}
        )
        assert resp.status_code == 302 and resp.headers["Location"] == "/", target
        again = browser.get("/auth/login", query_string={"next": target})
        assert again.headers["Location"] == "/", target
        page = browser.another().get("/auth/login", query_string={"next": target})
        assert f'value="{target}"' not in page.get_data(as_text=True)


# ---- headers ----------------------------------------------------------------------------


def _page_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or "GET" not in (rule.methods or ()):
            continue
        yield rule


def _sample(rule: str, ids: dict[str, int]) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule)


def test_every_page_carries_the_strict_headers(web, make, vault):
    admin = make.admin()
    admin.roles = ("admin", "auditor", "employee")
    web.db.commit()
    record = make.record(content=b"CONTENT-CANARY")
    web.sign_in(admin)
    ids = {
        "record_id": record.id,
        "person_id": admin.id,
        "seq": 1,
        "code": "en",
        "filename": "vault.css",
        "token_id": 1,
    }
    checked = 0
    for rule in _page_rules(web.app):
        path = _sample(rule.rule, ids)
        if rule.endpoint == "ui.set_language":
            path += "?next=/catalogue"
        resp = web.get(path)
        assert resp.status_code < 500, path
        headers = resp.headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Strict-Transport-Security"].startswith("max-age="), path
        csp = headers["Content-Security-Policy"]
        assert csp == PAGE_CSP, path
        assert "unsafe" not in csp and "script" not in csp
        if rule.endpoint == "ui.static":
            assert headers["Cache-Control"] == "public, max-age=3600"
        else:
            assert headers["Cache-Control"] == "no-store", path
        checked += 1
    assert checked >= 20
    api = web.get("/api/v1/healthz")
    assert api.headers["Content-Security-Policy"] == API_CSP
    assert api.headers["Cache-Control"] == "no-store"


def test_error_pages_carry_the_headers_too(web):
    for path in ("/no-such-page", "/records/99999", "/lang/xx"):
        resp = web.get(path)
        assert resp.status_code in (302, 404)
        assert resp.headers["Content-Security-Policy"] == PAGE_CSP
        assert resp.headers["Cache-Control"] == "no-store"


def test_templates_hold_no_inline_script_or_style():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for pattern in (r"<script", r"<style", r"\sstyle=", r"\son[a-z]+=", r"javascript:"):
            if re.search(pattern, text, re.IGNORECASE):
                offenders.append(f"{path.name}: {pattern}")
    assert offenders == []


def test_the_language_cookie_is_httponly_and_lax(web):
    resp = web.get("/lang/zh_Hans?next=/auth/login")
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("vault_lang=zh_Hans") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_every_route_declares_its_action(web):
    undeclared = [
        r.rule
        for r in web.app.url_map.iter_rules()
        if spec_of(web.app.view_functions[r.endpoint]) is None
    ]
    assert undeclared == []
