"""Temporary access in the browser: ask with a reason, decide as a custodian, see time left.

Also the auditor's alerts and people under review, and everyone's notifications (the
links they carry, ``/requests/<id>``, ``/grants``, ``/alerts``, land on these pages).
Every decision is the service's (:mod:`vault.grants`; :mod:`vault.access` for the export
quota); the pages only ask and show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response

from vault.archive import records
from vault.db import utcnow
from vault.errors import InvalidInput, VaultError
from vault.grants import live, requests
from vault.models import AccessRequest, Alert, Client, Grant, Person, Record, RequestStatus
from vault.oversight import alerts as alerts_
from vault.oversight import notifications as notifications_
from vault.people import directory
from vault.policy import Action
from vault.web.api import parse
from vault.web.auth.redirects import safe_next
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui import nav
from vault.web.ui.blueprint import bp
from vault.web.ui.catalogue import page_number, page_size

nav.add("ui.my_requests", _l("My requests"), Action.REQUEST_READ, order=40)
nav.add("ui.my_grants", _l("My grants"), Action.GRANT_READ, order=50)
nav.add(
    "ui.waiting_requests", _l("Waiting for me"), Action.REQUEST_READ, when=nav.custodians, order=60
)
nav.add("ui.alerts", _l("Alerts"), Action.ALERT_READ, "audit", order=30)
nav.add("ui.notifications", _l("Notifications"), Action.NOTIFICATION_READ, order=90)

STATUSES = tuple(s.value for s in RequestStatus)


def _me() -> Person:
    person = caller().person
    assert person is not None  # the gate let only signed-in people through
    return person


def _left(expires_at: datetime, now: datetime) -> str:
    """Time left until ``expires_at``, in the reader's language."""
    return str(format_timedelta(expires_at - now, granularity="minute", threshold=1.2))


def _about(req: AccessRequest | Grant) -> dict[str, Any]:
    """What a request or grant is about: the client, and the record if it names one."""
    session = db()
    return {
        "client": session.get(Client, req.client_id),
        "record": session.get(Record, req.record_id) if req.record_id else None,
    }


# ---- asking -----------------------------------------------------------------------------


def _request_form(error: VaultError | None = None, status: int = 200) -> tuple[str, int]:
    form = request.form if request.method == "POST" else request.args
    record_id = parse.integer(form.get("record"), "record", required=False)
    client_id = parse.integer(form.get("client"), "client", required=False)
    record = records.get_record(db(), record_id) if record_id else None
    client = (
        record.client if record else (records.get_client(db(), client_id) if client_id else None)
    )
    if client is None:
        raise InvalidInput("name a record or a client file", code="invalid_request_target")
    return render_template(
        "grants/request_new.html",
        record=record,
        client=client,
        form=form,
        error=error,
        default_hours=vault().config.grant_default_hours,
        max_hours=vault().config.grant_max_hours,
    ), status


@route(
    bp,
    "/requests/new",
    action=Action.REQUEST_CREATE,
    summary="Ask for temporary access to a record or a client file",
)
def request_new() -> tuple[str, int]:
    return _request_form()


@route(
    bp,
    "/requests",
    action=Action.REQUEST_CREATE,
    methods=["POST"],
    summary="File an access request (a reason is required)",
)
def request_create() -> Response | tuple[str, int]:
    form = request.form
    try:
        ask = requests.Ask(
            reason=form.get("reason", "")[:1200],
            actions=tuple(form.getlist("actions")[:5]) or ("consult",),
            record_id=parse.integer(form.get("record"), "record", required=False),
            client_id=None
            if form.get("record")
            else parse.integer(form.get("client"), "client", required=False),
            duration_hours=parse.integer(
                form.get("hours"), "duration", required=False, lo=1, hi=10_000
            ),
        )
        req = requests.request_access(vault(), db(), caller(), ask)
    except VaultError as exc:
        refused(exc)
        return _request_form(exc, exc.status)
    flash(_("Request %(id)d filed; the custodians in charge have been told.", id=req.id), "ok")
    return redirect(url_for("ui.request_detail", request_id=req.id))


# ---- lists ------------------------------------------------------------------------------


def _status_filter() -> str | None:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidInput("unknown status", code="invalid_status")
    return status


def _request_rows(found: list[AccessRequest]) -> list[dict[str, Any]]:
    now = utcnow()
    session = db()
    return [
        {
            "req": r,
            "status": r.status_at(now),
            **_about(r),
            "requester": session.get(Person, r.requester_id),
        }
        for r in found
    ]


@route(bp, "/requests", action=Action.REQUEST_READ, summary="My access requests")
def my_requests() -> str:
    page, size = page_number(), page_size()
    found = requests.requests_for(
        db(),
        _me(),
        mine=True,
        status=_status_filter(),
        v=vault(),
        limit=size + 1,
        offset=(page - 1) * size,
    )
    return render_template(
        "grants/requests.html",
        rows=_request_rows(found[:size]),
        more=len(found) > size,
        page=page,
        waiting=False,
        statuses=STATUSES,
        status=request.args.get("status", ""),
    )


@route(
    bp,
    "/requests/waiting",
    action=Action.REQUEST_READ,
    summary="Requests in my custody scope, waiting for a decision",
)
def waiting_requests() -> str:
    page, size = page_number(), page_size()
    status = request.args.get("status", RequestStatus.PENDING.value)
    if status not in STATUSES:
        raise InvalidInput("unknown status", code="invalid_status")
    found = requests.requests_for(
        db(), _me(), mine=False, status=status, v=vault(), limit=size + 1, offset=(page - 1) * size
    )
    return render_template(
        "grants/requests.html",
        rows=_request_rows(found[:size]),
        more=len(found) > size,
        page=page,
        waiting=True,
        statuses=STATUSES,
        status=status,
    )


