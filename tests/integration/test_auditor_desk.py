"""The auditor's desk: access patterns, the departure watch, and alerts explained.

Events are placed in time through the real audit writer (``vault.audit.append``), then
the numbers the pages' tables show are checked against figures worked out by hand.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from audit import Actor, Event
from tests.factories import Factory
from tests.webclient import error_code, events, text_of
from vault import uow
from vault.caller import Caller
from vault.db import utcnow
from vault.models import Alert
from vault.oversight import departure_watch, explain, patterns
from vault.people import departures

NOW = datetime(2026, 6, 17, 15, 0, tzinfo=UTC)  # a Wednesday


def _put(
    vault,
    person_id: int,
    when: datetime,
    *,
    action: str = "record:consult",
    decision: str = "allow",
    client: int | None = None,
    resource: dict[str, str] | None = None,
    details: dict[str, str | int | bool | None] | None = None,
) -> None:
    res = resource if resource is not None else {"record": "1"}
    if client is not None:
        res = {**res, "client": str(client)}
    ev = Event(
        action=action,
        actor=Actor(person_id=person_id),
        decision=decision,
        outcome="ok" if decision != "deny" else "denied",
        resource=res,
        details=details or {},
        time=when,
    )
    with vault.engine.begin() as conn:
        vault.audit.append(conn, ev)


def _at(day: str, hm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hm}:00+00:00")


def _build_patterns(make: Factory, vault, db):
    a, b, c, d = (make.person() for _ in range(4))
    keeper = make.custodian()
    x, y = make.client(code="PAT_X"), make.client(code="PAT_Y")
    db.commit()
    uses = []  # (person, time, client): every allowed use in the window
    for hm in ("09:00", "09:10", "09:20", "09:30", "09:40", "09:50", "10:00", "10:10", "10:20"):
        _put(vault, a.id, _at("2026-06-01", hm), client=x.id)  # the baseline: 9 in one day
    for when in (
        _at("2026-06-15", "10:00"),
        _at("2026-06-15", "10:20"),
        _at("2026-06-15", "14:00"),
    ):
        uses.append((a, when, x))
    uses.append((a, _at("2026-06-17", "09:00"), y))
    uses.append((b, _at("2026-06-15", "11:00"), y))
    uses += [(c, _at("2026-06-15", hm), x) for hm in ("11:05", "11:10")]
    uses += [(b, _at("2026-06-17", hm), y) for hm in ("08:00", "08:05", "08:10", "08:15")]
    uses += [(keeper, _at("2026-06-16", hm), x) for hm in ("13:00", "13:01", "13:02", "13:03")]
    uses.append((keeper, _at("2026-06-16", "13:04"), y))
    for person, when, client in uses:
        _put(vault, person.id, when, client=client.id)
    # Not uses: refused, a catalogue page, a lending to someone else, before the window.
    _put(vault, a.id, _at("2026-06-17", "09:30"), decision="deny", client=x.id)
    _put(vault, a.id, _at("2026-06-17", "09:31"), action="record:read", decision="n/a")
    _put(vault, keeper.id, _at("2026-06-16", "13:05"), action="item:checkout", client=x.id)
    _put(vault, b.id, _at("2026-06-10", "23:59"), client=y.id)
    return {"a": a, "b": b, "c": c, "d": d, "keeper": keeper, "x": x, "y": y, "uses": uses}


def test_timeline_baseline_peers_heat_map_and_top_lists(make: Factory, vault, db):
    built = _build_patterns(make, vault, db)
    a, b, keeper, x, y = built["a"], built["b"], built["keeper"], built["x"], built["y"]
    auditor = make.person(roles=("employee", "auditor"))
    found = uow.run(
        db, patterns.collect, vault, db, Caller(person=auditor), days=7, person=a, now=NOW
    )
    t = found.timeline
    assert t is not None
    assert [(r.day.isoformat(), r.opened, r.busiest_hour, r.peer_median) for r in t.rows] == [
        ("2026-06-11", 0, 0, 0.0),
        ("2026-06-12", 0, 0, 0.0),
        ("2026-06-13", 0, 0, 0.0),
        ("2026-06-14", 0, 0, 0.0),
        ("2026-06-15", 3, 2, 1.0),  # peers b 1, c 2, d 0
        ("2026-06-16", 0, 0, 0.0),  # the custodian is no employee's peer
        ("2026-06-17", 1, 1, 0.0),  # peers b 4, c 0, d 0
    ]
    # Nine in one day of ninety: mean 0.1, sd sqrt((8.9^2 + 89 * 0.1^2) / 90) = 0.94.
    assert (t.baseline_mean, t.baseline_sd, round(t.baseline_high, 2)) == (0.1, 0.94, 1.98)
    assert t.days_above == 1 and t.total == 4
    assert t.peer_group == "employee" and t.peers == 3
    cfg = vault.config
    assert (t.quotas.export_hour, t.quotas.export_day) == (cfg.quota_hour, cfg.quota_day)
    heat = [[0] * 24 for _ in range(7)]
    for _person, when, _client in built["uses"]:
        heat[when.weekday()][when.hour] += 1
    assert found.heat == heat
    assert found.heat[0][10] == 2 and found.heat[0][11] == 3 and found.heat[1][13] == 5
    assert [(r.id, r.uses) for r in found.top_people] == sorted(
        [(a.id, 4), (b.id, 5), (built["c"].id, 2), (keeper.id, 5)], key=lambda r: (-r[1], r[0])
    )
    assert [(r.id, r.uses) for r in found.top_clients] == sorted(
        [(x.id, 9), (y.id, 7)], key=lambda r: (-r[1], r[0])
    )
    # A custodian is measured against the custodians, and against the custodians' quota.
    kt = patterns.timeline(vault, db, keeper, days=7, now=NOW)
    assert kt.peer_group == "custodian" and kt.quotas.export_day == cfg.custodian_quota_day
    assert [r.opened for r in kt.rows] == [0, 0, 0, 0, 0, 5, 0]


def _cells(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table[^>]*id="{table}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None, table
    return [
        [text_of(cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


def test_the_page_shows_the_numbers_beside_the_charts(web, make: Factory, vault, db):
    a, b = make.person(), make.person()
    x = make.client(code="PAGE_X")
    db.commit()
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    for i in range(3):
        _put(vault, a.id, today + timedelta(minutes=1 + i), client=x.id)
    _put(vault, a.id, today - timedelta(days=1) + timedelta(hours=5), client=x.id)
    _put(vault, b.id, today + timedelta(minutes=30), client=x.id)
    _put(vault, a.id, today - timedelta(days=40), client=x.id)  # baseline of a 30-day window
    auditor = make.person(roles=("employee", "auditor"))
    web.sign_in(auditor)
    page = web.get(f"/patterns?person={a.email}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<svg") == 4 and "<script" not in html
    rows = _cells(html, "timeline")
    assert len(rows) == 30
    assert rows[-1] == [today.date().isoformat(), "3", "3", "1"]  # peers: b 1 (a's only peer)
    assert rows[-2][:2] == [(today - timedelta(days=1)).date().isoformat(), "1"]
    baseline = text_of(re.search(r'id="baseline">(.*?)</dl>', html, re.S).group(1))
    assert "0.01" in baseline  # one in ninety days
    heat = _cells(html, "heat")
    assert heat[today.weekday()][1] == "4"  # hour 0 of today: three of a's and b's
    assert _cells(html, "top-people")[:2] == [[a.email, "4"], [b.email, "1"]]
    assert _cells(html, "top-clients") == [[f"PAGE_X {x.name}", "5"]]
    seen = events(vault, action="audit:patterns", person_id=auditor.id)
    assert seen and seen[-1].resource == {"person": str(a.id)}
    assert seen[-1].details["days"] == 30
    assert web.get("/patterns?days=7").status_code == 200
    assert web.get("/patterns?days=0").status_code == 400
    assert web.get("/patterns?person=nobody@example.test").status_code == 400
    assert 'href="/patterns"' in web.get("/").get_data(as_text=True)


def _departing(make: Factory, vault, db, days_ago: float):
    """A person whose leaving date was set ``days_ago`` days ago (its audit event, placed
    in time through the real writer, as departures.set_departure records it)."""
    admin = make.admin()
    person = make.person()
    notice = utcnow() - timedelta(days=days_ago)
    _put(
        vault,
        admin.id,
        notice,
        action="person:depart",
        decision="n/a",
        resource={"person": str(person.id)},
        details={"leaving_on": (date.today() + timedelta(days=20)).isoformat()},
    )
    person.leaving_on = date.today() + timedelta(days=20)
    db.commit()
    return person, notice


def _build_departures(make: Factory, vault, db):
    rising, notice = _departing(make, vault, db, 3)
    for days in (30, 60):  # two uses in the 90 days before notice
        _put(vault, rising.id, notice - timedelta(days=days))
    for hours in (2, 10, 20, 30, 40):  # five attempts since, all refused
        _put(vault, rising.id, notice + timedelta(hours=hours), decision="deny")
    flat, flat_notice = _departing(make, vault, db, 3)
    for i in range(26):  # about two a week before notice
        _put(vault, flat.id, flat_notice - timedelta(days=1 + i * 3.4))
    for hours in (5, 15, 25, 35):  # four since: a weekly mean of 4 <= 2 x 2.02
        _put(vault, flat.id, flat_notice + timedelta(hours=hours), decision="deny")
    _put(vault, flat.id, flat_notice - timedelta(days=95))  # older than the baseline
    return rising, flat


def test_departure_watch_flags_a_rise_after_notice_once(web, make: Factory, vault, db):
    rising, flat = _build_departures(make, vault, db)
    auditor = make.person(roles=("employee", "auditor"))
    watched = {
        w.person.id: w
        for w in uow.run(db, departure_watch.watch, vault, db, Caller(person=auditor))
    }
    r, f = watched[rising.id], watched[flat.id]
    assert (r.uses_before, r.uses_after, r.refused_after) == (2, 5, 5)
    assert (r.weekly_before, r.weekly_after, r.flagged) == (0.16, 5.0, True)
    assert (f.uses_before, f.uses_after, f.weekly_before, f.weekly_after) == (26, 4, 2.02, 4.0)
    assert f.flagged is False and r.alert_id is None
    # The background chore raises the alert, once per person.
    assert departure_watch.sweep_now(vault) == 1
    assert departure_watch.sweep_now(vault) == 0
    db.commit()
    raised = list(db.scalars(select(Alert).where(Alert.kind == "departure_use_rise")))
    assert [a.person_id for a in raised] == [rising.id]
    assert events(vault, action="guard:alert", person_id=None)[-1].reason == "departure_use_rise"
    # The page shows both, the flag and its alert.
    web.sign_in(auditor)
    html = web.get("/departure-watch").get_data(as_text=True)
    rows = {row[0]: row for row in _cells(html, "departure-watch")}
    rrow = rows[f"{rising.name} · {rising.email}"]
    assert rrow[3:] == ["7", "2", "0.16", "5", "5", "5.0", "yes", f"#{raised[0].id}"]
    frow = rows[f"{flat.name} · {flat.email}"]
    assert frow[4:10] == ["26", "2.02", "4", "4", "4.0", "no"] and frow[10] == "—"
    assert f'href="/alerts/{raised[0].id}"' in html
    assert events(vault, action="report:departure", person_id=auditor.id)[-1].details["watch"]


def test_notice_is_when_the_leaving_date_was_set(make: Factory, vault, db):
    admin, leaver = make.admin(), make.person()
    before = utcnow()
    uow.run(
        db,
        departures.set_departure,
        vault,
        db,
        Caller(person=admin),
        leaver,
        date.today() + timedelta(days=30),
    )
    notice = departure_watch.notices(db, [leaver.id])[leaver.id]
    assert before - timedelta(seconds=1) <= notice <= utcnow()
    # Attempts after notice, placed in time: the sweep a week on flags them.
    for hours in (1, 2, 3, 4):
        _put(vault, leaver.id, notice + timedelta(hours=hours), decision="deny")
    db.commit()  # end the read of the notice: the events were written on their own
    raised = uow.run(
        db,
        departure_watch.sweep,
        vault,
        db,
        Caller.operator(),
        now=notice + timedelta(days=7),
    )
    assert [a.person_id for a in raised] == [leaver.id]


def test_the_alert_page_explains_the_rule_the_events_and_clearing(web, make: Factory, vault, db):
    rising, _flat = _build_departures(make, vault, db)
    departure_watch.sweep_now(vault)
    db.commit()
    alert = db.scalar(select(Alert).where(Alert.kind == "departure_use_rise"))
    auditor = make.person(roles=("employee", "auditor"))
    web.sign_in(auditor)
    html = web.get(f"/alerts/{alert.id}").get_data(as_text=True)
    text = text_of(html)
    assert "used records markedly more after notice" in text
    assert "above 2 times the weekly mean of the 90 days before, and at least 3 uses" in text
    assert "5.0 a week since notice" in text and "(5 uses)" in text and "0.16 a week" in text
    assert "An auditor clears this alert with a note" in text
    behind = _cells(html, "behind")
    assert len(behind) == 5 and all(row[2] == "Consult a record" for row in behind)
    link = re.search(r'id="behind-log" href="([^"]+)"|href="([^"]+)" id="behind-log"', html)
    assert link is not None
    href = (link.group(1) or link.group(2)).replace("&amp;", "&")
    assert href.startswith("/audit?") and f"person={rising.id}" in href
    log = web.get(href).get_data(as_text=True)
    assert len(_cells(log, "audit-events")) == 5  # the log, filtered to the same events
    assert 'id="trigger-event"' in html
    # Clearing: recorded with the note, shown on the page.
    assert (
        web.post(f"/alerts/{alert.id}/clear", {"note": "spoke to the manager"}).status_code == 302
    )
    cleared = events(vault, action="review:clear")[-1]
    assert cleared.resource == {"person": str(rising.id), "alert": str(alert.id)}
    assert cleared.details["note"] == "spoke to the manager"
    assert auditor.email in text_of(web.get(f"/alerts/{alert.id}").get_data(as_text=True))
    assert f'href="/alerts/{alert.id}"' in web.get("/alerts?all=1").get_data(as_text=True)


def test_a_quota_alert_is_explained_with_the_quota(web, api, make: Factory, vault, db):
    sales = make.person()
    records = [make.record() for _ in range(3)]
    grants = [make.grant(sales, r) for r in records]
    assert grants
    object.__setattr__(vault, "config", vault.config.with_(quota_hour=2, quota_day=5))
    token = make.token(sales)
    codes = [
        api.get(f"/records/{r.id}/content?purpose=checking the terms", token).status_code
        for r in records
    ]
    assert codes == [200, 200, 403]
    db.commit()
    db.expire_all()
    alert = db.scalar(select(Alert).where(Alert.kind == "quota_exceeded"))
    ex = explain.explain(
        vault, db, Caller(person=make.person(roles=("employee", "auditor"))), alert.id
    )
    assert ex.threshold == {"hour": 2, "day": 5} and ex.observed == {"hour": 2, "day": 2}
    assert ex.clears_review and [e.action for _s, e in ex.events].count("record:consult") == 3
    auditor = make.person(roles=("employee", "auditor"))
    web.sign_in(auditor)
    text = text_of(web.get(f"/alerts/{alert.id}").get_data(as_text=True))
    assert "2 records per hour, 5 per day" in text and "2 records in the last hour" in text
    assert "clears the review with a note" in text


def test_employees_and_custodians_are_refused_with_the_reason(web, make: Factory, vault, db):
    rising, _ = _build_departures(make, vault, db)
    departure_watch.sweep_now(vault)
    db.commit()
    alert = db.scalar(select(Alert).where(Alert.kind == "departure_use_rise"))
    for person in (make.person(), make.custodian()):
        browser = web.another()
        browser.sign_in(person)
        for path in (
            "/patterns",
            f"/patterns?person={rising.id}",
            "/departure-watch",
            f"/alerts/{alert.id}",
        ):
            before = len(events(vault, decision="deny", person_id=person.id))
            resp = browser.get(path)
            assert resp.status_code == 403, path
            assert error_code(resp) == "role_required"
            assert len(events(vault, decision="deny", person_id=person.id)) == before + 1
        resp = browser.post(f"/alerts/{alert.id}/clear", {"note": "not mine to clear"})
        assert resp.status_code == 403
        home = browser.get("/").get_data(as_text=True)
        assert 'href="/patterns"' not in home and 'href="/departure-watch"' not in home


def test_the_desk_is_in_chinese_too(web, make: Factory, vault, db):
    rising, _ = _build_departures(make, vault, db)
    departure_watch.sweep_now(vault)
    db.commit()
    alert = db.scalar(select(Alert).where(Alert.kind == "departure_use_rise"))
    zh = web.another(lang="zh-CN")
    zh.sign_in(make.person(roles=("employee", "auditor")))
    for path, words in (
        (f"/patterns?person={rising.id}", ("访问模式", "每日打开的档案")),
        ("/departure-watch", ("离职监控", "通知后每周平均")),
        (f"/alerts/{alert.id}", ("触发原因", "清除")),
    ):
        html = zh.get(path).get_data(as_text=True)
        for word in words:
            assert word in html, (path, word)


def test_the_watch_interval_is_a_setting():
    from vault.config import Config
    from vault.errors import InvalidInput

    assert Config.from_env({"VAULT_WATCH_INTERVAL_S": "600"}).watch_interval_s == 600.0
    for bad in ("0", "x", "100000"):
        with pytest.raises(InvalidInput):
            Config.from_env({"VAULT_WATCH_INTERVAL_S": bad})
