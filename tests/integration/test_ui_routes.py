"""Every page route: what an anonymous visitor, a refused person and an allowed person see.

The table below must name every page route (a test fails on a missing one), so a new
page cannot be added without saying who may use it and checking that others cannot.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.webclient import PASSWORD, Browser, error_code, events
from vault import uow
from vault.appraisal import checks
from vault.archive import records
from vault.caller import Caller
from vault.custody import loans
from vault.grants import requests
from vault.models import ApiToken, Grant
from vault.oversight import alerts, notifications
from vault.people import directory
from vault.web.routing import spec_of


@dataclass(frozen=True)
class Case:
    """One route: who may use it (``allowed``), who may not (``denied``), and what they see."""

    endpoint: str
    method: str
    path: str
    allowed: str | None  # a member of the cast, or None for public routes
    denied: str | None = None
    status: int = 200
    denied_code: str = "role_required"
    data: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("ui.home", "GET", "/", "employee", "disabled", denied_code="person_disabled"),
    Case(
        "ui.catalogue", "GET", "/catalogue", "employee", "departing", denied_code="person_departing"
    ),
    Case("ui.clients", "GET", "/clients", "employee", "departing", denied_code="person_departing"),
    Case(
        "ui.client_lookup",
        "POST",
        "/clients/lookup",
        "custodian",
        "employee",
        denied_code="not_custodian",
        data={"by": "tax_id", "value": "91310000MA1FL0001X"},
    ),
    Case(
        "ui.record_card",
        "GET",
        "/records/{record}",
        "employee",
        "departing",
        denied_code="person_departing",
    ),
    Case(
        "ui.deposit_form",
        "GET",
        "/deposit",
        "employee",
        "departing",
        denied_code="person_departing",
    ),
    Case(
        "ui.deposit",
        "POST",
        "/deposit",
        "employee",
        "departing",
        status=302,
        denied_code="person_departing",
        data={"client_id": "{client}", "section": "basic", "title": "Visit", "content": "x"},
    ),
    Case(
        "ui.consult_form",
        "GET",
        "/records/{record}/consult",
        "employee",
        "departing",
        denied_code="person_departing",
    ),
    Case(
        "ui.consult",
        "POST",
        "/records/{record}/consult",
        "custodian",
        "auditor",
        denied_code="auditor_no_content",
        data={"purpose": "renew the payment terms"},
    ),
    Case(
        "ui.consult_attachment",
        "POST",
        "/records/{record}/attachments/{attachment}/consult",
        "custodian",
        "auditor",
        denied_code="auditor_no_content",
        data={"purpose": "renew the payment terms"},
    ),
    Case(
        "ui.make_copy",
        "POST",
        "/records/{record}/copy",
        "custodian",
        "auditor",
        denied_code="auditor_no_content",
        data={"purpose": "a copy for the customer"},
    ),
    Case("ui.audit_log", "GET", "/audit", "auditor", "employee"),
    Case("ui.audit_event", "GET", "/audit/events/1", "auditor", "employee"),
    Case("ui.audit_verify", "GET", "/audit/verify", "auditor", "employee"),
    Case("ui.stats_page", "GET", "/stats", "auditor", "employee"),
    Case("ui.audit_export", "GET", "/audit/export.csv", "auditor", "admin"),
    Case("ui.people_list", "GET", "/admin/people", "admin", "employee"),
    Case("ui.person_new_form", "GET", "/admin/people/new", "admin", "auditor"),
    Case(
        "ui.person_new",
        "POST",
        "/admin/people/new",
        "admin",
        "auditor",
        status=302,
        data={"email": "new@example.test", "name": "New Person", "hired_on": "2020-01-02"},
    ),
    Case("ui.person_detail", "GET", "/admin/people/{employee}", "admin", "employee"),
    Case(
        "ui.designate",
        "POST",
        "/admin/people/{employee}/designations",
        "admin",
        "auditor",
        status=302,
        data={"tiers": "general", "reason": "knows these clients"},
    ),
    Case(
        "ui.hire_date",
        "POST",
        "/admin/people/{employee}/hire-date",
        "admin",
        "auditor",
        status=302,
        data={"hired_on": "2015-01-02", "reason": "records found"},
    ),
    Case(
        "ui.grant_role",
        "POST",
        "/admin/people/{employee}/roles",
        "admin",
        "auditor",
        status=302,
        data={"role": "admin", "reason": "runs the IT desk"},
    ),
    Case(
        "ui.departure_change",
        "POST",
        "/admin/people/{departing}/departure/change",
        "admin",
        "auditor",
        status=302,
        data={"reason": "stays another year"},
    ),
    Case("ui.proposals_page", "GET", "/admin/proposals", "admin", "employee"),
    # Appraisal: the disposal page and the schedule (custodians, admins, auditors); the
    # acts on batches and holds (a batch that does not exist: 404 once allowed).
    Case("ui.disposal_page", "GET", "/disposal", "auditor", "employee"),
    Case("ui.retention_page", "GET", "/retention", "custodian", "employee"),
    Case(
        "ui.batch_certificate",
        "GET",
        "/disposal/batches/999999/certificate",
        "auditor",
        "employee",
        status=404,
    ),
    Case(
        "ui.batch_propose",
        "POST",
        "/disposal/batches",
        "custodian",
        "employee",
        status=409,
        denied_code="not_custodian",
        data={"record_id": "{record}", "reason": "tidy up"},
    ),
    Case(
        "ui.batch_approve",
        "POST",
        "/disposal/batches/999999/approve",
        "admin",
        "employee",
        status=404,
    ),
    Case(
        "ui.batch_countersign",
        "POST",
        "/disposal/batches/999999/countersign",
        "custodian",
        "employee",
        status=404,
        denied_code="not_custodian",
    ),
    Case(
        "ui.batch_reject",
        "POST",
        "/disposal/batches/999999/reject",
        "admin",
        "employee",
        status=404,
        data={"note": "not yet"},
    ),
    Case(
        "ui.hold_place",
        "POST",
        "/holds",
        "custodian",
        "employee",
        status=302,
        denied_code="not_custodian",
        data={"client_id": "{client}", "reason": "litigation"},
    ),
    Case(
        "ui.retention_propose",
        "POST",
        "/retention",
        "admin",
        "employee",
        status=400,
        data={"text": "rules = [", "reason": "a new law"},
    ),
    Case(
        "ui.relationship_end",
        "POST",
        "/disposal/relationship-end",
        "custodian",
        "employee",
        status=302,
        denied_code="not_custodian",
        data={"client": "{client}", "ended_on": "2020-01-01"},
    ),
    Case(
        "ui.hold_lift",
        "POST",
        "/holds/999999/lift",
        "admin",
        "employee",
        status=404,
        data={"reason": "settled"},
    ),
    Case(
        "ui.proposal_approve",
        "POST",
        "/admin/proposals/{proposal}/approve",
        "admin2",
        "admin",
        status=302,
        denied_code="same_person_approval",
    ),
    Case(
        "ui.proposal_reject",
        "POST",
        "/admin/proposals/{proposal}/reject",
        "admin2",
        "employee",
        status=302,
        data={"note": "not needed"},
    ),
    Case(
        "ui.sessions_revoke",
        "POST",
        "/admin/people/{employee}/sessions/revoke",
        "admin",
        "auditor",
        status=302,
    ),
    Case("ui.profile", "GET", "/me", "employee", "disabled", denied_code="person_disabled"),
    Case(
        "ui.my_tokens", "GET", "/me/tokens", "employee", "disabled", denied_code="person_disabled"
    ),
    Case(
        "ui.my_token_create",
        "POST",
        "/me/tokens",
        "employee",
        "departing",
        denied_code="person_departing",
        data={"label": "laptop"},
    ),
    Case(
        "ui.my_token_revoke",
        "POST",
        "/me/tokens/{token}/revoke",
        "employee",
        "departing",
        status=302,
        denied_code="person_departing",
    ),
    Case(
        "ui.sign_out_everywhere",
        "POST",
        "/me/sessions/end-all",
        "employee",
        "departing",
        status=302,
        denied_code="person_departing",
    ),
    # My account: one's own password and one-time code (account:password, account:totp).
    Case("ui.account", "GET", "/me/account", "employee", "disabled", denied_code="person_disabled"),
    Case(
        "ui.account_password",
        "POST",
        "/me/account/password",
        "employee",
        "departing",
        status=302,
        denied_code="person_departing",
        data={
            "current": PASSWORD,
            "new": "a brand new passphrase",
            "again": "a brand new passphrase",
        },
    ),
    Case(
        "ui.account_totp_start",
        "POST",
        "/me/account/totp",
        "employee",
        "departing",
        denied_code="person_departing",
        data={"current": PASSWORD},
    ),
    Case(
        "ui.account_totp_confirm",
        "POST",
        "/me/account/totp/confirm",
        "employee",
        "departing",
        status=400,
        denied_code="person_departing",
        data={"pending": "not.sealed", "code": "123456"},
    ),
    Case("ui.token_revoke", "POST", "/admin/tokens/{token}/revoke", "admin", "auditor", status=302),
    Case(
        "ui.departure",
        "POST",
        "/admin/people/{employee}/departure",
        "admin",
        "auditor",
        status=302,
        data={"leaving_on": (date.today() + timedelta(days=30)).isoformat()},
    ),
    Case(
        "ui.departure_report",
        "GET",
        "/admin/people/{employee}/departure-report",
        "auditor",
        "employee",
    ),
    Case(
        "ui.departure_report_csv",
        "GET",
        "/admin/people/{employee}/departure-report.csv",
        "auditor",
        "employee",
    ),
    # Why can't I / why can they: anyone about themselves (is_self), not while leaving.
    Case(
        "ui.why",
        "GET",
        "/why?action=record:consult&record={record}",
        "employee",
        "departing",
        denied_code="person_departing",
    ),
    Case("ui.designations", "GET", "/admin/designations", "admin", "employee"),
    Case("ui.keys", "GET", "/admin/keys", "admin", "auditor"),
    # Temporary access, alerts, notifications.
    Case(
        "ui.request_new",
        "GET",
        "/requests/new?record={record}",
        "employee",
        "departing",
        denied_code="person_departing",
    ),
    Case(
        "ui.request_create",
        "POST",
        "/requests",
        "employee",
        "departing",
        status=302,
        denied_code="person_departing",
        data={"record": "{record}", "reason": "renew the payment terms", "hours": "4"},
    ),
    Case(
        "ui.my_requests",
        "GET",
        "/requests",
        "employee",
        "departing",
        denied_code="person_departing",
    ),
    Case(
        "ui.waiting_requests",
        "GET",
        "/requests/waiting",
        "custodian",
        "departing",
        denied_code="person_departing",
    ),
    Case(
        "ui.request_detail",
        "GET",
        "/requests/{request}",
        "employee",
        "departing",
        denied_code="person_departing",
    ),
    Case(
        "ui.request_approve",
        "POST",
        "/requests/{request}/approve",
        "custodian",
        "auditor",
        status=302,
        denied_code="not_custodian",
    ),
    Case(
        "ui.request_deny",
        "POST",
        "/requests/{request}/deny",
        "custodian",
        "auditor",
        status=302,
        denied_code="not_custodian",
    ),
    Case(
        "ui.request_withdraw",
        "POST",
        "/requests/{request}/withdraw",
        "employee",
        "departing",
        status=302,
        denied_code="person_departing",
    ),
    Case("ui.my_grants", "GET", "/grants", "employee", "departing", denied_code="person_departing"),
    Case(
        "ui.grant_revoke",
        "POST",
        "/grants/{grant}/revoke",
        "custodian",
        "auditor",
        status=302,
        denied_code="not_custodian",
        data={"reason": "no longer needed"},
    ),
    Case("ui.alerts", "GET", "/alerts", "auditor", "employee"),
    Case("ui.alert_page", "GET", "/alerts/{alert}", "auditor", "custodian"),
    Case(
        "ui.alert_clear",
        "POST",
        "/alerts/{alert}/clear",
        "auditor",
        "employee",
        status=302,
        data={"note": "checked with the manager"},
    ),
    Case("ui.access_patterns", "GET", "/patterns", "auditor", "custodian"),
    Case("ui.departure_watch", "GET", "/departure-watch", "admin", "employee"),
    Case(
        "ui.review_clear",
        "POST",
        "/alerts/people/{under_review}/clear",
        "auditor",
        "employee",
        status=302,
        data={"note": "checked with the manager"},
    ),
    Case(
        "ui.notifications",
        "GET",
        "/notifications",
        "employee",
        "departing",
        denied_code="person_departing",
    ),
    Case(
        "ui.notification_read",
        "POST",
        "/notifications/{note}/read",
        "employee",
        "departing",
        status=302,
        denied_code="person_departing",
    ),
    # The spreadsheet import: custodians and admins (client:import).
    Case("ui.import_form", "GET", "/import", "custodian", "employee"),
    Case("ui.import_upload", "POST", "/import", "admin", "employee", status=400),
    # Custody: files in care, items, lending.
    Case("ui.files_in_care", "GET", "/custody/files", "custodian", "employee"),
    Case(
        "ui.file_reviewed",
        "POST",
        "/custody/files/{client}/reviewed",
        "custodian",
        "employee",
        status=302,
        denied_code="not_custodian",
    ),
    Case("ui.loans", "GET", "/custody/loans", "custodian", "employee"),
    Case(
        "ui.item_add",
        "POST",
        "/records/{record}/items",
        "custodian",
        "auditor",
        status=302,
        denied_code="not_custodian",
        data={"kind": "box", "label": "Box 7", "location": "Shelf B"},
    ),
    Case(
        "ui.item_checkout",
        "POST",
        "/custody/items/{item}/checkout",
        "custodian",
        "auditor",
        status=302,
        denied_code="not_custodian",
        data={"borrower": "{borrower}", "pages": "12", "purpose": "prepare the audit"},
    ),
    Case(
        "ui.item_checkin",
        "POST",
        "/custody/items/{loaned}/checkin",
        "custodian",
        "auditor",
        status=302,
        denied_code="not_custodian",
        data={"pages": "10", "condition": "good"},
    ),
    Case(
        "ui.item_renew",
        "POST",
        "/custody/items/{loaned}/renew",
        "custodian",
        "auditor",
        status=302,
        denied_code="not_custodian",
    ),
    # Public: the sign-in pages, the stylesheet and the language switch.
    # Appraisal: check reports, registers, portfolio (auditors, custodians), dossier.
    Case("ui.checks_page", "GET", "/checks", "auditor", "employee"),
    Case("ui.check_page", "GET", "/checks/{check}", "auditor", "employee"),
    Case("ui.loan_register", "GET", "/registers/loans", "auditor", "employee"),
    Case("ui.use_register", "GET", "/registers/uses", "custodian", "employee"),
    Case("ui.portfolio_page", "GET", "/portfolio", "auditor", "employee"),
    Case(
        "ui.dossier_page",
        "GET",
        "/clients/{client}/dossier",
        "custodian",
        "employee",
        denied_code="not_custodian",
    ),
    Case("auth.login_page", "GET", "/auth/login", None),
    Case("auth.signed_out", "GET", "/auth/signed-out", None),
    Case(
        "auth.login",
        "POST",
        "/auth/login",
        None,
        status=401,
        data={"email": "nobody@example.test", "password": "whatever it is"},
    ),
    Case("auth.sso_start", "POST", "/auth/sso", None, status=404),
    Case("auth.callback", "GET", "/auth/callback", None, status=404),
    Case("auth.logout", "POST", "/auth/logout", None, status=302),
    Case("auth.step_up_form", "GET", "/auth/step-up", None, status=302),
    Case("auth.step_up", "POST", "/auth/step-up", None, status=302),
    Case("ui.static", "GET", "/static/vault.css", None),
    Case("ui.set_language", "GET", "/lang/zh_Hans", None, status=302),
    # Public: the health probes at the root.
    Case("health.healthz", "GET", "/healthz", None),
    Case("health.readyz", "GET", "/readyz", None),
    # Public route, private content: 404 unless VAULT_METRICS_TOKEN is set (test_metrics.py).
    Case("metrics.scrape", "GET", "/metrics", None, status=404),
]


def test_the_table_names_every_page_route(app):
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes == {(c.endpoint, c.method) for c in CASES}
    for case in CASES:
        spec = spec_of(app.view_functions[case.endpoint])
        assert spec is not None and spec.public == (case.allowed is None), case.endpoint


@pytest.fixture
def cast(web, make, vault, db) -> dict[str, Any]:
    """People in every role, signed in each in their own browser, and things to act on."""
    employee, custodian = make.person(), make.custodian()
    auditor = make.person(roles=("employee", "auditor"))
    admin, admin2 = make.admin(), make.second_admin()
    departing, disabled = make.person(), make.person()
    record = make.record()
    make.token(employee)
    token = db.scalar(select(ApiToken).where(ApiToken.person_id == employee.id))
    ask = requests.Ask(reason="renew the payment terms", record_id=record.id)
    pending = uow.run(db, requests.request_access, vault, db, Caller(person=employee), ask)
    granted = uow.run(db, requests.request_access, vault, db, Caller(person=employee), ask)
    uow.run(db, requests.approve, vault, db, Caller(person=custodian), granted.id)
    grant = db.scalar(select(Grant).where(Grant.request_id == granted.id))
    watched = make.person()
    watched.under_review = True
    note = uow.run(db, notifications.send, vault, db, employee, "test", "Hello", link="/grants")
    alert = uow.run(
        db, alerts.raise_alert, vault, db, Caller.operator(), "departing_access", employee, "knock"
    )
    db.commit()
    keeper = Caller(person=custodian)
    borrower = make.custodian()
    item = loans.add_item(
        vault, db, keeper, record.id, kind="folder", label="F1", location="Shelf A"
    )
    loaned = loans.add_item(
        vault, db, keeper, record.id, kind="folder", label="F2", location="Shelf A"
    )
    uow.run(
        db, loans.checkout, vault, db, keeper, loaned.id, borrower, pages=10, purpose="audit prep"
    )
    attachment = uow.run(
        db,
        records.attach,
        vault,
        db,
        Caller(person=custodian),
        record.id,
        filename="visit-note.txt",
        content_type="text/plain",
        stream=io.BytesIO(b"the visit went well"),
    )
    check = uow.run(db, checks.run_check, vault, db, Caller.operator(), "all", scan_files=False)
    ids = {
        "check": check.run.id,
        "record": record.id,
        "attachment": attachment.id,
        "client": record.client_id,
        "employee": employee.id,
        "token": token.id,
        "request": pending.id,
        "grant": grant.id,
        "under_review": watched.id,
        "item": item.id,
        "loaned": loaned.id,
        "borrower": borrower.email,
        "note": note.id,
        "alert": alert.id,
        "departing": departing.id,
        "proposal": uow.run(
            db,
            directory.propose_role,
            vault,
            db,
            Caller(person=admin),
            employee,
            "auditor",
            reason="joins the audit team",
        ).id,
    }
    browsers = {}
    for name, person in (
        ("employee", employee),
        ("custodian", custodian),
        ("auditor", auditor),
        ("admin", admin),
        ("admin2", admin2),
        ("departing", departing),
        ("disabled", disabled),
    ):
        browser = web.another()
        browser.sign_in(person)
        browsers[name] = browser
    # Setting a leaving date ends every session at once (tests/integration/test_sessions.py);
    # here the dates are written under live sessions, as if a session had survived, to
    # show that the policy refuses them all the same (defence in depth).
    departing.leaving_on = date.today() + timedelta(days=20)
    disabled.leaving_on = date.today()
    db.commit()
    return {"browsers": browsers, "ids": ids, "anonymous": web.another()}


def _request(browser: Browser, case: Case, ids: dict[str, int], *, csrf: bool = True):
    path = case.path.format(**ids)
    if case.method == "GET":
        return browser.get(path)
    data = {k: v.format(**ids) for k, v in case.data.items()}
    return browser.post(path, data, csrf=csrf)


def _check(cast, case: Case, vault) -> None:
    ids = cast["ids"]
    anonymous = cast["anonymous"]
    if case.allowed is None:
        resp = _request(anonymous, case, ids)
        assert resp.status_code == case.status, resp.get_data(as_text=True)[:300]
        return
    # Anonymous: pages send the browser to sign in; forms are refused outright.
    resp = _request(anonymous, case, ids, csrf=False)
    if case.method == "GET":
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/auth/login?next=")
    else:
        assert resp.status_code == 401 and error_code(resp) == "unauthenticated"
    # Denied: a page with the policy's reason; the refusal is in the audit log.
    denied = cast["browsers"][case.denied]
    before = len(events(vault, decision="deny"))
    resp = _request(denied, case, ids)
    assert resp.status_code == 403, (case.endpoint, resp.get_data(as_text=True)[:300])
    assert error_code(resp) == case.denied_code
    assert len(events(vault, decision="deny")) > before
    # Allowed.
    resp = _request(cast["browsers"][case.allowed], case, ids)
    assert resp.status_code == case.status, (case.endpoint, resp.get_data(as_text=True)[:500])
    if resp.mimetype == "text/html":
        title = re.search(r"<title>(.*?)</title>", resp.get_data(as_text=True), re.S)
        assert title is not None and "<" not in title.group(1), (case.endpoint, title)


# A page (GET) changes nothing another page's answer depends on: they share one cast, and
# every page's failure is listed. A form (POST) changes things: each gets a cast of its own.
PAGES = [c for c in CASES if c.method == "GET"]
FORMS = [c for c in CASES if c.method != "GET"]


def test_every_page_anonymous_denied_and_allowed(cast, vault):
    failed = {}
    for case in PAGES:
        try:
            _check(cast, case, vault)
        except AssertionError as exc:
            failed[case.endpoint] = str(exc)[:500]
    assert len(PAGES) > 20 and failed == {}


@pytest.mark.parametrize("case", FORMS, ids=lambda c: f"{c.method} {c.endpoint}")
def test_anonymous_denied_and_allowed(cast, case, vault):
    _check(cast, case, vault)
