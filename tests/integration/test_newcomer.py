"""What a newcomer hit (issue 13), each as the user does it and as they see it."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from tests.integration.test_custody_lending import checkout, setup_item
from tests.webclient import text_of
from vault.errors import InvalidInput
from vault.models import Item
from vault.web.api.schema import Form, parse_body, validate
from vault.web.routing import spec_of


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