@route(
    bp,
    "/requests/<int:request_id>",
    action=Action.REQUEST_READ,
    summary="One access request: its reason, approvals and grant",
)
def request_detail(request_id: int) -> str:
    me = _me()
    req = requests.get_request(db(), me, request_id)
    session = db()
    grant = session.scalar(select(Grant).where(Grant.request_id == req.id))
    now = utcnow()
    approvers = [session.get(Person, a.approver_id) for a in req.approvals]
    return render_template(
        "grants/request.html",
        req=req,
        status=req.status_at(now),
        grant=grant,
        grant_status=grant.status_at(now) if grant else None,
        left=_left(grant.expires_at, now) if grant and grant.is_active(now) else None,
        requester=session.get(Person, req.requester_id),
        approvers=approvers,
        mine=req.requester_id == me.id,
        already=any(a.approver_id == me.id for a in req.approvals),
        **_about(req),
    )


# ---- deciding ---------------------------------------------------------------------------


def _decided(request_id: int, message: str) -> Response:
    flash(message, "ok")
    return redirect(url_for("ui.request_detail", request_id=request_id))


@route(
    bp,
    "/requests/<int:request_id>/approve",
    action=Action.REQUEST_APPROVE,
    methods=["POST"],
    summary="Approve a request (custodians in scope; never one's own)",
)
def request_approve(request_id: int) -> Response:
    req = requests.approve(vault(), db(), caller(), request_id, request.form.get("note", "")[:500])
    if req.status == RequestStatus.APPROVED:
        return _decided(request_id, _("Approved: the grant is issued."))
    return _decided(request_id, _("Approved: a second custodian must approve too."))


@route(
    bp,
    "/requests/<int:request_id>/deny",
    action=Action.REQUEST_DENY,
    methods=["POST"],
    summary="Turn a request down (custodians in scope)",
)
def request_deny(request_id: int) -> Response:
    requests.deny(vault(), db(), caller(), request_id, request.form.get("note", "")[:500])
    return _decided(request_id, _("The request was turned down."))


@route(
    bp,
    "/requests/<int:request_id>/withdraw",
    action=Action.REQUEST_WITHDRAW,
    methods=["POST"],
    summary="Withdraw my pending request",
)
def request_withdraw(request_id: int) -> Response:
    requests.withdraw(vault(), db(), caller(), request_id)
    return _decided(request_id, _("Your request was withdrawn."))


@route(bp, "/grants", action=Action.GRANT_READ, summary="My grants, with the time left")
def my_grants() -> str:
    page, size = page_number(), page_size()
    found = live.grants_of(db(), _me(), limit=size + 1, offset=(page - 1) * size)
    now = utcnow()
    rows = [
        {
            "grant": g,
            "status": g.status_at(now),
            **_about(g),
            "left": _left(g.expires_at, now) if g.is_active(now) else None,
        }
        for g in found[:size]
    ]
    return render_template("grants/grants.html", rows=rows, more=len(found) > size, page=page)


@route(
    bp,
    "/grants/<int:grant_id>/revoke",
    action=Action.GRANT_REVOKE,
    methods=["POST"],
    summary="End a grant now (custodians in scope, admins)",
)
def grant_revoke(grant_id: int) -> Response:
    grant = live.revoke(vault(), db(), caller(), grant_id, request.form.get("reason", "")[:200])
    return _decided(grant.request_id, _("The grant was revoked."))


# ---- alerts and notifications -------------------------------------------------------------


@route(
    bp,
    "/alerts",
    action=Action.ALERT_READ,
    summary="Open alerts and the people under review (auditors)",
)
def alerts() -> str:
    session = db()
    show_all = request.args.get("all") == "1"
    stmt = select(Alert).order_by(Alert.id.desc()).limit(page_size() * 4)
    if not show_all:
        stmt = stmt.where(Alert.cleared_at.is_(None))
    found = list(session.scalars(stmt))
    names = {
        p.id: p
        for p in session.scalars(
            select(Person).where(Person.id.in_({a.person_id for a in found if a.person_id}))
        )
    }
    under_review = list(
        session.scalars(select(Person).where(Person.under_review.is_(True)).order_by(Person.email))
    )
    return render_template(
        "grants/alerts.html",
        alerts=found,
        names=names,
        under_review=under_review,
        show_all=show_all,
    )


@route(
    bp,
    "/alerts/people/<int:person_id>/clear",
    action=Action.REVIEW_CLEAR,
    methods=["POST"],
    summary="Clear a person under review, with a note (auditors)",
)
def review_clear(person_id: int) -> Response:
    note = request.form.get("note", "").strip()[:500]
    if len(note) < 3:
        raise InvalidInput("say why the person is cleared", code="note_required")
    person = directory.get_person(db(), person_id)
    alerts_.clear_review(vault(), db(), caller(), person, note)
    flash(_("%(name)s is no longer under review.", name=person.name), "ok")
    return redirect(url_for("ui.alerts"))


@route(bp, "/notifications", action=Action.NOTIFICATION_READ, summary="My notifications")
def notifications() -> str:
    return render_template("grants/notifications.html", notes=notifications_.inbox(db(), _me()))


@route(
    bp,
    "/notifications/<int:note_id>/read",
    action=Action.NOTIFICATION_READ,
    methods=["POST"],
    summary="Mark a notification read, then follow its link",
)
def notification_read(note_id: int) -> Response:
    notifications_.mark_read(db(), _me(), note_id)
    return redirect(safe_next(request.form.get("next"), url_for("ui.notifications")))
