"""The administrator's pages: people, designations, departures, tokens and key status.

Administrators manage people, never content: nothing here opens a record, and no
admin can designate themselves or give themselves access. Designations, hire dates,
roles and taking back or postponing a leaving date are proposed here and take effect
when a second admin approves them (``vault.web.ui.proposals``). Admins list and revoke
a person's API tokens and end their sessions, but never see or create a usable token
for anyone (people create their own, :mod:`vault.web.ui.profile`).
"""

from __future__ import annotations

import io
from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from vault import csvout, proposals
from vault.caller import Caller
from vault.config import TIERS
from vault.db import utcnow
from vault.errors import InvalidInput, VaultError
from vault.identity import accounts, sessions, tokens
from vault.keys import status as status_
from vault.models import Person, Proposal
from vault.people import departures, directory
from vault.people import designations as designations_
from vault.policy import Action
from vault.web.api import parse
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui import labels
from vault.web.ui.blueprint import bp
from vault.web.ui.catalogue import MAX_QUERY, page_number, page_size

ROLE_CHOICES = ("auditor", "admin")


@route(bp, "/admin/people", action=Action.PERSON_READ, summary="People (paginated)")
def people_list() -> str:
    q = (request.args.get("q") or "")[:MAX_QUERY]
    page, size = page_number(), page_size()
    found = directory.list_people(db(), q=q or None, limit=size + 1, offset=(page - 1) * size)
    return render_template(
        "admin/people.html", people=found[:size], more=len(found) > size, page=page, q=q
    )


def _new_person_form(error: VaultError | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "admin/person_new.html", form=request.form, error=error, role_choices=ROLE_CHOICES
    ), status


@route(bp, "/admin/people/new", action=Action.PERSON_CREATE, summary="The form to add a person")
def person_new_form() -> tuple[str, int]:
    return _new_person_form()


@route(
    bp, "/admin/people/new", action=Action.PERSON_CREATE, methods=["POST"], summary="Add a person"
)
def person_new() -> Response | tuple[str, int]:
    form = request.form
    try:
        hired_on = parse.day(form.get("hired_on"), "hired_on")
        if hired_on is None:
            raise InvalidInput("the hire date is required", code="invalid_hired_on")
        roles = ["employee", *(r for r in form.getlist("roles") if r in ROLE_CHOICES)]
        person = directory.add_person(
            vault(),
            db(),
            caller(),
            email=form.get("email", "")[:254],
            name=form.get("name", "")[:200],
            hired_on=hired_on,
            roles=roles,
        )
    except VaultError as exc:
        refused(exc)
        return _new_person_form(exc, exc.status)
    flash(
        _(
            "%(email)s was added. The hire date (and any admin or auditor role) counts once "
            "a second administrator approves it.",
            email=person.email,
        ),
        "ok",
    )
    return redirect(url_for("ui.person_detail", person_id=person.id))


def _person_page(
    person: Person, *, error: VaultError | None = None, status: int = 200
) -> tuple[str, int]:
    session = db()
    return render_template(
        "admin/person.html",
        person=person,
        error=error,
        tiers=TIERS,
        tokens=tokens.tokens_of(session, person),
        sessions=sessions.live_sessions(vault(), session, person),
        has_password=accounts.has_password(session, person),
        has_totp=accounts.has_totp(session, person),
        tenure_years=Caller(person=person).principal(date.today()).tenure_days(date.today())
        / 365.25,
        waiting=proposals.pending(session, subject=person),
        describe=labels.proposal_line,
        role_choices=ROLE_CHOICES,
    ), status


def _proposed(person: Person, proposal: Proposal) -> Response:
    flash(
        _(
            "Proposed (no. %(id)d): it takes effect when a second administrator approves it.",
            id=proposal.id,
        ),
        "ok",
    )
    return redirect(url_for("ui.person_detail", person_id=person.id))


@route(
    bp,
    "/admin/people/<int:person_id>",
    action=Action.PERSON_READ,
    summary="A person: roles, designations, tokens (never their values), sessions",
)
def person_detail(person_id: int) -> tuple[str, int]:
    return _person_page(directory.get_person(db(), person_id))


@route(
    bp,
    "/admin/people/<int:person_id>/designations",
    action=Action.DESIGNATION_CREATE,
    methods=["POST"],
    summary="Propose a person custodian for client tiers (a second admin approves)",
)
def designate(person_id: int) -> Response | tuple[str, int]:
    person = directory.get_person(db(), person_id)
    try:
        p = designations_.designate(
            vault(),
            db(),
            caller(),
            person,
            request.form.getlist("tiers"),
            reason=request.form.get("reason", "")[:600],
        )
    except VaultError as exc:
        refused(exc)
        return _person_page(person, error=exc, status=exc.status)
    return _proposed(person, p)


@route(
    bp,
    "/admin/people/<int:person_id>/hire-date",
    action=Action.PERSON_HIRE_DATE,
    methods=["POST"],
    summary="Propose a new hire date (a second admin approves)",
)
def hire_date(person_id: int) -> Response | tuple[str, int]:
    person = directory.get_person(db(), person_id)
    try:
        day = parse.day(request.form.get("hired_on"), "hired_on")
        if day is None:
            raise InvalidInput("the hire date is required", code="invalid_hired_on")
        p = directory.propose_hire_date(
            vault(), db(), caller(), person, day, reason=request.form.get("reason", "")[:600]
        )
    except VaultError as exc:
        refused(exc)
        return _person_page(person, error=exc, status=exc.status)
    return _proposed(person, p)


