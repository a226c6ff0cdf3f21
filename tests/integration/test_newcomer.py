"""What a newcomer hit (issue 13), each as the user does it and as they see it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from audit import audit_events
from tests.integration.test_custody_lending import checkout, setup_item
from tests.webclient import error_code, events, text_of
from vault.errors import InvalidInput
from vault.models import Item
from vault.runtime import Vault, open_provider
from vault.web import create_app
from vault.web.api.schema import Form, parse_body, validate
from vault.web.routing import spec_of


@pytest.fixture
def pg_admin_or_none(backend: str, request: pytest.FixtureRequest):
    """The PostgreSQL admin engine on that backend (to drop a database), else None."""
    return request.getfixturevalue("pg_admin") if backend == "postgresql" else None


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---- 1. an empty body; renew once ------------------------------------------------------


def test_renew_with_an_empty_body_as_curl_sends_it_then_never_again(api, make, client):
    _custodian, token, record, item_id = setup_item(api, make)
    borrower = make.person()
    make.grant(borrower, record, actions=("lend",))
    assert checkout(api, token, item_id, borrower).status_code == 201
    # `curl -X POST`: no Content-Type, no body.
    first = client.post(f"/api/v1/items/{item_id}/renew", headers=_bearer(token))
    assert first.status_code == 200, first.json
    assert first.json["renewals"] == 1
    second = client.post(f"/api/v1/items/{item_id}/renew", headers=_bearer(token))
    assert second.status_code == 409
    assert second.json["code"] == "renewal_limit"
    # A body that is there but is not JSON is still refused as such.
    garbled = client.post(
        f"/api/v1/items/{item_id}/renew",
        headers=_bearer(token),
        data="days=3",
        content_type="application/x-www-form-urlencoded",
    )
    assert garbled.status_code == 400 and garbled.json["code"] == "invalid_json"
    broken = client.post(
        f"/api/v1/items/{item_id}/renew",
        headers=_bearer(token),
        data="{days",
        content_type="application/json",
    )
    assert broken.status_code == 400 and broken.json["code"] == "invalid_json"


def test_every_post_takes_an_empty_body_as_an_empty_object(app: Flask):
    """Wherever a body is parsed, no body at all is ``{}``: what needs no field goes
    through, what needs one names it (``missing_<field>``), never ``invalid_json``."""
    context = {"page_size_max": 100}
    accepted, refused = [], {}
    for rule in app.url_map.iter_rules():
        spec = spec_of(app.view_functions.get(rule.endpoint))
        if spec is None or spec.body is None or issubclass(spec.body, Form):
            continue
        with app.test_request_context(rule.rule, method="POST"):
            try:
                parsed = parse_body(spec.body, context)
            except InvalidInput as exc:
                refused[rule.rule] = exc.code
                with pytest.raises(InvalidInput) as as_object:
                    validate(spec.body, {}, context)
                assert exc.code == as_object.value.code != "invalid_json", rule.rule
            else:
                assert parsed == validate(spec.body, {}, context), rule.rule
                accepted.append(rule.rule)
    assert "/api/v1/items/<int:item_id>/renew" in accepted
    assert len(accepted) >= 3 and refused, (accepted, refused)


def test_the_loans_page_offers_renewal_only_while_one_is_left(web, make, db):
    record = make.record(make.client("general"))
    custodian, borrower = make.custodian("general"), make.custodian("general")
    web.sign_in(custodian)
    web.post(f"/records/{record.id}/items", {"kind": "folder", "label": "F1", "location": "R1"})
    item = db.scalar(select(Item).where(Item.record_id == record.id))
    lent = web.post(
        f"/custody/items/{item.id}/checkout",
        {"borrower": borrower.email, "pages": "4", "purpose": "year-end audit"},
    )
    assert lent.status_code == 302
    renew_form = f'action="/custody/items/{item.id}/renew"'
    before = web.get("/custody/loans").get_data(as_text=True)
    assert renew_form in before
    assert web.post(f"/custody/items/{item.id}/renew").status_code == 302
    after = web.get("/custody/loans").get_data(as_text=True)
    assert renew_form not in after
    assert "Already renewed once: it cannot be renewed again." in text_of(after)


# ---- 2. health probes at the root ------------------------------------------------------


def _audit_count(db) -> int:
    db.rollback()
    return int(db.scalar(sa.select(sa.func.count()).select_from(audit_events)) or 0)


def test_healthz_and_readyz_answer_without_signing_in_and_are_not_audited(client, db):
    before = _audit_count(db)
    for path, body in (
        ("/healthz", {"status": "ok"}),
        ("/readyz", {"status": "ready"}),
        ("/api/v1/healthz", {"status": "ok"}),
        ("/api/v1/readyz", {"status": "ready"}),
    ):
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.get_data(as_text=True))
        assert resp.mimetype == "application/json" and resp.json == body, path
    assert _audit_count(db) == before


def test_readyz_names_a_database_that_is_gone(config, vault, client, backend, pg_admin_or_none):
    if backend == "postgresql":
        name = sa.make_url(config.database_url).database
        with pg_admin_or_none.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    else:
        vault.engine.dispose()
        path = Path(sa.make_url(config.database_url).database or "")
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
        path.mkdir()  # where the file was, a directory: SQLite cannot open it
    live = client.get("/healthz")
    assert live.status_code == 200 and live.json == {"status": "ok"}  # no database needed
    for path in ("/readyz", "/api/v1/readyz"):
        resp = client.get(path)
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.mimetype == "application/problem+json"
        assert resp.json["code"] == "database_unavailable"
        assert resp.json["dependency"] == "database"
        assert config.database_url not in resp.get_data(as_text=True)


def test_readyz_names_a_key_provider_that_cannot_be_used(config, vault, hsm_token):
    hsm = hsm_token.settings(config)
    open_provider(hsm).ensure_key()  # type: ignore[attr-defined]
    up = Vault.open(hsm)
    try:
        ready = create_app(hsm, vault=up).test_client().get("/readyz")
        assert ready.status_code == 200 and ready.json == {"status": "ready"}
    finally:
        up.close()
    # The token is not there (an unplugged HSM).
    unplugged = hsm.with_(pkcs11_token_label="unplugged")
    down = Vault.open(unplugged)
    try:
        client = create_app(unplugged, vault=down).test_client()
        assert client.get("/healthz").status_code == 200
        for path in ("/readyz", "/api/v1/readyz"):
            resp = client.get(path)
            assert resp.status_code == 503, resp.get_data(as_text=True)
            assert resp.mimetype == "application/problem+json"
            assert resp.json["code"] == "key_provider_unavailable"
            assert resp.json["dependency"] == "key_provider"
            assert "pkcs11" in resp.json["detail"]
            assert hsm_token.pin not in resp.get_data(as_text=True)
    finally:
        down.close()


def test_the_access_log_leaves_successful_probes_out(tmp_path):
    from types import SimpleNamespace

    from gunicorn.config import Config as GunicornConfig

    from vault.cli.setup import ACCESS_LOG_FORMAT
    from vault.web.server import QuietLogger

    cfg = GunicornConfig()
    log_file = tmp_path / "access.log"
    cfg.set("accesslog", str(log_file))
    cfg.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = QuietLogger(cfg)
    request = SimpleNamespace(headers=[], method="GET", version=(1, 1), uri="/", path="/")

    def served(path: str, status: str) -> None:
        environ = {
            "PATH_INFO": path,
            "RAW_URI": path,
            "REQUEST_METHOD": "GET",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        response = SimpleNamespace(status=status, sent=2, headers=[], response_length=2)
        logger.access(response, request, environ, timedelta(milliseconds=3))

    served("/healthz", "200 OK")
    served("/readyz", "200 OK")
    served("/readyz", "503 SERVICE UNAVAILABLE")
    served("/api/v1/records", "200 OK")
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2, lines
    assert '"GET /readyz HTTP/1.1" 503' in lines[0] and "/api/v1/records" in lines[1]


# ---- 3a. a grant that does not cover the act -------------------------------------------


def test_a_consult_grant_holder_asking_for_a_copy_is_told_the_grant_does_not_cover_it(
    api, make, web, vault
):
    record = make.record(make.client("general"), content=b"terms")
    reader = make.person()
    make.grant(reader, record, actions=("consult",))
    token = make.token(reader)
    purpose = {"purpose": "checking the payment terms"}
    assert api.get(f"/records/{record.id}/content?purpose=checking+terms", token).status_code == 200
    resp = api.post(f"/records/{record.id}/copy", token, json=purpose)
    assert resp.status_code == 403
    assert resp.json["code"] == "grant_does_not_cover_copy"
    assert "covers consult, not copy" in resp.json["detail"]
    # The same person on the page.
    web.sign_in(reader)
    page = web.post(f"/records/{record.id}/copy", purpose)
    assert page.status_code == 403 and error_code(page) == "grant_does_not_cover_copy"
    assert "does not include making a copy" in text_of(page.get_data(as_text=True))
    # Someone with no grant at all is still told to get one.
    stranger = make.token(make.person())
    none = api.post(f"/records/{record.id}/copy", stranger, json=purpose)
    assert none.status_code == 403 and none.json["code"] == "no_grant"
    refusals = events(vault, action="record:copy", person_id=reader.id)
    assert [e.decision for e in refusals] == ["deny", "deny"]


# ---- 3b. one code for a missing reason -------------------------------------------------


def test_a_missing_or_thin_reason_is_one_code_everywhere(api, make, client):
    record = make.record()
    token = make.token(make.person())
    for body in ({"record_id": record.id}, {"record_id": record.id, "reason": "because"}):
        resp = api.post("/access-requests", token, json=body)
        assert resp.status_code == 400 and resp.json["code"] == "missing_reason", body
    admin = make.token(make.admin())
    subject = make.person()
    for body in ({"tiers": ["general"]}, {"tiers": ["general"], "reason": "  "}):
        resp = api.post(f"/people/{subject.id}/designations", admin, json=body)
        assert resp.status_code == 400 and resp.json["code"] == "missing_reason", body
    assert "reason_required" not in client.get("/api/v1/openapi.json").get_data(as_text=True)


# ---- 3d. an id that is not a number ----------------------------------------------------


def test_an_id_that_is_not_a_number_is_not_found_and_says_why(api, make, web):
    token = make.token(make.person())
    record = make.record()
    resp = api.get("/records/abc", token)
    assert resp.status_code == 404 and resp.json["code"] == "record_not_found"
    assert resp.json["detail"] == "the record id in the path must be a whole number (like 12)"
    item = api.post("/items/x1/renew", token)
    assert item.status_code == 404 and item.json["code"] == "item_not_found"
    assert item.json["detail"] == "the item id in the path must be a whole number (like 12)"
    # The same status and code as an id no row has; a path of no route stays not_found.
    unknown = api.get("/records/2147483648", token)
    assert unknown.status_code == 404 and unknown.json["code"] == "record_not_found"
    nowhere = api.get("/nowhere/abc", token)
    assert nowhere.status_code == 404 and nowhere.json["code"] == "not_found"
    assert "detail" not in nowhere.json
    assert api.get(f"/records/{record.id}", token).status_code == 200
    web.sign_in(make.person())
    page = web.get("/records/abc")
    assert page.status_code == 404 and error_code(page) == "record_not_found"
