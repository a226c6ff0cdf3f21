"""Proposals under the two-person rule: propose (202), list, approve, reject, withdraw.

An act that creates access or changes who someone is answers ``202 Accepted`` with the
proposal it opened; it takes effect when a second admin approves it here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vault import proposals
from vault.db import utcnow
from vault.governance import site_policy
from vault.keys import audit_rotation, retirement  # noqa: F401 - registers its kind
from vault.models import Person, Proposal
from vault.people import departures, designations, directory
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Body, Day, LimitQuery, Reply, Tier, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import route

Reason = Field(min_length=1, max_length=500, description="why (audited)")


class ProposalReply(Reply):
    """A proposal: what it would do, about whom, why, who proposed it, where it stands."""

    id: int
    kind: str
    status: Literal["pending", "approved", "rejected", "expired", "withdrawn"]
    subject_id: int | None
    summary: str
    payload: dict[str, object]
    reason: str
    proposed_by: int | None
    created_at: Timestamp
    expires_at: Timestamp
    decided_by: int | None
    decided_at: Timestamp | None
    decision_note: str


def _reply(p: Proposal) -> ProposalReply:
    return ProposalReply(
        id=p.id,
        kind=p.kind,
        status=p.shown_status(utcnow()),  # type: ignore[arg-type]
        subject_id=p.subject_id,
        summary=proposals.describe(p),
        payload=p.payload,
        reason=p.reason,
        proposed_by=p.proposed_by_id,
        created_at=p.created_at.isoformat(),
        expires_at=p.expires_at.isoformat(),
        decided_by=p.decided_by_id,
        decided_at=p.decided_at.isoformat() if p.decided_at else None,
        decision_note=p.decision_note,
    )


class ProposalList(Reply):
    """Proposals, newest first."""

    proposals: list[ProposalReply]


class ProposalQuery(LimitQuery):
    """Which proposals: those waiting (default) or of one status."""

    status: Literal["pending", "approved", "rejected", "expired", "withdrawn"] = "pending"


class NoteBody(Body):
    """A note kept with the decision."""

    note: str = Field("", max_length=500)


class RejectBody(Body):
    """Why the proposal is turned down."""

    note: str = Field(min_length=1, max_length=500)


class DesignationBody(Body):
    """The tiers proposed, and why."""

    tiers: list[Tier] = Field(min_length=1, max_length=3)
    reason: str = Reason


class HireDateBody(Body):
    """The hire date proposed, and why."""

    hired_on: Day
    reason: str = Reason


class RoleBody(Body):
    """The role proposed, and why."""

    role: Literal["admin", "auditor"]
    reason: str = Reason


class ReasonBody(Body):
    """Why."""

    reason: str = Reason


class PostponeBody(Body):
    """The later leaving date, and why."""

    leaving_on: Day
    reason: str = Reason


class PersonBody(Body):
    """A new person: their hire date and any admin or auditor role await a second admin."""

    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    hired_on: Day
    roles: list[Literal["employee", "auditor", "admin"]] = Field(["employee"], max_length=3)


class PersonCreated(Reply):
    """The person as created, and what waits for a second admin."""

    id: int
    email: str
    roles: list[str]
    hire_date_confirmed: bool
    proposals: list[ProposalReply]


def _person(person_id: int) -> Person:
    return directory.get_person(db(), person_id)


@route(
    bp,
    "/proposals",
    action=Action.PROPOSAL_READ,
    summary="Proposals (default: those waiting for a second admin)",
    query=ProposalQuery,
    responses={200: ProposalList},
)
def proposal_list(query: ProposalQuery) -> ProposalList:
    session = db()
    if query.status == "pending":
        found = proposals.pending(session, limit=query.limit)
    else:
        found = proposals.listing(session, status=query.status, limit=query.limit)
    return ProposalList(proposals=[_reply(p) for p in found])


@route(
    bp,
    "/proposals/<int:proposal_id>",
    action=Action.PROPOSAL_READ,
    summary="One proposal",
    responses={200: ProposalReply},
)
def proposal_show(proposal_id: int) -> ProposalReply:
    return _reply(proposals.get(db(), proposal_id))


@route(
    bp,
    "/proposals/<int:proposal_id>/approve",
    action=Action.PROPOSAL_APPROVE,
    methods=["POST"],
    summary="Approve as the second admin (not the proposer, not the subject): in force now",
    body=NoteBody,
    responses={200: ProposalReply},
)
def proposal_approve(proposal_id: int, body: NoteBody) -> ProposalReply:
    found = proposals.get(db(), proposal_id)
    return _reply(proposals.approve(vault(), db(), caller(), found, body.note))


@route(
    bp,
    "/proposals/<int:proposal_id>/reject",
    action=Action.PROPOSAL_REJECT,
    methods=["POST"],
    summary="Turn a proposal down (with a note): nothing of it happens",
    body=RejectBody,
    responses={200: ProposalReply},
)
def proposal_reject(proposal_id: int, body: RejectBody) -> ProposalReply:
    found = proposals.get(db(), proposal_id)
    return _reply(proposals.reject(vault(), db(), caller(), found, body.note))


@route(
    bp,
    "/proposals/<int:proposal_id>/withdraw",
    action=Action.PROPOSAL_WITHDRAW,
    methods=["POST"],
    summary="The proposer takes their proposal back",
    body=NoteBody,
    responses={200: ProposalReply},
)
def proposal_withdraw(proposal_id: int, body: NoteBody) -> ProposalReply:
    found = proposals.get(db(), proposal_id)
    return _reply(proposals.withdraw(vault(), db(), caller(), found, body.note))


@route(
    bp,
    "/people",
    action=Action.PERSON_CREATE,
    methods=["POST"],
    summary="Add a person; the hire date and any admin or auditor role await a second admin",
    body=PersonBody,
    responses={201: PersonCreated},
)
def person_create(body: PersonBody) -> PersonCreated:
    person = directory.add_person(
        vault(),
        db(),
        caller(),
        email=body.email,
        name=body.name,
        hired_on=body.hired_on,
        roles=[str(r) for r in body.roles],
    )
    return PersonCreated(
        id=person.id,
        email=person.email,
        roles=list(person.roles),
        hire_date_confirmed=person.hire_date_confirmed,
        proposals=[_reply(p) for p in proposals.pending(db(), subject=person)],
    )


@route(
    bp,
    "/people/<int:person_id>/designations",
    action=Action.DESIGNATION_CREATE,
    methods=["POST"],
    summary="Propose a person custodian for tiers (202: a second admin approves)",
    body=DesignationBody,
    responses={202: ProposalReply},
)
def designation_propose(person_id: int, body: DesignationBody) -> ProposalReply:
    p = designations.designate(
        vault(), db(), caller(), _person(person_id), list(body.tiers), reason=body.reason
    )
    return _reply(p)


@route(
    bp,
    "/people/<int:person_id>/hire-date",
    action=Action.PERSON_HIRE_DATE,
    methods=["POST"],
    summary="Propose a hire date (202: it counts once a second admin approves)",
    body=HireDateBody,
    responses={202: ProposalReply},
)
def hire_date_propose(person_id: int, body: HireDateBody) -> ProposalReply:
    p = directory.propose_hire_date(
        vault(), db(), caller(), _person(person_id), body.hired_on, reason=body.reason
    )
    return _reply(p)


@route(
    bp,
    "/people/<int:person_id>/roles",
    action=Action.ROLE_GRANT,
    methods=["POST"],
    summary="Propose the admin or auditor role (202: a second admin approves)",
    body=RoleBody,
    responses={202: ProposalReply},
)
def role_propose(person_id: int, body: RoleBody) -> ProposalReply:
    p = directory.propose_role(
        vault(), db(), caller(), _person(person_id), body.role, reason=body.reason
    )
    return _reply(p)


@route(
    bp,
    "/people/<int:person_id>/departure/withdraw",
    action=Action.DEPARTURE_CHANGE,
    methods=["POST"],
    summary="Propose taking back a leaving date (202: a second admin approves)",
    body=ReasonBody,
    responses={202: ProposalReply},
)
def departure_withdraw(person_id: int, body: ReasonBody) -> ProposalReply:
    p = departures.propose_withdrawal(
        vault(), db(), caller(), _person(person_id), reason=body.reason
    )
    return _reply(p)


@route(
    bp,
    "/people/<int:person_id>/departure/postpone",
    action=Action.DEPARTURE_CHANGE,
    methods=["POST"],
    summary="Propose a later leaving date (202: a second admin approves)",
    body=PostponeBody,
    responses={202: ProposalReply},
)
def departure_postpone(person_id: int, body: PostponeBody) -> ProposalReply:
    p = departures.propose_postponement(
        vault(), db(), caller(), _person(person_id), body.leaving_on, reason=body.reason
    )
    return _reply(p)


class KeyRetireBody(Body):
    """Which key goes, and why."""

    key_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/-]+$")
    reason: str = Reason


@route(
    bp,
    "/keys/retire",
    action=Action.KEY_RETIRE,
    methods=["POST"],
    summary="Propose retiring an old key for good (202: a second admin approves)",
    body=KeyRetireBody,
    responses={202: ProposalReply},
)
def key_retire_propose(body: KeyRetireBody) -> ProposalReply:
    p = proposals.propose(
        vault(), db(), caller(), retirement.KIND.name, None, {"key_id": body.key_id}, body.reason
    )
    return _reply(p)


class SitePolicyBody(Body):
    """The site policy's Cedar text (empty: take the site policy away), and why."""

    text: str = Field(max_length=200_000)
    reason: str = Reason


