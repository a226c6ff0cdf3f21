"""The appraisal pages (鉴定): what is due for disposal, batches, legal holds, the schedule.

Every act is decided by the services (:mod:`vault.appraisal`); a page shows the forms and
what the policy said. Nothing here shows content: disposal lists are metadata only.
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as Redirect

from vault.appraisal import disposal, holds, retention
from vault.errors import InvalidInput, VaultError
from vault.models import Person
from vault.policy import Action
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui import nav
from vault.web.ui.blueprint import bp

nav.add("ui.disposal_page", _l("Disposal"), Action.DISPOSAL_READ, order=85)


def _ids(text: str) -> list[int]:
    out = []
    for part in text.replace(",", " ").split():
        if not part.isdigit() or len(part) > 9:
            raise InvalidInput("record numbers are whole numbers", code="invalid_record_ids")
        out.append(int(part))
    return out


def _page(error: VaultError | None = None) -> tuple[str, int]:
    session = db()
    due = disposal.due(vault(), session, caller(), limit=200)
    batches = disposal.batches(vault(), session, caller(), limit=50)
    people = {
        p.id: p
        for p in session.query(Person).filter(
            Person.id.in_(
                {b.proposed_by_id for b in batches}
                | {b.admin_approved_by_id for b in batches if b.admin_approved_by_id}
                | {b.custodian_approved_by_id for b in batches if b.custodian_approved_by_id}
            )
        )
    }
    return render_template(
        "appraisal/disposal.html",
        due=due,
        batches=[(b, disposal.items(session, b)) for b in batches],
        holds=holds.listing(vault(), session, caller()),
        people=people,
        error=error,
    ), (error.status if error else 200)


@route(
    bp,
    "/disposal",
    action=Action.DISPOSAL_READ,
    summary="Records due for disposal, disposal batches and legal holds (metadata only)",
)
def disposal_page() -> tuple[str, int]:
    return _page()


def _act(fn, done: str) -> Redirect | tuple[str, int]:
    try:
        fn()
    except VaultError as exc:
        refused(exc)
        return _page(exc)
    flash(done, "ok")
    return redirect(url_for("ui.disposal_page"))


@route(
    bp,
    "/disposal/batches",
    action=Action.DISPOSAL_PROPOSE,
    methods=["POST"],
    summary="Propose a disposal batch of the records ticked (custodian of their tiers)",
)
def batch_propose() -> Redirect | tuple[str, int]:
    form = request.form

    def go() -> None:
        ids = [int(i) for i in form.getlist("record_id") if i.isdigit() and len(i) < 10]
        disposal.propose(vault(), db(), caller(), ids, form.get("reason", "")[:600])

    return _act(go, _("Disposal batch proposed: it waits for approval."))


def _decide(batch_id: int, how: str) -> Redirect | tuple[str, int]:
    note = request.form.get("note", "")[:600]

    def go() -> None:
        if how == "approve":
            disposal.approve(vault(), db(), caller(), batch_id, note)
        elif how == "countersign":
            disposal.countersign(vault(), db(), caller(), batch_id, note)
        else:
            disposal.reject(vault(), db(), caller(), batch_id, note)

    return _act(go, _("Decision recorded for batch No. %(id)d.", id=batch_id))


@route(
    bp,
    "/disposal/batches/<int:batch_id>/approve",
    action=Action.DISPOSAL_APPROVE,
    methods=["POST"],
    summary="Approve a disposal batch (an admin, not its proposer)",
)
def batch_approve(batch_id: int) -> Redirect | tuple[str, int]:
    return _decide(batch_id, "approve")


@route(
    bp,
    "/disposal/batches/<int:batch_id>/countersign",
    action=Action.DISPOSAL_COUNTERSIGN,
    methods=["POST"],
    summary="Countersign a batch with core records (a second custodian)",
)
def batch_countersign(batch_id: int) -> Redirect | tuple[str, int]:
    return _decide(batch_id, "countersign")


@route(
    bp,
    "/disposal/batches/<int:batch_id>/reject",
    action=Action.DISPOSAL_REJECT,
    methods=["POST"],
    summary="Turn a disposal batch down (an admin, with a note)",
)
def batch_reject(batch_id: int) -> Redirect | tuple[str, int]:
    return _decide(batch_id, "reject")


@route(
    bp,
    "/disposal/batches/<int:batch_id>/certificate",
    action=Action.DISPOSAL_READ,
    summary="The signed destruction certificate of a batch (PDF)",
)
def batch_certificate(batch_id: int) -> Response:
    cert = disposal.certificate(vault(), db(), caller(), batch_id)
    return Response(
        cert.pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="destruction-certificate-{batch_id}.pdf"'
        },
    )


@route(
    bp,
    "/holds",
    action=Action.HOLD_PLACE,
    methods=["POST"],
    summary="Place a legal hold on a client's file or on records (custodian, admin)",
)
def hold_place() -> Redirect | tuple[str, int]:
    form = request.form

    def go() -> None:
        client = form.get("client_id", "").strip()
        holds.place(
            vault(),
            db(),
            caller(),
            reason=form.get("reason", "")[:600],
            client_id=int(client) if client.isdigit() and len(client) < 10 else None,
            record_ids=_ids(form.get("record_ids", "")[:20_000]),
        )

    return _act(go, _("Legal hold placed."))


@route(
    bp,
    "/holds/<int:hold_id>/lift",
    action=Action.HOLD_LIFT,
    methods=["POST"],
    summary="Propose lifting a legal hold (a second admin approves)",
)
def hold_lift(hold_id: int) -> Redirect | tuple[str, int]:
    reason = request.form.get("reason", "")[:600]

    def go() -> None:
        holds.propose_lift(vault(), db(), caller(), hold_id, reason)

    return _act(go, _("Lifting proposed: a second administrator approves it under Proposals."))


@route(
    bp,
    "/retention",
    action=Action.RETENTION_READ,
    summary="The retention schedule in force (auditors, admins, custodians)",
)
def retention_page() -> str:
    return render_template("appraisal/schedule.html", got=retention.read(vault(), db(), caller()))


@route(
    bp,
    "/retention",
    action=Action.RETENTION_LOAD,
    methods=["POST"],
    summary="Propose a new retention schedule (TOML; a second admin approves)",
)
def retention_propose() -> Redirect | tuple[str, int]:
    form = request.form
    try:
        retention.propose(
            vault(),
            db(),
            caller(),
            form.get("text", "")[: retention.MAX_SCHEDULE_CHARS + 1],
            form.get("reason", "")[:600],
        )
    except VaultError as exc:
        refused(exc)
        got = retention.read(vault(), db(), caller())
        return render_template("appraisal/schedule.html", got=got, error=exc), exc.status
    flash(_("Schedule proposed: a second administrator approves it under Proposals."), "ok")
    return redirect(url_for("ui.retention_page"))


@route(
    bp,
    "/disposal/relationship-end",
    action=Action.CLIENT_END,
    methods=["POST"],
    summary="Record that a client relationship ended (custodian of its tier)",
)
def relationship_end() -> Redirect | tuple[str, int]:
    from vault.web.api import parse

    def go() -> None:
        client_id = parse.integer(request.form.get("client", "")[:12], "client") or 0
        day = parse.day(request.form.get("ended_on", "")[:20], "ended_on")
        if day is None:
            raise InvalidInput("give the day the relationship ended", code="invalid_ended_on")
        retention.end_relationship(vault(), db(), caller(), client_id, day)

    return _act(go, _("The end of the relationship is recorded; disposal dates follow."))
