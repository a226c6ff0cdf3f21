"""The auditor's desk and the spreadsheet import, clicked through in Chromium, in both languages.

The auditor (local sign-in) goes from the alerts list to an alert explained, to the events
behind it in the audit log (newest first, the filters in the URL), to one event and its MAC
check, and clears the alert; then the departure watch with the flagged person, and the access
patterns of a person chosen in the form, reading the numbers in the tables beside the charts.
The custodian imports a CSV with Chinese headers and reads the report. Every page is watched
for a Content-Security-Policy violation in the console. The data is made with
``tests/factories.py`` and the real audit writer, as ``tests/integration/test_auditor_desk.py``
makes it (the same people and numbers); screenshots land in ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import select

from tests.browser.conftest import Demo, Shots
from tests.browser.test_roles import html_lang, sign_in_locally
from tests.factories import Factory
from tests.integration.test_auditor_desk import _build_departures, _put
from tests.webclient import events
from vault.db import make_engine, make_sessionmaker, utcnow
from vault.models import Alert, Client, Record
from vault.oversight import departure_watch

TEXT = {
    "en": {
        "alerts": "Alerts",
        "alert": "Alert",
        "kind": "Use rose after notice of leaving",
        "triggered": "What triggered it",
        "observed": ("5.0 a week since notice", "(5 uses)", "0.16 a week before (2 uses)"),
        "audit_log": "Audit log",
        "newest": "Newest first",
        "consult": "Consult a record",
        "refused": "Denied",
        "event": "Audit event",
        "mac_ok": "The event matches its MAC",
        "cleared": "The alert is cleared.",
        "watch": "Departure watch",
        "yes": "yes",
        "no": "no",
        "patterns": "Access patterns",
        "against": "against their baseline and peers",
        "import": "Import a spreadsheet",
        "tier": "Tier",
        "bad": "1 of 3 rows are bad: nothing was imported.",
        "not_accepted": "“金牌” is not an accepted value of this column",
        "imported": "Imported 2 records (1 new clients) from 3 rows.",
        "imported_again": "Imported 1 records (1 new clients) from 3 rows.",
    },
    "zh": {
        "alerts": "警报",
        "alert": "警报",
        "kind": "提出离职后调阅增多",
        "triggered": "触发原因",
        "observed": ("每周 5.0 次\uff08共 5 次\uff09", "此前每周 0.16 次\uff08共 2 次\uff09"),
        "audit_log": "审计日志",
        "newest": "最新在前",
        "consult": "阅览档案",
        "refused": "拒绝",
        "event": "审计事件",
        "mac_ok": "事件与其 MAC 相符",
        "cleared": "警报已清除。",
        "watch": "离职监控",
        "yes": "是",
        "no": "否",
        "patterns": "访问模式",
        "against": "与本人基线及同类人员的对比",
        "import": "导入电子表格",
        "tier": "分类",
        "bad": "3 行中有 1 行有问题\uff1a未导入任何内容。",
        "not_accepted": "“金牌”不是该列可用的取值",
        "imported": "已从 3 行导入 2 份档案\uff08新客户 1 个\uff09。",
        "imported_again": "已从 3 行导入 1 份档案\uff08新客户 1 个\uff09。",
    },
}
CSP_WORDS = ("Content Security Policy", "Content-Security-Policy")


@pytest.fixture
def console(page: Page) -> list[str]:
    """Every console message of the window (a CSP violation is logged there as an error)."""
    seen: list[str] = []

    def note(msg: ConsoleMessage) -> None:
        seen.append(f"{msg.type}: {msg.text}")

    page.on("console", note)
    page.on("pageerror", lambda exc: seen.append(f"pageerror: {exc}"))
    return seen


def csp_violations(seen: list[str]) -> list[str]:
    return [m for m in seen if any(w in m for w in CSP_WORDS)]


@pytest.fixture
def make(demo: Demo) -> Iterator[Factory]:
    """Factories on the served demo vault, through a session of the test's own."""
    engine = make_engine(demo.vault.config.database_url, immediate=False)
    with make_sessionmaker(engine)() as session:
        yield Factory(demo.vault, session)
    engine.dispose()


