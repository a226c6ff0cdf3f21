"""Drive the pages as a browser would: forms with their CSRF token, sign-in through the form.

Argon2 is made cheap in tests (``cheap_passwords``): the sign-in logic, lockout and
audit are the real ones, only the hash costs less time.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from audit import Event, query_events
from vault import uow
from vault.caller import Caller
from vault.identity import accounts
from vault.models import Person
from vault.runtime import Vault

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_TAGS = re.compile(r"<[^>]+>")
_ERROR_CODE = re.compile(r'class="error-code">([^<]+)<')


def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with test-sized costs (the parameters are the only change)."""
    monkeypatch.setattr(
        accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=512, parallelism=1)
    )
    monkeypatch.setattr(accounts, "_dummy_hash", None)


def text_of(html: str) -> str:
    """The visible text of a page, roughly (tags dropped, entities decoded)."""
    return unescape(_TAGS.sub(" ", html))


def error_code(resp: TestResponse) -> str | None:
    """The stable error code a page shows, if any."""
    found = _ERROR_CODE.search(resp.get_data(as_text=True))
    return found.group(1) if found else None


def events(v: Vault, **filters: Any) -> list[Event]:
    """Audit events matching ``filters`` (a fresh connection: sees every commit)."""
    with v.engine.connect() as conn:
        return [ev for _seq, ev in query_events(conn, limit=500, **filters)]


class Browser:
    """One browser (one cookie jar) on the app's pages."""

    def __init__(
        self, app: Flask, vault: Vault, db: Session, *, lang: str | None = None, https: bool = False
    ) -> None:
        self.app, self.vault, self.db = app, vault, db
        self.lang = lang
        self.client: FlaskClient = app.test_client()
        self.base = "https://localhost" if https else "http://localhost"

    def another(self, **kw: Any) -> Browser:
        """A second browser, with its own cookies."""
        return Browser(self.app, self.vault, self.db, **kw)

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.lang:
            out.setdefault("Accept-Language", self.lang)
        return out

    def get(self, path: str, *, headers: dict[str, str] | None = None, **kw: Any) -> TestResponse:
        return self.client.get(path, base_url=self.base, headers=self._headers(headers), **kw)

    def token(self, path: str = "/auth/login") -> str:
        """The session's CSRF token, read from a page's form."""
        # Signed in, the sign-in page sends the browser on to a page with the sign-out form.
        found = _TOKEN.search(self.get(path, follow_redirects=True).get_data(as_text=True))
        assert found, f"no CSRF token on {path}"
        return unescape(found.group(1))

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> TestResponse:
        """Submit a form (with the session's CSRF token unless ``csrf=False``)."""
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.token())
        return self.client.post(
            path, data=form, base_url=self.base, headers=self._headers(headers), **kw
        )

    def sign_in(
        self,
        person: Person,
        *,
        password: str = PASSWORD,
        code: str | None = None,
        next_url: str = "/",
    ) -> TestResponse:
        """Sign ``person`` in through the form (their password set, an admin enrolled)."""
        operator = Caller.operator()
        if not accounts.has_password(self.db, person):
            uow.run(self.db, accounts.set_password, self.vault, self.db, operator, person, password)
        if code is None and person.has_role("admin"):
            enrolled = uow.run(self.db, accounts.enroll_totp, self.vault, self.db, operator, person)
            code = pyotp.TOTP(enrolled.secret).now()
        self.db.commit()  # end this session's read snapshot: the app writes next (SQLite)
        resp = self.post(
            "/auth/login",
            {"email": person.email, "password": password, "code": code or "", "next": next_url},
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return resp

    def session(self) -> Any:
        """Read or change the signed session (``with browser.session() as s: ...``)."""
        return self.client.session_transaction(base_url=self.base)
