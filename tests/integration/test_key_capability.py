"""Keys as a capability: only the choke point can unwrap a record's or a client's data key.

Not a text search: the key provider itself is watched while a whole scenario runs
through the app (deposit, attachment, consultation, copy, check-out, TOTP sign-in,
rotation and rewrap), and every unwrap is traced back to the module that asked for it.
"""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from flask.testing import FlaskClient

from tests.databases import upgrade
from tests.factories import Factory
from vault import uow
from vault.caller import Caller
from vault.config import Config
from vault.crypto import DecryptionError, LocalKeyring, WrappedKey
from vault.crypto.contexts import client_context, record_context
from vault.identity import accounts
from vault.keys import rotation
from vault.models import Client, Record
from vault.runtime import Vault
from vault.web import create_app

CRYPTO = str(Path(sys.modules["vault.crypto"].__file__ or "").parent)


class WatchedKeyring(LocalKeyring):
    """The real local keyring, noting who each unwrapped data key is handed to."""

    handed_to: list[tuple[str, str]]

    def unwrap(self, wrapped, context):
        caller = sys._getframe(1)
        if caller.f_code.co_filename.startswith(CRYPTO) and caller.f_code.co_name == "rewrap":
            return super().unwrap(wrapped, context)  # stays inside the provider
        frame = caller
        while frame is not None and frame.f_code.co_filename.startswith(CRYPTO):
            frame = frame.f_back
        module = frame.f_globals.get("__name__", "?") if frame is not None else "?"
        self.handed_to.append((context.split(b":")[0].decode(), module))
        return super().unwrap(wrapped, context)


@pytest.fixture
def watched(config: Config) -> Iterator[tuple[Vault, WatchedKeyring]]:
    LocalKeyring.create(config.keyring)
    upgrade(config.database_url)
    ring = WatchedKeyring.load(config.keyring)
    ring.handed_to = []
    v = Vault.open(config, keys=ring)
    yield v, ring
    v.close()


def test_the_wrap_only_view_cannot_unwrap_content_keys(make: Factory, vault: Vault):
    record = make.record(make.client("general"))
    client = make.db.get(Client, record.client_id)
    assert not hasattr(vault.keys, "unwrap")
    assert "provider" not in repr(vault.keys).lower().replace("<key provider>", "")
    for blob, context in (
        (record.wrapped_dek, record_context(record.id)),
        (client.wrapped_dek, client_context(client.id)),
    ):
        with pytest.raises(DecryptionError):
            vault.keys.unwrap_own_secret(WrappedKey.from_bytes(blob), context)


def test_every_content_key_is_unwrapped_by_the_choke_point_alone(watched):
    vault, ring = watched
    app = create_app(vault.config, vault=vault)
    client: FlaskClient = app.test_client()
    with vault.sessions() as db:
        make = Factory(vault, db)
        keeper = make.custodian("general")
        seller = make.person()
        acme = make.client("general")
        token = make.token(keeper)
        seller_token = make.token(seller)
        auth = {"Authorization": f"Bearer {token}"}
        made = client.post(
            "/api/v1/records",
            headers={"Authorization": f"Bearer {seller_token}"},
            json={
                "client_id": acme.id,
                "section": "credit",
                "title": "Credit report",
                "content_base64": base64.b64encode(b"net 60 days").decode(),
            },
        )
        assert made.status_code == 201, made.json
        record_id = made.json["id"]
        upload = client.post(
            f"/api/v1/records/{record_id}/attachments",
            headers=auth,
            data={"file": (io.BytesIO(b"scan bytes"), "scan.txt")},
            content_type="multipart/form-data",
        )
        assert upload.status_code == 201, upload.json
        att = upload.json["id"]
        purpose = "purpose=annual+credit+review"
        assert (
            client.get(f"/api/v1/records/{record_id}/content?{purpose}", headers=auth).status_code
            == 200
        )
        got = client.get(
            f"/api/v1/records/{record_id}/attachments/{att}/content?{purpose}", headers=auth
        )
        assert got.status_code == 200 and got.data == b"scan bytes"
        copied = client.post(
            f"/api/v1/records/{record_id}/copy", headers=auth, json={"purpose": "for the auditor"}
        )
        assert copied.status_code in (200, 201), copied.json

        admin = make.admin()
        enrolled = uow.run(db, accounts.enroll_totp, vault, db, Caller.operator(), db.merge(admin))
        cred = accounts._credential(db, admin)
        assert accounts._check_totp(vault, cred, pyotp.TOTP(enrolled.secret).now())
        db.commit()
        with vault.sessions() as other:
            uow.run(other, rotation.rotate, vault, other, Caller.operator())
        with vault.sessions() as other:
            uow.run(other, rotation.rewrap, vault, other, Caller.operator())
        assert db.get(Record, record_id) is not None

    kinds = {}
    for kind, module in ring.handed_to:
        kinds.setdefault(kind, set()).add(module)
    assert kinds.get("record") == {"vault.access"}, ring.handed_to
    assert kinds.get("totp") == {"vault.identity.accounts"}, ring.handed_to
    assert "client" not in kinds, ring.handed_to  # client keys are only ever re-wrapped