def cells(page: Page, row: str) -> list[str]:
    return [t.strip() for t in page.locator(row).locator("td, th").all_inner_texts()]


def rising_alert(make: Factory, demo: Demo):
    """The integration test's leavers (one rising after notice, one flat), the watch's alert."""
    rising, flat = _build_departures(make, demo.vault, make.db)
    assert departure_watch.sweep_now(demo.vault) >= 1
    make.db.commit()
    alert = make.db.scalar(
        select(Alert).where(Alert.kind == "departure_use_rise", Alert.person_id == rising.id)
    )
    assert alert is not None
    make.db.commit()
    return rising, flat, alert.id


def patterns_person(make: Factory, demo: Demo):
    """Someone with 3 uses today, 1 yesterday, and 1 forty days ago (their baseline)."""
    a = make.person()
    x = make.client(code="DESK_X")
    make.db.commit()
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    for i in range(3):
        _put(demo.vault, a.id, today + timedelta(minutes=1 + i), client=x.id)
    _put(demo.vault, a.id, today - timedelta(days=1) + timedelta(hours=5), client=x.id)
    _put(demo.vault, a.id, today - timedelta(days=40), client=x.id)
    return a, x, today


def test_auditor_follows_an_alert_to_its_events_and_reads_the_desk(
    page: Page, demo: Demo, lang: str, shots: Shots, make: Factory, console: list[str]
) -> None:
    words = TEXT[lang]
    rising, flat, alert_id = rising_alert(make, demo)
    a, _client, today = patterns_person(make, demo)
    auditor = demo.logins["auditor"].email
    sign_in_locally(page, demo, "auditor", shots)
    expect(page.locator("html")).to_have_attribute("lang", html_lang(lang))

    # Alerts list -> the alert, explained.
    page.click('a[href="/alerts"] >> nth=0')
    expect(page.locator("h1")).to_have_text(words["alerts"])
    row = page.locator("#alerts tbody tr", has_text=rising.email)
    expect(row).to_have_count(1)
    shots("alerts")
    row.locator(f'a[href="/alerts/{alert_id}"]').click()
    expect(page).to_have_url(f"{demo.url}/alerts/{alert_id}")
    expect(page.locator("h1")).to_have_text(f"{words['alert']} #{alert_id} · {words['kind']}")
    expect(page.locator("#alert-facts")).to_contain_text(rising.email)
    expect(page.locator("h2").first).to_have_text(words["triggered"])
    for part in words["observed"]:
        expect(page.locator("#observed")).to_contain_text(part)
    behind = page.locator("#behind tbody tr")
    expect(behind).to_have_count(5)
    for i in range(5):
        expect(behind.nth(i).locator("td").nth(2)).to_have_text(words["consult"])
    shots("alert")

    # The events behind it: the audit log, filtered in the URL, newest first.
    page.click("#behind-log")
    expect(page).to_have_url(re.compile(rf"/audit\?.*person={rising.id}"))
    expect(page.locator("h1")).to_have_text(words["audit_log"])
    expect(page.locator('select[name="order"] option:checked')).to_have_text(words["newest"])
    logged = page.locator("#audit-events tbody tr")
    expect(logged).to_have_count(5)
    seqs = [int(s) for s in logged.locator("td:first-child").all_inner_texts()]
    assert seqs == sorted(seqs, reverse=True)
    for i in range(5):
        expect(logged.nth(i).locator("td").nth(2)).to_have_text(words["consult"])
        expect(logged.nth(i).locator("td").nth(4)).to_have_text(words["refused"])
    shots("behind-in-the-log")
    # Oldest first: the order joins the filters in the URL, the same events reversed.
    page.select_option("#order", "oldest")
    page.click('#audit-filters button[type="submit"]')
    expect(page).to_have_url(re.compile(rf"person={rising.id}.*order=oldest|order=oldest.*person="))
    expect(logged.first.locator("td").first).to_have_text(str(seqs[-1]))
    assert [int(s) for s in logged.locator("td:first-child").all_inner_texts()] == seqs[::-1]

    # One event: its detail and its MAC check, passing.
    logged.first.locator("a").first.click()
    expect(page).to_have_url(f"{demo.url}/audit/events/{seqs[-1]}")
    expect(page.locator("h1")).to_contain_text(words["event"])
    expect(page.locator("#event-detail")).to_contain_text(words["consult"])
    expect(page.locator("#event-detail")).to_contain_text(rising.email)
    expect(page.locator("#mac-check")).to_contain_text(words["mac_ok"])
    expect(page.locator("#mac-check")).to_have_class(re.compile(r"\bok\b"))
    shots("event")

    # Back to the alert: cleared with a note, who cleared it shown; no longer open.
    page.click('a[href="/alerts"] >> nth=0')
    page.locator(f'#alerts a[href="/alerts/{alert_id}"]').click()
    page.fill('input[name="note"]', "spoke to the manager")
    page.click('form[action$="/clear"] button[type="submit"]')
    expect(page.locator(".flash-ok")).to_have_text(words["cleared"])
    expect(page.locator("#cleared")).to_contain_text(auditor)
    shots("cleared")
    cleared = events(demo.vault, action="review:clear")[-1]
    assert cleared.resource == {"person": str(rising.id), "alert": str(alert_id)}
    page.click('a[href="/alerts"] >> nth=0')
    expect(page.locator("#alerts tbody tr", has_text=rising.email)).to_have_count(0)

    # The departure watch: the rising leaver flagged, with the numbers and the alert.
    page.click('a[href="/departure-watch"] >> nth=0')
    expect(page.locator("h1")).to_have_text(words["watch"])
    expect(page.locator("figure.chart svg")).to_have_count(1)
    flagged = f'#departure-watch tbody tr[data-person="{rising.id}"]'
    expect(page.locator(flagged)).to_have_class("flagged")
    got = cells(page, flagged)
    assert got[0] == f"{rising.name} · {rising.email}"
    assert got[3:] == ["7", "2", "0.16", "5", "5", "5.0", words["yes"], f"#{alert_id}"]
    flat_row = cells(page, f'#departure-watch tbody tr[data-person="{flat.id}"]')
    assert flat_row[4:10] == ["26", "2.02", "4", "4", "4.0", words["no"]]
    shots("departure-watch")

    # Access patterns, a person chosen in the form: the tables beside the charts.
    page.click('a[href="/patterns"] >> nth=0')
    expect(page.locator("h1")).to_have_text(words["patterns"])
    page.fill("#person", a.email)
    page.click('#patterns-window button[type="submit"]')
    expect(page).to_have_url(re.compile(r"/patterns\?.*person="))
    expect(page.locator("h2").first).to_have_text(f"{a.name} {words['against']}")
    expect(page.locator("figure.chart svg")).to_have_count(4)
    timeline = page.locator("#timeline tbody tr")
    expect(timeline).to_have_count(30)
    assert cells(page, "#timeline tbody tr >> nth=-1")[:2] == [today.date().isoformat(), "3"]
    assert cells(page, "#timeline tbody tr >> nth=-2")[:2] == [
        (today - timedelta(days=1)).date().isoformat(),
        "1",
    ]
    baseline = page.locator("#baseline dd")
    expect(baseline.nth(0)).to_have_text("4")  # opened in the period
    expect(baseline.nth(1)).to_have_text("0.01")  # one in the ninety days before
    person_row = page.locator("#top-people tbody tr", has_text=a.email)
    expect(person_row.locator("td").nth(1)).to_have_text("4")
    client_row = page.locator("#top-clients tbody tr", has_text="DESK_X")
    expect(client_row.locator("td").nth(1)).to_have_text("4")
    # Hour 0 of today's weekday: a's three uses (and any other's on that weekday and hour).
    heat_today = page.locator("#heat tbody tr").nth(today.weekday()).locator("td").first
    assert int(heat_today.inner_text()) >= 3
    shots("patterns")

    # The strict policy held on every page: no script, no inline style, nothing blocked.
    assert csp_violations(console) == [], console
    # ...and a violation would have been seen: an image from elsewhere is refused and logged.
    with page.expect_console_message(lambda m: any(w in m.text for w in CSP_WORDS)):
        page.evaluate(
            "() => { const i = document.createElement('img');"
            " i.src = 'http://203.0.113.1/x.png'; document.body.append(i); }"
        )
    assert csp_violations(console), console


