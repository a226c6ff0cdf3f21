"""The catalogue (编目/检索): search, a record's card, the client list, and deposit (收集).

Everything here is metadata: titles, numbers, dates. Content is sealed at deposit and
only the reading room (through :mod:`vault.access`) ever opens it.
"""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from vault import access
from vault.appraisal import checks, disposal, holds, retention
from vault.archive import lookups, records
from vault.custody import loans
from vault.errors import InvalidInput, VaultError
from vault.models import Item
from vault.oversight import pages
from vault.people import directory
from vault.policy import Action
from vault.web.api import parse
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui.blueprint import bp

PAGE_SIZE = 25
MAX_QUERY = 200


def page_size() -> int:
    """Rows per page: never above the vault's hard cap."""
    return min(PAGE_SIZE, vault().config.page_size_max)


def page_number() -> int:
    """The ``page`` query value (1 to 10,000)."""
    return parse.integer(request.args.get("page"), "page", required=False, lo=1, hi=10_000) or 1


def _clients() -> list[records.Client]:
    return records.find_clients(vault(), db(), limit=vault().config.page_size_max)


@route(
    bp,
    "/catalogue",
    action=Action.RECORD_READ,
    summary="Search the record catalogue (metadata only, paginated)",
    writes=True,
)
def catalogue() -> tuple[str, int]:
    args = request.args
    filters = {
        "q": (args.get("q") or "")[:MAX_QUERY],
        "client": args.get("client") or "",
        "section": args.get("section") or "",
        "year": args.get("year") or "",
    }
    found: list[records.Record] = []
    error: VaultError | None = None
    page, size = 1, page_size()
    try:
        page = page_number()
        pages.read_page(vault(), db(), caller(), Action.RECORD_READ, offset=(page - 1) * size)
        found = records.list_records(
            db(),
            client_id=parse.integer(filters["client"], "client_id", required=False),
            section=filters["section"] or None,
            year=parse.integer(filters["year"], "year", required=False, lo=1900, hi=9999),
            q=filters["q"] or None,
            limit=size + 1,
            offset=(page - 1) * size,
        )
    except VaultError as exc:
        refused(exc)
        error = exc
    return render_template(
        "ui/catalogue.html",
        records=found[:size],
        held=holds.held_ids(db(), found[:size]),
        more=len(found) > size,
        page=page,
        filters=filters,
        clients=_clients(),
        error=error,
    ), (error.status if error else 200)


@route(
    bp, "/clients", action=Action.CLIENT_READ, summary="The client list (paginated)", writes=True
)
def clients() -> str:
    q = (request.args.get("q") or "")[:MAX_QUERY]
    page, size = page_number(), page_size()
    pages.read_page(vault(), db(), caller(), Action.CLIENT_READ, offset=(page - 1) * size)
    found = records.find_clients(
        vault(), db(), q=q or None, limit=size + 1, offset=(page - 1) * size
    )
    return render_template(
        "ui/clients.html",
        clients=found[:size],
        more=len(found) > size,
        page=page,
        q=q,
        can_lookup=_can_lookup(),
    )


def _can_lookup() -> bool:
    """Whether to offer the lookup form: custody in effect in some tier (the act decides)."""
    return access.effective_custodian(vault(), caller(), None, date.today())


@route(
    bp,
    "/clients/lookup",
    action=Action.CLIENT_LOOKUP,
    methods=["POST"],
    summary="Find a client by tax id or bank account (custodians; audited, counted)",
)
def client_lookup() -> tuple[str, int]:
    form = request.form
    by = form.get("by") or ""
    found: list[records.Client] | None = None
    error: VaultError | None = None
    try:
        found = lookups.lookup_clients(
            vault(), db(), caller(), by=by, value=(form.get("value") or "")[:100]
        )
    except VaultError as exc:
        refused(exc)
        error = exc
    # The value is never echoed back: not in the form, not in a link.
    return render_template(
        "ui/clients.html",
        clients=found or [],
        looked_up=by if error is None else None,
        more=False,
        page=1,
        q="",
        can_lookup=True,
        error=error,
    ), (error.status if error else 200)


@route(
    bp, "/records/<int:record_id>", action=Action.RECORD_READ, summary="A record's catalogue card"
)
def record_card(record_id: int) -> tuple[str, int]:
    return record_page(record_id)


def record_page(
    record_id: int, error: VaultError | None = None, status: int = 200
) -> tuple[str, int]:
    """A record's card (with its items and their loans), and a refusal if one happened."""
    session = db()
    record = records.get_record(session, record_id)
    depositor = None
    if record.deposited_by_id:
        depositor = directory.get_person(session, record.deposited_by_id)
    items = list(session.scalars(select(Item).where(Item.record_id == record_id).order_by(Item.id)))
    return render_template(
        "ui/record.html",
        record=record,
        depositor=depositor,
        attachments=records.attachments_of(session, record_id),
        items=[(item, loans.open_loan(session, item.id)) for item in items],
        item_kinds=loans.ITEM_KINDS,
        findings=checks.open_findings(session, record_id),
        error=error,
        retention=retention.retention_for(vault(), session, record),
        holds=holds.holds_on(session, record),
        disposal=disposal.how_disposed(session, record),
    ), status


def _deposit_form(error: VaultError | None = None, status: int = 200) -> tuple[str, int]:
    form = request.form if request.method == "POST" else request.args
    return render_template("ui/deposit.html", clients=_clients(), form=form, error=error), status


@route(bp, "/deposit", action=Action.RECORD_DEPOSIT, summary="The deposit form")
def deposit_form() -> tuple[str, int]:
    return _deposit_form()


@route(
    bp,
    "/deposit",
    action=Action.RECORD_DEPOSIT,
    methods=["POST"],
    summary="Deposit a record (the depositor cannot read it back)",
)
def deposit() -> Response | tuple[str, int]:
    form = request.form
    upload = request.files.get("file")
    try:
        text = form.get("content", "")
        if not text and (upload is None or not upload.filename):
            raise InvalidInput("write the content or attach a file", code="missing_content")
        record = records.deposit(
            vault(),
            db(),
            caller(),
            records.Deposit(
                client_id=parse.integer(form.get("client_id"), "client_id") or 0,
                section=form.get("section") or "",
                title=form.get("title", "")[:400],
                content=text.encode("utf-8"),
                year=parse.integer(form.get("year"), "year", required=False, lo=1900, hi=9999),
                doc_type=form.get("doc_type", "")[:64],
                doc_date=parse.day(form.get("doc_date"), "doc_date"),
                valid_until=parse.day(form.get("valid_until"), "valid_until"),
            ),
        )
        if upload is not None and upload.filename:
            records.attach(
                vault(),
                db(),
                caller(),
                record.id,
                filename=upload.filename,
                content_type=upload.mimetype or "application/octet-stream",
                stream=upload.stream,
            )
    except VaultError as exc:
        refused(exc)
        return _deposit_form(exc, exc.status)
    flash(
        _(
            "Filed as %(number)s. Like everyone else, you need a grant to read it.",
            number=record.file_number,
        ),
        "ok",
    )
    return redirect(url_for("ui.record_card", record_id=record.id))
