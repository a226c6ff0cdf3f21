"""My account, "why can't I", and attachments in the reading room, clicked through in Chromium.

In English and in Chinese: a person changes their local password on "My account" (a wrong
current password refused in words, then the right one) and signs in with the new one; an
admin replaces their one-time code, reading the new secret off the page, and signs in with a
code from it. An employee refused a consultation follows the refusal's link to "Why?"; an
auditor asks about someone else. A custodian opens a record's attachment in the reading room,
under their watermark. Every page is watched for a Content-Security-Policy violation;
screenshots land in ``test-artifacts/browser/``.
"""

from __future__ import annotations

import io
import re
import time

import pyotp
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import select

from tests.browser.conftest import LANGS, Demo, Shots
from tests.browser.test_auditor_desk import csp_violations
from tests.browser.test_roles import html_lang, sign_in_locally
from tests.webclient import events
from vault.archive import records
from vault.caller import Caller
from vault.models import Client, Record, Section
from vault.people import directory
from vault.uow import unit_of_work

NEW_PASSWORD = "a brand new passphrase 42"
NOTE = "Visit note 附件: the director asked for net 90 terms"
TEXT = {
    "en": {
        "account": "My account",
        "wrong": "The current password is wrong.",
        "changed": "Your password is changed. Other sessions ended: 0.",
        "replaced": "Your one-time code is replaced. Other sessions ended: 0.",
        "signed_out": "You have signed out",
        "no_grant": "Only designated custodians",
        "why": "Why? A decision explained",
        "can_i": "Can I: Consult a record?",
        "denied": "Denied",
        "none": "none",
        "ask_grant": "Ask a custodian of this tier for a temporary grant that includes: Consult",
        "can_they": "Can Li Wei (senior custodian): Consult a record?",
        "allowed": "Allowed",
        "as_custodian": "as a custodian",
        "custody": "Custody is in effect",
        "reading_room": "Reading room",
        "attached": "Attached file: visit-note.txt",
    },
    "zh": {
        "account": "我的账户",
        "wrong": "当前密码不正确。",
        "changed": "您的密码已修改。已结束的其他会话\uff1a0 个。",
        "replaced": "您的一次性验证码已更换。已结束的其他会话\uff1a0 个。",
        "signed_out": "您已退出登录",
        "no_grant": "只有被指定的档案管理员",
        "why": "为什么\uff1f决定说明",
        "can_i": "我能否\uff1a阅览档案\uff1f",
        "denied": "拒绝",
        "none": "无",
        "ask_grant": "向此分类的档案管理员申请包含以下行为的临时授权",
        "can_they": "Li Wei (senior custodian) 能否\uff1a阅览档案\uff1f",
        "allowed": "允许",
        "as_custodian": "作为档案管理员",
        "custody": "保管权有效",
        "reading_room": "阅览室",
        "attached": "附件\uff1avisit-note.txt",
    },
}


@pytest.fixture
def console(page: Page) -> list[str]:
    """Every console message of the window (a CSP violation is logged there as an error)."""
    seen: list[str] = []

    def note(msg: ConsoleMessage) -> None:
        seen.append(f"{msg.type}: {msg.text}")

    page.on("console", note)
    page.on("pageerror", lambda exc: seen.append(f"pageerror: {exc}"))
    return seen


def sign_in(page: Page, demo: Demo, email: str, password: str, code: str = "") -> None:
    page.goto(demo.url + "/auth/login")
    page.fill("#email", email)
    page.fill("#password", password)
    if code:
        page.fill("#code", code)
    page.click("#local-sign-in")
    expect(page).to_have_url(demo.url + "/")


def sign_out(page: Page, demo: Demo, lang: str) -> None:
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/auth/signed-out"))
    expect(page.locator("h1")).to_have_text(TEXT[lang]["signed_out"])


def open_account(page: Page, lang: str) -> None:
    page.click("#my-profile")
    page.click("#my-account-link")
    expect(page.locator("h1")).to_have_text(TEXT[lang]["account"])


def record_of(demo: Demo, code: str, section: Section) -> Record:
    with unit_of_work(demo.vault) as db:
        record = db.scalar(
            select(Record)
            .join(Client, Record.client_id == Client.id)
            .where(Client.code == code, Record.section == int(section))
            .order_by(Record.id)
        )
        assert record is not None
        db.expunge(record)
        return record


# ---- My account ----------------------------------------------------------------------------


