"""Audit poisoning: no stored event, however hostile, breaks the auditor's pages or exports.

A buggy or older writer may have left events the reader does not expect: a purpose
holding a lone surrogate or a NUL, a huge body, JSON nested past any parser's limit,
text that is not JSON at all, HTML. The event list, the event page, the API and the CSV
export still answer 200, show every other event, and show what is there escaped. And the
audit package itself never stores a body PostgreSQL cannot cast to JSON.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from audit import Actor, Event, audit_events
from audit.events import event_fields
from tests.factories import Factory
from vault.runtime import Vault

SCRIPT = "<script>alert('owned')</script>"


def _body(**changes: object) -> tuple[str, dict[str, object]]:
    """The canonical body of a plausible denied consultation, with ``changes`` made."""
    ev = Event(
        action="record:consult",
        actor=Actor(person_id=1, subject="p@example.test"),
        decision="deny",
        outcome="denied",
        resource={"record": "1", "client": "1"},
        reason="no_grant",
    )
    fields = event_fields(ev) | changes
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True), fields


def _hostile_bodies() -> dict[str, str]:
    nested = "[" * 100_000 + "]" * 100_000
    return {
        "surrogate": _body(purpose="look \ud800 here")[0],
        "low_surrogate": _body(purpose="tail \udfff", reason="x\udc00")[0],
        "nul": _body(purpose="nul \x00 byte")[0],
        "huge": _body(purpose="A" * 2_000_000)[0],
        "nested_json": _body()[0][:-1] + ',"deep":' + nested + "}",
        "nested_details": _body(details={"d": json.loads("[" * 50 + "]" * 50)})[0],
        "not_json": "{this is not json \\ud800",
        "not_an_object": "[1,2,3]",
        "script": _body(
            purpose=SCRIPT,
            reason=SCRIPT,
            actor={"person_id": 1, "subject": SCRIPT, "ip": None, "user_agent": SCRIPT},
        )[0],
        "formula": _body(purpose='=HYPERLINK("http://evil.example")')[0],
    }


def _poison(v: Vault) -> dict[str, int]:
    """Write hostile events straight into the audit table, as a buggy writer could."""
    seqs: dict[str, int] = {}
    with v.engine.begin() as conn:
        for name, body in _hostile_bodies().items():
            seqs[name] = conn.execute(
                sa.insert(audit_events)
                .values(
                    event_id=uuid.uuid4().hex,
                    time=datetime.now(UTC),
                    action="record:consult",
                    actor_person_id=None,
                    decision="deny",
                    outcome="denied",
                    resource_record="1",
                    resource_client="1",
                    body=body,
                    mac="0" * 64,
                )
                .returning(audit_events.c.seq)
            ).scalar_one()
    return seqs


def _before_and_after(api, make: Factory, v: Vault):
    """A real denied event, the poison, then another real event; and an auditor."""
    auditor = make.person(roles=("employee", "auditor"))
    stranger = make.person()
    record = make.record()
    token = make.token(stranger)
    assert api.get(f"/records/{record.id}/content?purpose=first+look", token).status_code == 403
    seqs = _poison(v)
    assert api.get(f"/records/{record.id}/content?purpose=second+look", token).status_code == 403
    return auditor, seqs


def test_the_auditors_pages_show_every_event_around_the_poison(api, make: Factory, vault, web):
    auditor, seqs = _before_and_after(api, make, vault)
    web.sign_in(auditor)

    page = web.get("/audit?action=record:consult")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    first, last = min(seqs.values()) - 1, max(seqs.values()) + 1  # the real denials
    for seq in (first, *seqs.values(), last):
        assert f'href="/audit/events/{seq}"' in html, seq
    assert SCRIPT not in html and "&lt;script&gt;" in html

    for name, seq in seqs.items():
        one = web.get(f"/audit/events/{seq}")
        assert one.status_code == 200, name
        shown = one.get_data(as_text=True)
        assert SCRIPT not in shown, name
    assert "first look" in web.get(f"/audit/events/{first}").get_data(as_text=True)
    assert "second look" in web.get(f"/audit/events/{last}").get_data(as_text=True)
    assert "look \\ud800 here" in web.get(f"/audit/events/{seqs['surrogate']}").get_data(
        as_text=True
    )

    export = web.get("/audit/export.csv")
    assert export.status_code == 200
    csv.field_size_limit(2**30)  # the huge purpose is exported whole
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    listed = {int(row[0]) for row in rows[1:]}
    assert set(seqs.values()) <= listed
    purposes = [row[rows[0].index("purpose")] for row in rows[1:]]
    assert "first look" in purposes and "second look" in purposes
    assert "look \\ud800 here" in purposes


def test_the_api_lists_every_event_around_the_poison(api, make: Factory, vault):
    auditor, seqs = _before_and_after(api, make, vault)
    got = api.get("/audit/events?limit=100", make.token(auditor))
    assert got.status_code == 200
    items = got.json["items"]
    purposes = [ev["purpose"] for ev in items]
    assert "first look" in purposes and "second look" in purposes
    assert set(seqs.values()) <= {ev["seq"] for ev in items}
    unreadable = {ev["seq"]: ev for ev in items if ev["action"] == "audit:unreadable"}
    assert {seqs["not_json"], seqs["not_an_object"], seqs["nested_json"]} <= set(unreadable)
    assert unreadable[seqs["not_json"]]["outcome"] == "error"
    # Every string that leaves is valid Unicode (no lone surrogate, no NUL).
    text = json.dumps(items, ensure_ascii=False)
    text.encode("utf-8")
    assert "\x00" not in text


@pytest.mark.parametrize(
    "purpose", ["look \ud800 here", "\udfff", "nul \x00 byte", "pair \ud83d\ude00 split"]
)
def test_the_audit_log_never_stores_a_body_postgresql_cannot_cast(vault, purpose, backend):
    ev = Event(
        action="record:consult",
        actor=Actor(person_id=None, subject="x\ud800", user_agent="ua\x00"),
        decision="deny",
        outcome="denied",
        resource={"record": "1"},
        reason="no_grant",
        purpose=purpose,
        details={"note\ud800": "v\x00"},
    )
    with vault.engine.begin() as conn:
        vault.audit.append(conn, ev)
    with vault.engine.connect() as conn:
        body = conn.execute(sa.select(audit_events.c.body)).scalar_one()
        if backend == "postgresql":
            cast = conn.execute(sa.text("SELECT body::jsonb ->> 'purpose' FROM audit_events"))
            assert cast.scalar_one() is not None
    stored = json.loads(body)
    json.dumps(stored, ensure_ascii=False).encode("utf-8")  # no lone surrogate left
    assert "\x00" not in json.dumps(stored, ensure_ascii=False)
    assert vault.audit.verify(vault.engine.connect()).ok
