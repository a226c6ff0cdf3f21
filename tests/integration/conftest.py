"""Fixtures for tests that drive the app on a real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.databases import upgrade
from tests.factories import Factory

# The key providers' fixtures, registered here once: imported into each test module, a
# session fixture would be one per module (two SoftHSM2 configurations, one process).
from tests.keyproviders import bao, hsm_token, session_token, softhsm_conf  # noqa: F401
from vault.config import Config
from vault.crypto import LocalKeyring
from vault.db import make_engine, make_sessionmaker
from vault.runtime import Vault
from vault.web import create_app


@pytest.fixture
def vault(config: Config) -> Iterator[Vault]:
    """An initialised vault: keyring, migrated database."""
    LocalKeyring.create(config.keyring)
    upgrade(config.database_url)
    v = Vault.open(config)
    yield v
    v.close()


@pytest.fixture
def db(vault: Vault) -> Iterator[Session]:
    """The test's own session; on SQLite its reads do not hold the write lock, so a test
    may look at the database between requests without blocking the app."""
    engine = make_engine(vault.config.database_url, immediate=False)
    with make_sessionmaker(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def make(vault: Vault, db) -> Factory:
    """Factories for people, clients and records."""
    return Factory(vault, db)


@pytest.fixture
def app(config: Config, vault: Vault) -> Flask:
    """The Flask app on this vault."""
    return create_app(config, vault=vault)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


class Api:
    """A thin JSON client that sends a bearer token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def _headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, token: str | None = None, **kw):
        return self.client.get(f"/api/v1{path}", headers=self._headers(token), **kw)

    def post(self, path: str, token: str | None = None, json=None, **kw):
        return self.client.post(f"/api/v1{path}", headers=self._headers(token), json=json, **kw)


@pytest.fixture
def api(client: FlaskClient) -> Api:
    """The JSON API client."""
    return Api(client)


@pytest.fixture
def web(app: Flask, vault: Vault, db: Session, monkeypatch: pytest.MonkeyPatch):
    """A browser on the pages (``tests/webclient.py``): forms carry their CSRF token and
    people sign in through the real form (argon2 made cheap for tests)."""
    from tests.webclient import Browser, cheap_passwords

    cheap_passwords(monkeypatch)
    return Browser(app, vault, db)
