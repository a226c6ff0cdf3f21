"""The walking vault end to end through the API: deposit, deny, consult, audit."""

from __future__ import annotations

from tests.factories import Factory
from vault.models import Attachment


def deposit(api, token, client_id, content="Payment terms net 60", section="credit"):
    return api.post(
        "/records",
        token,
        json={
            "client_id": client_id,
            "section": section,
            "title": "Credit report 2026",
            "content": content,
        },
    )


def test_deposit_then_depositor_cannot_read_back(api, make: Factory):
    sales = make.person()
    token = make.token(sales)
    client = make.client("core")

    resp = deposit(api, token, client.id)
    assert resp.status_code == 201, resp.json
    card = resp.json
    assert card["file_number"].startswith(f"{client.code}-2-")
    assert "content" not in card

    denied = api.get(f"/records/{card['id']}/content?purpose=check+my+work", token)
    assert denied.status_code == 403
    assert denied.mimetype == "application/problem+json"
    assert denied.json["code"] == "no_grant"
    assert "Payment terms" not in denied.get_data(as_text=True)


def test_file_numbers_count_per_client_section_and_year(api, make: Factory):
    token = make.token(make.person())
    client = make.client("general", code="ZED")
    numbers = [deposit(api, token, client.id).json["file_number"] for _ in range(3)]
    other = deposit(api, token, client.id, section="basic").json["file_number"]
    year = numbers[0].split("-")[2]
    assert numbers == [f"ZED-2-{year}-{n:04d}" for n in (1, 2, 3)]
    assert other == f"ZED-1-{year}-0001"


def test_senior_custodian_consults_with_purpose_and_auditor_sees_both(api, make: Factory):
    sales, custodian = make.person(), make.custodian("core")
    auditor = make.person(roles=("employee", "auditor"))
    client = make.client("core")
    record_id = deposit(api, make.token(sales), client.id).json["id"]
    api.get(f"/records/{record_id}/content?purpose=curious", make.token(sales))

    ctoken = make.token(custodian)
    missing = api.get(f"/records/{record_id}/content", ctoken)
    assert missing.status_code == 400 and missing.json["code"] == "purpose_required"

    ok = api.get(f"/records/{record_id}/content?purpose=renewing+credit+terms", ctoken)
    assert ok.status_code == 200
    assert ok.json["content"] == "Payment terms net 60"
    assert ok.headers["Cache-Control"] == "no-store"

    events = api.get(
        f"/audit/events?record={record_id}&action=record:consult", make.token(auditor)
    ).json["items"]
    by_person = {(e["actor"]["person_id"], e["decision"]) for e in events}
    assert (sales.id, "deny") in by_person
    assert (custodian.id, "allow") in by_person
    allowed = next(e for e in events if e["decision"] == "allow")
    assert allowed["id"] == ok.json["event_id"]
    assert allowed["purpose"] == "renewing credit terms"
    assert allowed["policy_ids"] == ["permit-custodian-content"]
    assert "Payment terms" not in str(events)


def test_new_hire_custodian_is_denied_for_tenure(api, make: Factory):
    newbie = make.custodian("core", "general", years=0.1)
    record = make.record(make.client("general"))
    resp = api.get(f"/records/{record.id}/content?purpose=first+day", make.token(newbie))
    assert resp.status_code == 403
    assert resp.json["code"] == "tenure_too_short"
    assert "3 years" in resp.json["detail"]


def test_tenure_minimum_depends_on_tier(api, make: Factory):
    four_years = make.custodian("core", "general", years=4)
    token = make.token(four_years)
    general = make.record(make.client("general"))
    core = make.record(make.client("core"))
    assert api.get(f"/records/{general.id}/content?purpose=review", token).status_code == 200
    resp = api.get(f"/records/{core.id}/content?purpose=review", token)
    assert resp.status_code == 403 and resp.json["code"] == "tenure_too_short"
    assert "5 years" in resp.json["detail"]


def test_custodian_out_of_tier_scope(api, make: Factory):
    custodian = make.custodian("general")
    record = make.record(make.client("core"))
    resp = api.get(f"/records/{record.id}/content?purpose=review", make.token(custodian))
    assert resp.status_code == 403 and resp.json["code"] == "tier_out_of_scope"


def test_auditor_and_admin_see_no_content(api, make: Factory):
    record = make.record(make.client("special"))
    auditor = make.person(roles=("employee", "auditor"), years=20)
    admin = make.admin()
    for person, code in ((auditor, "auditor_no_content"), (admin, "no_grant")):
        resp = api.get(f"/records/{record.id}/content?purpose=look", make.token(person))
        assert resp.status_code == 403 and resp.json["code"] == code


def test_auditor_designated_custodian_still_sees_no_content(api, make: Factory):
    auditor = make.person(roles=("employee", "auditor"), years=20, tiers=("general",))
    record = make.record(make.client("general"))
    resp = api.get(f"/records/{record.id}/content?purpose=look", make.token(auditor))
    assert resp.status_code == 403 and resp.json["code"] == "auditor_no_content"


def test_catalogue_is_metadata_only(api, make: Factory):
    token = make.token(make.person())
    client = make.client("core", tax_id="91310000MA1FL0001X", bank_account="6222 1234")
    make.record(client, content=b"the secret content")
    listing = api.get(f"/records?client_id={client.id}", token)
    assert listing.status_code == 200 and len(listing.json["items"]) == 1
    card = api.get(f"/clients/{client.id}", token).json
    assert card["has_tax_id"] is True
    body = listing.get_data(as_text=True) + str(card)
    for secret in ("the secret content", "91310000MA1FL0001X", "6222"):
        assert secret not in body


def test_client_lookup_by_tax_id_uses_blind_index(api, make: Factory):
    token = make.token(make.custodian("core"))
    wanted = make.client("core", tax_id="91310000MA1FL0001X")
    make.client("core", tax_id="91440300MA5F00002Y")
    found = api.post("/clients/lookup", token, json={"tax_id": "9131-0000 ma1fl0001x"})
    assert [c["id"] for c in found.json["items"]] == [wanted.id]


def test_page_size_has_a_hard_cap(api, make: Factory):
    token = make.token(make.person())
    resp = api.get("/records?limit=100000", token)
    assert resp.status_code == 400 and resp.json["code"] == "page_too_large"


def test_me_shows_own_profile(api, make: Factory):
    person = make.custodian("general")
    me = api.get("/me", make.token(person)).json
    assert me["email"] == person.email and me["custodian_tiers"] == ["general"]


def test_attachment_is_encrypted_and_consulted_through_the_choke_point(
    api, make: Factory, vault, db
):
    import io

    sales, custodian = make.person(), make.custodian()
    record = make.record(make.client("general"), by=sales)
    payload = b"%PDF-1.4 scanned contract " + bytes(range(256)) * 50
    up = api.client.post(
        f"/api/v1/records/{record.id}/attachments",
        headers={"Authorization": f"Bearer {make.token(sales)}"},
        data={"file": (io.BytesIO(payload), "contract.pdf", "application/pdf")},
        content_type="multipart/form-data",
    )
    assert up.status_code == 201, up.json
    with vault.blobs.open(db.get(Attachment, up.json["id"]).blob_key) as blob:
        stored = blob.read()
    assert len(stored) > len(payload) and b"scanned contract" not in stored

    path = f"/records/{record.id}/attachments/{up.json['id']}/content?purpose=check+contract"
    assert api.get(path, make.token(sales)).status_code == 403
    got = api.get(path, make.token(custodian))
    assert got.status_code == 200 and got.data == payload
    assert got.headers["Cache-Control"] == "no-store"