def test_a_person_changes_their_password_and_signs_in_with_the_new_one(
    page: Page, demo: Demo, lang: str, shots: Shots, console: list[str]
) -> None:
    words = TEXT[lang]
    login = demo.logins["sales"]
    sign_in_locally(page, demo, "sales", shots)
    expect(page.locator("html")).to_have_attribute("lang", html_lang(lang))
    open_account(page, lang)
    expect(page.locator("#account-totp")).to_be_visible()  # a local account: both forms
    shots("account")

    # A wrong current password: refused, in words, and the password stays.
    page.fill("#current-password", "not my password")
    page.fill("#new-password", NEW_PASSWORD)
    page.fill("#new-again", NEW_PASSWORD)
    page.click("#change-password")
    expect(page.locator(".error")).to_contain_text(words["wrong"])
    expect(page.locator(".error-code")).to_have_text("wrong_password")
    shots("wrong-current-password")

    # The right one: changed, this session stays.
    page.fill("#current-password", login.password)
    page.fill("#new-password", NEW_PASSWORD)
    page.fill("#new-again", NEW_PASSWORD)
    page.click("#change-password")
    expect(page).to_have_url(demo.url + "/me/account")
    expect(page.locator(".flash-ok")).to_have_text(words["changed"])
    shots("password-changed")
    sign_out(page, demo, lang)

    # The old password signs in no more; the new one does.
    page.goto(demo.url + "/auth/login")
    page.fill("#email", login.email)
    page.fill("#password", login.password)
    page.click("#local-sign-in")
    expect(page).to_have_url(re.compile(r"/auth/login"))
    expect(page.locator(".error")).to_be_visible()
    shots("old-password-refused")
    sign_in(page, demo, login.email, NEW_PASSWORD)
    expect(page.locator("#my-profile")).to_have_text("Sam Sales")
    shots("signed-in-with-new-password")
    changes = events(demo.vault, action="account:password")
    assert [(e.outcome, e.reason) for e in changes] == [
        ("denied", "wrong_password"),
        ("ok", "own_account"),
    ]
    assert csp_violations(console) == [], console