@route(
    bp,
    "/admin/people/<int:person_id>/roles",
    action=Action.ROLE_GRANT,
    methods=["POST"],
    summary="Propose giving the admin or auditor role (a second admin approves)",
)
def grant_role(person_id: int) -> Response | tuple[str, int]:
    person = directory.get_person(db(), person_id)
    try:
        p = directory.propose_role(
            vault(),
            db(),
            caller(),
            person,
            request.form.get("role", "")[:16],
            reason=request.form.get("reason", "")[:600],
        )
    except VaultError as exc:
        refused(exc)
        return _person_page(person, error=exc, status=exc.status)
    return _proposed(person, p)


@route(
    bp,
    "/admin/people/<int:person_id>/departure/change",
    action=Action.DEPARTURE_CHANGE,
    methods=["POST"],
    summary="Propose taking back or postponing a leaving date (a second admin approves)",
)
def departure_change(person_id: int) -> Response | tuple[str, int]:
    person = directory.get_person(db(), person_id)
    reason = request.form.get("reason", "")[:600]
    try:
        later = parse.day(request.form.get("leaving_on") or None, "leaving_on")
        if later is None:
            p = departures.propose_withdrawal(vault(), db(), caller(), person, reason=reason)
        else:
            p = departures.propose_postponement(
                vault(), db(), caller(), person, later, reason=reason
            )
    except VaultError as exc:
        refused(exc)
        return _person_page(person, error=exc, status=exc.status)
    return _proposed(person, p)


@route(
    bp,
    "/admin/tokens/<int:token_id>/revoke",
    action=Action.TOKEN_REVOKE,
    methods=["POST"],
    summary="Revoke a bearer token",
)
def token_revoke(token_id: int) -> Response:
    row = tokens.revoke_token(vault(), db(), caller(), token_id)
    flash(_("The token was revoked."), "ok")
    return redirect(url_for("ui.person_detail", person_id=row.person_id))


@route(
    bp,
    "/admin/people/<int:person_id>/sessions/revoke",
    action=Action.SESSION_REVOKE,
    methods=["POST"],
    summary="End every browser session of a person",
)
def sessions_revoke(person_id: int) -> Response:
    person = directory.get_person(db(), person_id)
    ended = sessions.revoke_sessions(vault(), db(), caller(), person)
    flash(_("%(count)d sessions were ended.", count=ended), "ok")
    return redirect(url_for("ui.person_detail", person_id=person.id))


@route(
    bp,
    "/admin/people/<int:person_id>/departure",
    action=Action.PERSON_DEPART,
    methods=["POST"],
    summary="Set a person's leaving date (ends their access now)",
)
def departure(person_id: int) -> Response | tuple[str, int]:
    person = directory.get_person(db(), person_id)
    try:
        day = parse.day(request.form.get("leaving_on"), "leaving_on")
        if day is None:
            raise InvalidInput("the leaving date is required", code="invalid_leaving_on")
        revoked = departures.set_departure(vault(), db(), caller(), person, day)
    except VaultError as exc:
        refused(exc)
        return _person_page(person, error=exc, status=exc.status)
    flash(_("Leaving date set; %(count)d grants revoked. Access has ended.", count=revoked), "ok")
    return redirect(url_for("ui.person_detail", person_id=person.id))


@route(
    bp,
    "/admin/people/<int:person_id>/departure-report",
    action=Action.DEPARTURE_REPORT,
    summary="What a departing person touched lately (records and clients)",
)
def departure_report(person_id: int) -> str:
    person = directory.get_person(db(), person_id)
    touches = departures.departure_report(vault(), db(), caller(), person)
    return render_template(
        "admin/departure_report.html",
        person=person,
        touches=touches,
        pages_read=departures.pages_read(vault(), db(), caller(), person),
        days=vault().config.departure_report_days,
    )


@route(
    bp,
    "/admin/people/<int:person_id>/departure-report.csv",
    action=Action.DEPARTURE_REPORT,
    summary="The departure report as CSV (recorded before the first row leaves)",
)
def departure_report_csv(person_id: int) -> Response:
    person = directory.get_person(db(), person_id)
    touches = departures.departure_report(vault(), db(), caller(), person, export="csv")
    read = departures.pages_read(vault(), db(), caller(), person)
    out = io.StringIO()
    writer = csvout.writer(out)
    writer.writerow(departures.CSV_COLUMNS)
    writer.writerows(departures.csv_rows(touches, read))
    name = f"departure-{person.id}-{utcnow():%Y%m%d}.csv"
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM, so spreadsheets read the Chinese correctly
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@route(
    bp, "/admin/designations", action=Action.PERSON_READ, summary="Custodian designations in force"
)
def designations() -> str:
    return render_template(
        "admin/designations.html",
        designations=designations_.designations(db(), limit=page_size() * 4),
    )


@route(bp, "/admin/keys", action=Action.KEY_STATUS, summary="Key provider status")
def keys() -> str:
    return render_template(
        "admin/keys.html", status=status_.provider_status(vault(), db(), caller())
    )