def office_csv(*, tier: str) -> bytes:
    """An office's sheet in Chinese: three rows of two clients, Excel's "CSV UTF-8"."""
    rows = [
        "客户编号,客户名称,客户级别,客户类型,档案类别,标题,内容",
        "GZ01,广州明达贸易有限公司,一般,企业,基础资料,走访记录,见到采购经理",
        "GZ01,,,,交易,框架合同,两年\uff0c折扣 3%",
        f"GZ02,广州金星商行,{tier},企业,基础资料,走访记录,初次拜访",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("utf-8-sig")


def test_custodian_imports_a_sheet_with_chinese_headers(
    page: Page, demo: Demo, lang: str, shots: Shots, console: list[str]
) -> None:
    words = TEXT[lang]
    sign_in_locally(page, demo, "custodian", shots)
    page.click('a[href="/import"] >> nth=0')
    expect(page.locator("h1")).to_have_text(words["import"])
    shots("import-form")

    # A value the importer does not know: the whole file refused, the row and column named.
    page.set_input_files(
        "#file",
        files=[{"name": "客户档案.csv", "mimeType": "text/csv", "buffer": office_csv(tier="金牌")}],
    )
    page.click("#import-button")
    expect(page.locator("#import-report .error")).to_contain_text(words["bad"])
    expect(page.locator("#count-rows")).to_have_text("3")
    expect(page.locator("#count-records")).to_have_text("0")
    expect(page.locator("#count-bad")).to_have_text("1")
    problem = page.locator("#import-errors tbody tr")
    expect(problem).to_have_count(1)
    assert cells(page, "#import-errors tbody tr")[:2] == ["4", words["tier"]]
    expect(problem.locator("td").nth(2)).to_contain_text(words["not_accepted"])
    shots("import-refused")

    # Importing the good rows anyway: one client, two records.
    page.set_input_files(
        "#file",
        files=[{"name": "客户档案.csv", "mimeType": "text/csv", "buffer": office_csv(tier="金牌")}],
    )
    page.check('input[name="skip_bad"]')
    page.click("#import-button")
    expect(page.locator("#import-report .verdict.ok")).to_have_text(words["imported"])
    expect(page.locator("#count-records")).to_have_text("2")
    expect(page.locator("#count-clients")).to_have_text("1")
    expect(page.locator("#count-bad")).to_have_text("1")
    shots("import-skipped-bad")

    # The row fixed, the same sheet again: the two filed rows are not filed twice.
    page.set_input_files(
        "#file",
        files=[{"name": "客户档案.csv", "mimeType": "text/csv", "buffer": office_csv(tier="一般")}],
    )
    page.click("#import-button")
    expect(page.locator("#import-report .verdict.ok")).to_have_text(words["imported_again"])
    expect(page.locator("#count-duplicates")).to_have_text("2")
    expect(page.locator("#count-bad")).to_have_text("0")
    shots("import-again")
    with demo.vault.engine.connect() as conn:
        filed = conn.execute(
            select(Client.code, Record.title)
            .join(Record, Record.client_id == Client.id)
            .where(Client.code.in_(("GZ01", "GZ02")))
            .order_by(Record.id)
        ).all()
    assert [tuple(r) for r in filed] == [
        ("GZ01", "走访记录"),
        ("GZ01", "框架合同"),
        ("GZ02", "走访记录"),
    ]
    assert csp_violations(console) == [], console
