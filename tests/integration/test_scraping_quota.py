"""Metadata scraping (Defence 5): the catalogue and the client list are paged, every page
read counts against a page quota of its own, reading past it is refused and alerts the
auditors, and the departure report says how many pages the person read."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import sqlalchemy as sa

from tests.factories import Factory
from tests.webclient import error_code
from vault.models import Alert, Person


def page_quota(vault, hour: int, day: int = 1000) -> None:
    object.__setattr__(
        vault, "config", vault.config.with_(page_quota_hour=hour, page_quota_day=day)
    )


def _alerts(db, person) -> list[str]:
    db.rollback()
    return list(db.scalars(sa.select(Alert.kind).where(Alert.person_id == person.id)))


def test_reading_past_the_page_quota_is_refused_and_alerts(api, make: Factory, vault, db):
    page_quota(vault, hour=4)
    scraper = make.person()
    auditor = make.person(roles=("employee", "auditor"))
    make.record(make.client("general"))
    token = make.token(scraper)
    pages = ["/clients?limit=1", "/clients?limit=1&offset=1", "/records", "/records?offset=50"]
    assert [api.get(p, token).status_code for p in pages] == [200] * 4
    refused = api.get("/records?offset=100", token)
    assert refused.status_code == 403 and refused.json["code"] == "page_quota_exceeded"
    assert api.get("/clients", token).json["code"] == "page_quota_exceeded"
    # One alert for the crossing, not one per refused page.
    assert _alerts(db, scraper) == ["page_quota_exceeded"]
    listed = api.get("/alerts", make.token(auditor)).json["items"]
    assert [a["kind"] for a in listed] == ["page_quota_exceeded"]
    # Refusals are audited; content and the rest of the vault are not affected.
    denied = db.execute(
        sa.text(
            "SELECT action FROM audit_events WHERE actor_person_id = :p AND outcome = 'denied' "
            "ORDER BY seq"
        ),
        {"p": scraper.id},
    ).scalars()
    assert list(denied) == ["record:read", "client:read"]
    assert api.get("/me", token).status_code == 200
    assert db.scalar(sa.select(Person.under_review).where(Person.id == scraper.id)) is False
    # Someone else reads on.
    assert api.get("/records", make.token(make.person())).status_code == 200


def test_the_day_window_counts_too_and_pages_stay_capped(api, make: Factory, vault):
    page_quota(vault, hour=100, day=2)
    token = make.token(make.person())
    assert api.get("/records?limit=101", token).json["code"] == "page_too_large"
    assert [api.get("/clients", token).status_code for _ in range(3)] == [200, 200, 403]


def test_the_ui_lists_count_and_refuse_too(web, make: Factory, vault, db):
    page_quota(vault, hour=2)
    reader = make.person()
    web.sign_in(reader)
    assert web.get("/catalogue").status_code == 200
    assert web.get("/clients?page=2").status_code == 200
    catalogue = web.get("/catalogue")
    assert catalogue.status_code == 403 and error_code(catalogue) == "page_quota_exceeded"
    clients = web.get("/clients")
    assert clients.status_code == 403 and error_code(clients) == "page_quota_exceeded"
    assert _alerts(db, reader) == ["page_quota_exceeded"]


def test_the_departure_report_counts_the_pages_read(api, web, make: Factory):
    leaver = make.person()
    token = make.token(leaver)
    for path in ("/records", "/records?offset=50", "/records?q=x", "/clients"):
        assert api.get(path, token).status_code == 200
    api.post(
        f"/people/{leaver.id}/departure",
        make.token(make.admin()),
        json={"leaving_on": (date.today() + timedelta(days=10)).isoformat()},
    )
    auditor = make.person(roles=("employee", "auditor"))
    a_token = make.token(auditor)
    report = api.get(f"/people/{leaver.id}/departure-report", a_token)
    assert report.json["pages"] == {"catalogue": 3, "clients": 1}
    rows = list(
        csv.DictReader(
            io.StringIO(
                api.get(f"/people/{leaver.id}/departure-report?format=csv", a_token).get_data(
                    as_text=True
                )
            )
        )
    )
    assert {(r["action"], r["pages"]) for r in rows if r["pages"]} == {
        ("record:read", "3"),
        ("client:read", "1"),
    }
    # Reading the report is no page of the leaver's.
    assert api.get(f"/people/{leaver.id}/departure-report", a_token).json["pages"] == {
        "catalogue": 3,
        "clients": 1,
    }
    web.sign_in(auditor)
    page = web.get(f"/admin/people/{leaver.id}/departure-report")
    assert page.status_code == 200
    assert "Catalogue pages: 3. Client list pages: 1." in page.get_data(as_text=True)
