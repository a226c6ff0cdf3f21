"""The custodian's pages (保管): files in my care and their review, items, lending, overdue.

Every act is decided by the services against the record or client it touches
(:mod:`vault.custody.loans`, :mod:`vault.archive.file_reviews`, :mod:`vault.access` for
the borrower's side), so a page only shows forms and reports what the policy said.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from vault.archive import file_reviews
from vault.custody import loans as loans_
from vault.db import utcnow
from vault.errors import VaultError
from vault.models import Person, Record
from vault.people import directory
from vault.policy import Action
from vault.web.api import parse
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui import nav
from vault.web.ui.blueprint import bp
from vault.web.ui.catalogue import page_number, page_size, record_page

nav.add("ui.files_in_care", _l("Files in my care"), Action.CLIENT_REVIEW_DUE, order=70)
nav.add("ui.loans", _l("Loans"), Action.ITEM_READ, order=80)

ALL_FILES_DAYS = 36_500  # "due within a century": every file in scope, soonest due first


@route(
    bp,
    "/custody/files",
    action=Action.CLIENT_REVIEW_DUE,
    summary="Client files in my care by tier, their review dates and stale credit reports",
)
def files_in_care() -> str:
    today = date.today()
    files = file_reviews.due_for_review(vault(), db(), caller(), within_days=ALL_FILES_DAYS)
    stale = file_reviews.stale_credit_reports(vault(), db(), caller())
    tiers = file_reviews.tiers_in_scope(vault(), caller(), today)
    by_tier = {tier: [f for f in files if f.client.tier == tier] for tier in tiers}
    return render_template(
        "custody/files.html",
        by_tier=by_tier,
        stale=stale,
        due_count=sum(1 for f in files if f.days_overdue >= 0),
    )


@route(
    bp,
    "/custody/files/<int:client_id>/reviewed",
    action=Action.CLIENT_REVIEW,
    methods=["POST"],
    summary="Mark a client file reviewed (custodian in scope)",
)
def file_reviewed(client_id: int) -> Response:
    done = file_reviews.mark_reviewed(vault(), db(), caller(), client_id)
    flash(_("Review recorded at %(time)s UTC.", time=f"{done.reviewed_at:%Y-%m-%d %H:%M}"), "ok")
    return redirect(url_for("ui.files_in_care"))


# ---- loans ----------------------------------------------------------------------------


def _loan_rows(loans: list[Any]) -> list[dict[str, Any]]:
    session = db()
    now = utcnow()
    return [
        {
            "loan": loan,
            "record": session.get(Record, loan.record_id),
            "borrower": session.get(Person, loan.borrower_id),
            "overdue": loan.is_overdue(now),
            "renewable": loans_.renewable(loan),
        }
        for loan in loans
    ]


@route(
    bp,
    "/custody/loans",
    action=Action.ITEM_READ,
    summary="Items out on loan, soonest due first; overdue ones flagged",
)
def loans() -> str:
    overdue = request.args.get("overdue") == "1"
    page, size = page_number(), page_size()
    found = loans_.loans(
        vault(), db(), caller(), overdue_only=overdue, limit=size + 1, offset=(page - 1) * size
    )
    return render_template(
        "custody/loans.html",
        rows=_loan_rows(found[:size]),
        more=len(found) > size,
        page=page,
        overdue=overdue,
        conditions=loans_.Condition,
    )


def _back_to_record(record_id: int) -> Response:
    return redirect(url_for("ui.record_card", record_id=record_id) + "#items")


def _failed(exc: VaultError, record_id: int) -> tuple[str, int]:
    # The record card again, with the refusal and its code: the act did not happen.
    return record_page(record_id, exc, exc.status)


@route(
    bp,
    "/records/<int:record_id>/items",
    action=Action.ITEM_CREATE,
    methods=["POST"],
    summary="Register a physical folder or medium of a record, and where it is kept",
)
def item_add(record_id: int) -> Response | tuple[str, int]:
    form = request.form
    try:
        loans_.add_item(
            vault(),
            db(),
            caller(),
            record_id,
            kind=form.get("kind", ""),
            label=form.get("label", "")[:300],
            location=form.get("location", "")[:300],
        )
    except VaultError as exc:
        refused(exc)
        return _failed(exc, record_id)
    flash(_("The item was registered."), "ok")
    return _back_to_record(record_id)


@route(
    bp,
    "/custody/items/<int:item_id>/checkout",
    action=Action.ITEM_CHECKOUT,
    methods=["POST"],
    summary="Lend an item (custodian in scope; the borrower is decided too)",
)
def item_checkout(item_id: int) -> Response | tuple[str, int]:
    item = loans_.get_item(db(), item_id)
    form = request.form
    try:
        borrower = directory.get_by_email(db(), form.get("borrower", "")[:254])
        loan = loans_.checkout(
            vault(),
            db(),
            caller(),
            item_id,
            borrower,
            pages=parse.integer(form.get("pages"), "pages", hi=loans_.MAX_PAGES) or 0,
            purpose=form.get("purpose", "")[:600],
            days=parse.integer(form.get("days"), "days", required=False, lo=0, hi=10_000),
        )
    except VaultError as exc:
        refused(exc)
        return _failed(exc, item.record_id)
    flash(
        _("Lent to %(name)s until %(due)s UTC.", name=borrower.name, due=f"{loan.due_at:%Y-%m-%d}"),
        "ok",
    )
    return _back_to_record(item.record_id)


@route(
    bp,
    "/custody/items/<int:item_id>/checkin",
    action=Action.ITEM_CHECKIN,
    methods=["POST"],
    summary="Take an item back: pages, condition, where it goes",
)
def item_checkin(item_id: int) -> Response:
    form = request.form
    loan = loans_.checkin(
        vault(),
        db(),
        caller(),
        item_id,
        pages=parse.integer(form.get("pages"), "pages", hi=loans_.MAX_PAGES) or 0,
        condition=form.get("condition", ""),
        location=(form.get("location") or "").strip()[:200] or None,
    )
    if loan.pages_mismatch:
        flash(
            _(
                "Returned, but with %(in)d pages instead of %(out)d: the difference is flagged.",
                **{"in": loan.pages_in or 0, "out": loan.pages_out},
            ),
            "error",
        )
    else:
        flash(_("Returned and put back."), "ok")
    return redirect(url_for("ui.loans"))


@route(
    bp,
    "/custody/items/<int:item_id>/renew",
    action=Action.ITEM_RENEW,
    methods=["POST"],
    summary="Extend a loan once (not while someone else waits for the item)",
)
def item_renew(item_id: int) -> Response:
    loan = loans_.renew(
        vault(),
        db(),
        caller(),
        item_id,
        days=parse.integer(request.form.get("days"), "days", required=False, lo=0, hi=10_000),
    )
    flash(_("Renewed until %(due)s UTC.", due=f"{loan.due_at:%Y-%m-%d}"), "ok")
    return redirect(url_for("ui.loans"))
