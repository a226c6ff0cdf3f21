"""The two-person rule's page: proposals waiting for a second admin, approve or reject.

Who may decide is the policy's answer (the proposer and the person the act is about
are refused by Cedar forbids); the page shows the refusal like any other.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from vault import proposals
from vault.db import utcnow
from vault.errors import VaultError
from vault.models import Person
from vault.policy import Action
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui import labels
from vault.web.ui.blueprint import bp


def _page(error: VaultError | None = None, status: int = 200) -> tuple[str, int]:
    session = db()
    waiting = proposals.pending(session)
    decided = [p for p in proposals.listing(session, limit=50) if p.status != "pending"]
    ids = {
        i
        for p in [*waiting, *decided]
        for i in (p.subject_id, p.proposed_by_id, p.decided_by_id)
        if i is not None
    }
    people = {p.id: p for p in (session.get(Person, i) for i in ids) if p is not None}
    return render_template(
        "admin/proposals.html",
        waiting=waiting,
        decided=decided,
        people=people,
        describe=labels.proposal_line,
        now=utcnow(),
        error=error,
    ), status


@route(
    bp,
    "/admin/proposals",
    action=Action.PROPOSAL_READ,
    summary="Proposals waiting for a second admin",
)
def proposals_page() -> tuple[str, int]:
    return _page()


@route(
    bp,
    "/admin/proposals/<int:proposal_id>/approve",
    action=Action.PROPOSAL_APPROVE,
    methods=["POST"],
    summary="Approve a proposal as the second admin (it takes effect now)",
)
def proposal_approve(proposal_id: int) -> Response | tuple[str, int]:
    try:
        found = proposals.get(db(), proposal_id)
        proposals.approve(vault(), db(), caller(), found, request.form.get("note", "")[:600])
    except VaultError as exc:
        refused(exc)
        return _page(exc, exc.status)
    flash(_("Approved: it is in force now."), "ok")
    return redirect(url_for("ui.proposals_page"))


@route(
    bp,
    "/admin/proposals/<int:proposal_id>/reject",
    action=Action.PROPOSAL_REJECT,
    methods=["POST"],
    summary="Turn a proposal down (with a note)",
)
def proposal_reject(proposal_id: int) -> Response | tuple[str, int]:
    try:
        found = proposals.get(db(), proposal_id)
        proposals.reject(vault(), db(), caller(), found, request.form.get("note", "")[:600])
    except VaultError as exc:
        refused(exc)
        return _page(exc, exc.status)
    flash(_("Turned down: nothing of it happens."), "ok")
    return redirect(url_for("ui.proposals_page"))