class SitePolicyReply(Reply):
    """The site policy in force (loaded through the two-person rule)."""

    id: int | None
    sha256: str | None
    text: str
    loaded_at: Timestamp | None
    proposed_by: int | None
    approved_by: int | None


@route(
    bp,
    "/policy/site",
    action=Action.POLICY_LOAD,
    methods=["POST"],
    summary="Propose a site policy, or its removal (202: a second admin approves)",
    body=SitePolicyBody,
    responses={202: ProposalReply},
)
def site_policy_propose(body: SitePolicyBody) -> ProposalReply:
    p = proposals.propose(
        vault(), db(), caller(), site_policy.KIND.name, None, {"text": body.text}, body.reason
    )
    return _reply(p)


@route(
    bp,
    "/policy/site",
    action=Action.PROPOSAL_READ,
    summary="The site policy in force (admins, auditors)",
    responses={200: SitePolicyReply},
)
def site_policy_show() -> SitePolicyReply:
    row = site_policy.current(db())
    if row is None:
        return SitePolicyReply(
            id=None, sha256=None, text="", loaded_at=None, proposed_by=None, approved_by=None
        )
    return SitePolicyReply(
        id=row.id,
        sha256=row.sha256,
        text=row.text,
        loaded_at=row.loaded_at.isoformat(),
        proposed_by=row.proposed_by_id,
        approved_by=row.approved_by_id,
    )