def test_an_admin_replaces_their_one_time_code_and_signs_in_with_the_new_one(
    page: Page, demo: Demo, lang: str, shots: Shots, console: list[str]
) -> None:
    words = TEXT[lang]
    login = demo.logins["admin"]
    old = login.totp_secret
    assert old
    sign_in_locally(page, demo, "admin", shots, code=pyotp.TOTP(old).now())
    open_account(page, lang)
    shots("account")

    # The current password and a current code (one step ahead: each code works once).
    page.fill("#totp-password", login.password)
    page.fill("#current-code", pyotp.TOTP(old).at(time.time() + 30))
    page.click("#start-totp")
    secret = page.locator("#new-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret) and secret != old
    expect(page.locator("#new-uri")).to_contain_text("otpauth://totp/")
    expect(page.locator("#new-uri")).to_contain_text(f"secret={secret}")
    shots("new-secret")
    page.fill("#new-code", pyotp.TOTP(secret).now())
    page.click("#confirm-totp")
    expect(page).to_have_url(demo.url + "/me/account")
    expect(page.locator(".flash-ok")).to_have_text(words["replaced"])
    expect(page.locator("#new-secret")).to_have_count(0)  # shown once only
    shots("code-replaced")
    sign_out(page, demo, lang)

    # A code from the new secret signs in (the next step's: the confirming one was used).
    sign_in(page, demo, login.email, login.password, code=pyotp.TOTP(secret).at(time.time() + 30))
    expect(page.locator("#my-profile")).to_have_text("Ada Admin")
    shots("signed-in-with-new-code")
    changes = events(demo.vault, action="account:totp")
    assert [(e.outcome, e.details.get("step")) for e in changes] == [
        ("ok", "new_secret"),
        ("ok", "replaced"),
    ]
    assert csp_violations(console) == [], console


# ---- Why can't I ---------------------------------------------------------------------------


def test_a_refused_employee_follows_the_link_to_why_and_an_auditor_asks_about_another(
    page: Page, demo: Demo, lang: str, shots: Shots, console: list[str], chromium
) -> None:
    words = TEXT[lang]
    record = record_of(demo, "BLUESKY", Section.CREDIT)
    sign_in_locally(page, demo, "sales", shots)
    page.goto(f"{demo.url}/records/{record.id}")
    page.click("#consult-link")
    page.fill("#purpose", "check the payment terms")
    page.click("#consult-button")
    expect(page.locator(".error")).to_contain_text(words["no_grant"])
    expect(page.locator(".error-code")).to_have_text("no_grant")
    expect(page.locator("#record-content")).to_have_count(0)
    shots("consult-refused")

    page.click("#why-link")
    expect(page).to_have_url(f"{demo.url}/why?action=record:consult&record={record.id}")
    expect(page.locator("h1")).to_have_text(words["why"])
    answer = page.locator("#why-answer")
    expect(answer.locator("h2")).to_have_text(words["can_i"])
    expect(answer).to_contain_text(record.file_number)
    expect(page.locator("#why-decision")).to_contain_text(words["denied"])
    expect(page.locator("#why-reason")).to_contain_text(words["no_grant"])
    expect(page.locator("#why-grants")).to_have_text(words["none"])
    expect(page.locator("#why-changes")).to_contain_text(words["ask_grant"])
    expect(page.locator("#why-ask-grant")).to_have_attribute(
        "href", f"/requests/new?record={record.id}&actions=consult"
    )
    expect(page.locator('#why-form input[name="person"]')).to_have_count(0)  # oneself only
    expect(answer).not_to_contain_text("no_grant")  # words, not codes
    expect(answer).not_to_contain_text("Credit rating")  # explaining opens nothing
    shots("why-answer")

    # The auditor, in their own browser, asks why the senior custodian may consult it.
    desk = chromium.new_context(locale=LANGS[lang])
    other = desk.new_page()
    seen: list[str] = []
    other.on("console", lambda m: seen.append(f"{m.type}: {m.text}"))
    other_shots = Shots(other, shots.name + "-auditor")
    sign_in_locally(other, demo, "auditor", other_shots)
    other.goto(demo.url + "/why")
    expect(other.locator("h1")).to_have_text(words["why"])
    other.select_option('#why-form select[name="action"]', "record:consult")
    other.fill('#why-form input[name="record"]', str(record.id))
    other.fill('#why-form input[name="person"]', "custodian@demo.example")
    other_shots("why-form")
    other.click('#why-form button[type="submit"]')
    theirs = other.locator("#why-answer")
    expect(theirs.locator("h2")).to_have_text(words["can_they"])
    expect(other.locator("#why-decision")).to_contain_text(words["allowed"])
    expect(other.locator("#why-reason")).to_contain_text(words["as_custodian"])
    expect(other.locator("#why-changes")).to_contain_text(words["custody"])
    expect(other.locator("#why-ask-grant")).to_have_count(0)  # asking is the person's own act
    other_shots("why-about-another")
    desk.close()

    asked = events(demo.vault, action="policy:why")
    assert [(e.details["is_self"], e.details["answer"]) for e in asked] == [
        (True, "deny"),
        (False, "allow"),
    ]
    assert csp_violations(console) == [], console
    assert csp_violations(seen) == [], seen


# ---- Attachments in the reading room -------------------------------------------------------


def test_a_custodian_opens_an_attachment_in_the_reading_room_under_the_watermark(
    page: Page, demo: Demo, lang: str, shots: Shots, console: list[str]
) -> None:
    words = TEXT[lang]
    record = record_of(demo, "ACME", Section.BASIC)
    with unit_of_work(demo.vault) as db:
        keeper = Caller(person=directory.get_by_email(db, "custodian@demo.example"))
        note = records.attach(
            demo.vault,
            db,
            keeper,
            record.id,
            filename="visit-note.txt",
            content_type="text/plain",
            stream=io.BytesIO(NOTE.encode()),
        )
        note_id = note.id
    sign_in_locally(page, demo, "custodian", shots)
    page.goto(f"{demo.url}/records/{record.id}")
    page.click("#consult-link")
    expect(page.locator("h1")).to_have_text(words["reading_room"])
    page.fill("#purpose", "prepare the visit")
    page.click("#consult-button")
    expect(page.locator("#record-content")).to_contain_text("Met the purchasing director")
    listed = page.locator("#reading-attachments")
    expect(listed).to_contain_text("visit-note.txt")
    expect(listed).not_to_contain_text(NOTE)  # listed, not opened
    shots("reading-room-with-attachment")

    page.click(f"#open-attachment-{note_id}")
    expect(page).to_have_url(f"{demo.url}/records/{record.id}/attachments/{note_id}/consult")
    expect(page.locator("h1")).to_have_text(words["reading_room"])
    expect(page.locator("#attachment-name")).to_have_text(words["attached"])
    expect(page.locator("#attachment-content")).to_have_text(NOTE)
    overlay = page.locator("#reading-room .watermark span").first
    expect(overlay).to_contain_text("Li Wei")
    expect(overlay).to_contain_text("custodian@demo.example")
    expect(overlay).to_contain_text("UTC")
    expect(page.locator("a[download]")).to_have_count(0)
    shots("attachment-opened")
    opened = [
        e
        for e in events(demo.vault, action="record:consult")
        if e.resource.get("attachment") == str(note_id)
    ]
    assert [(e.decision, e.purpose) for e in opened] == [("allow", "prepare the visit")]
    assert csp_violations(console) == [], console
