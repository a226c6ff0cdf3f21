"""A database made by the first released code (schema 0001) upgrades to head and keeps
everything: on each backend, the tables come from ``alembic upgrade 0001``, the data from
``tests/fixtures/schema0001/data.<backend>.sql`` (made by that code under the TEST-ONLY
keyring beside it, see the README there); then ``alembic upgrade head``. Every record
still decrypts to what the old code served, the people's comma-joined roles became
rows, the audit chain made by the old code verifies, and new acts extend it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import sqlalchemy as sa

from vault import uow
from vault.caller import Caller
from vault.config import Config
from vault.identity.tokens import issue_token
from vault.migrations import upgrade
from vault.models import Person
from vault.runtime import Vault
from vault.web import create_app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema0001"


def test_the_first_schema_upgrades_to_head_and_keeps_every_record(empty_db_url, backend, tmp_path):
    expected = json.loads((FIXTURE / "expected.json").read_text())
    upgrade(empty_db_url, "0001")
    engine = sa.create_engine(empty_db_url)
    statements = (FIXTURE / f"data.{backend}.sql").read_text().splitlines()
    with engine.begin() as conn:
        for line in statements:
            if line and not line.startswith("--"):
                conn.exec_driver_sql(line)
    upgrade(empty_db_url)  # to head
    with engine.connect() as conn:
        heads = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        for table, count in expected["counts"].items():
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == count
    engine.dispose()

    home = tmp_path / "var"
    home.mkdir()
    keyring = home / "keyring.json"
    shutil.copy(FIXTURE / "TEST-ONLY-keyring.json", keyring)
    keyring.chmod(0o600)
    config = Config(
        home=home,
        database_url=empty_db_url,
        testing=True,
        secret_key="upgrade-test",
        seal_interval_s=0.0,
        seal_in_background=False,
    )
    v = Vault.open(config)
    try:
        assert len(heads) == 1
        with v.engine.connect() as conn:
            report = v.audit.verify(conn)
        assert report.ok, report
        with v.sessions() as db:
            people = {p.email: p for p in db.scalars(sa.select(Person))}
            # Roles were a comma-joined string at 0001; now rows.
            assert "admin" in people["admin@demo.example"].roles
            assert "auditor" in people["auditor@demo.example"].roles
            custodian = people["custodian@demo.example"]
            token = uow.run(db, issue_token, v, db, Caller.operator(), custodian)
        client = create_app(config, vault=v).test_client()
        auth = {"Authorization": f"Bearer {token}"}
        for rid, digest in expected["content_sha256"].items():
            got = client.get(f"/api/v1/records/{rid}/content?purpose=upgrade", headers=auth)
            assert got.status_code == 200, (rid, got.get_json())
            body = got.get_json()
            assert body["record"]["id"] == int(rid)
            data = (body.get("content") or body.get("content_base64") or "").encode()
            assert hashlib.sha256(data).hexdigest() == digest, rid
        card = client.get("/api/v1/records/1", headers=auth)
        assert card.status_code == 200
        # The new consultations join the chain the old code sealed, and it still verifies.
        v.maybe_seal(force=True)
        with v.engine.connect() as conn:
            report = v.audit.verify(conn)
            sealed = conn.execute(sa.text("SELECT count(*) FROM audit_chain")).scalar()
        assert report.ok, report
        assert sealed >= expected["counts"]["audit_events"] + len(expected["content_sha256"])
    finally:
        v.close()
