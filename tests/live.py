"""The app served for real (werkzeug, a thread on 127.0.0.1), for the SSO and browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from tests.databases import upgrade
from vault.config import AuthSettings, Config
from vault.crypto import LocalKeyring
from vault.runtime import Vault

SSO_SCOPES = "openid email profile groups employment"
ROLE_MAP = {"audit": "auditor", "it-admins": "admin"}


def sso_settings(provider: object, **changes: object) -> AuthSettings:
    """Sign-in settings pointing at the test provider (``tests/sso/conftest.py``)."""
    settings = AuthSettings(
        oidc_issuer=provider.issuer,  # type: ignore[attr-defined]
        oidc_client_id=provider.client_id,  # type: ignore[attr-defined]
        oidc_client_secret=provider.client_secret,  # type: ignore[attr-defined]
        oidc_scopes=SSO_SCOPES,
        oidc_role_map=dict(ROLE_MAP),
        oidc_hired_on_claim="hired_on",
        oidc_leaving_on_claim="leaving_on",
        oidc_timeout_s=5.0,
    )
    return settings.with_(**changes)


def open_vault(config: Config) -> Vault:
    """A new vault: keyring, migrated database."""
    LocalKeyring.create(config.keyring)
    upgrade(config.database_url)
    return Vault.open(config)


@dataclass
class LiveServer:
    """A running app at ``url``."""

    app: Flask
    url: str
    server: BaseWSGIServer


@contextmanager
def serve(app: Flask, port: int) -> Iterator[LiveServer]:
    """Serve ``app`` on 127.0.0.1:``port`` in a thread until the block ends."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=f"http://127.0.0.1:{port}", server=server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
