"""Factories for people, clients and records, going through the real services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import proposals, uow
from vault.archive import records
from vault.caller import Caller
from vault.grants import requests
from vault.identity import tokens
from vault.models import Client, Grant, Person, PersonRole, Record
from vault.people import designations, directory
from vault.runtime import Vault

_seq = itertools.count(1)


def years_ago(years: float) -> date:
    """A hire date ``years`` ago."""
    return date.today() - timedelta(days=int(years * 365.25) + 1)


@dataclass
class Factory:
    """Makes domain objects in one vault, as the operator or an admin would."""

    v: Vault
    db: Session

    def _fresh(self) -> None:
        # SQLite: a test's read transaction holds an old snapshot, and a write from it
        # fails once the app has committed since. End it before each factory write.
        if self.db.in_transaction() and not (self.db.new or self.db.dirty or self.db.deleted):
            self.db.commit()

    def person(
        self,
        *,
        roles: tuple[str, ...] = ("employee",),
        years: float = 2,
        tiers: tuple[str, ...] = (),
        email: str | None = None,
        confirmed: bool = True,
    ) -> Person:
        """A person; ``tiers`` designates them custodian (by a fresh admin).

        As the operator would, then as the vault's admins would: the hire date and any
        admin or auditor role are approved by an admin (``confirmed=False`` leaves them
        waiting), and a designation is proposed by one admin and approved by a second.
        """
        p = self._add(roles=roles, years=years, email=email)
        if confirmed:
            self.approve_all(p)
        if tiers:
            self.designate(p, *tiers)
        return p

    def _add(self, *, roles: tuple[str, ...], years: float, email: str | None) -> Person:
        self._fresh()
        n = next(_seq)
        return uow.run(
            self.db,
            directory.add_person,
            self.v,
            self.db,
            Caller.operator(),
            email=email or f"p{n}@example.test",
            name=f"Person {n}",
            hired_on=years_ago(years),
            roles=roles,
        )

    def approve(self, proposal_id: int, by: Person) -> None:
        """``by`` approves the proposal (as a second admin, through the real service)."""
        self._fresh()
        uow.run(
            self.db,
            lambda: proposals.approve(
                self.v, self.db, Caller(person=by), proposals.get(self.db, proposal_id)
            ),
        )
        self.db.commit()

    def approve_all(self, person: Person) -> None:
        """Approve what waits about ``person`` (hire date, roles) by an admin not them."""
        self._fresh()
        waiting = [
            (p.id, p.proposed_by_id)
            for p in proposals.pending(self.db, subject=person)
            if p.kind in ("hire_date_confirm", "role_grant")
        ]
        self.db.commit()
        for proposal_id, proposer in waiting:
            by = self.admin()
            if by.id in (person.id, proposer):
                by = self.second_admin()
            self.approve(proposal_id, by)
        self.db.refresh(person)
        self.db.commit()  # end the read: the test's next look sees what the app writes

    def designate(self, person: Person, *tiers: str) -> None:
        """Designate ``person`` for ``tiers``: one admin proposes, a second approves."""
        self._fresh()
        proposal = uow.run(
            self.db,
            designations.designate,
            self.v,
            self.db,
            Caller(person=self.admin()),
            person,
            list(tiers),
            reason="long-serving, knows these clients",
        )
        proposal_id = proposal.id
        self.db.commit()
        self.approve(proposal_id, self.second_admin())
        self.db.refresh(person)
        self.db.commit()

    def admin(self) -> Person:
        """An admin (one per vault; the operator's first admin takes effect at once)."""
        if not hasattr(self, "_admin"):
            p = self._add(roles=("employee", "admin"), years=10, email=None)
            if not p.has_role("admin"):
                # A test made an admin of its own first: that admin approves this one.
                other = self.db.scalar(
                    select(Person)
                    .where(Person.id != p.id, Person.role_rows.any(PersonRole.role == "admin"))
                    .order_by(Person.id)
                )
                assert other is not None
                waiting = [x.id for x in proposals.pending(self.db, subject=p, kind="role_grant")]
                self.db.commit()
                for proposal_id in waiting:
                    self.approve(proposal_id, other)
                self.db.refresh(p)
                self.db.commit()
            self._admin = p
        return self._admin

    def second_admin(self) -> Person:
        """A second admin, to approve what the first proposed (made when first needed)."""
        if not hasattr(self, "_admin2"):
            admin = self.admin()
            p = self._add(roles=("employee", "admin"), years=10, email=None)
            self._admin2 = p
            self.approve_all(p)
            self.approve_all(admin)
        return self._admin2

    def custodian(self, *tiers: str, years: float = 10) -> Person:
        """A designated custodian with enough tenure for every tier by default."""
        return self.person(years=years, tiers=tiers or ("core", "special", "general"))

    def client(self, tier: str = "general", **kw: str) -> Client:
        """A client of ``tier``."""
        self._fresh()
        n = next(_seq)
        return uow.run(
            self.db,
            records.create_client,
            self.v,
            self.db,
            Caller.operator(),
            code=kw.pop("code", f"C{n:04d}"),
            name=kw.pop("name", f"Client {n}"),
            tier=tier,
            **kw,
        )

    def record(
        self,
        client: Client | None = None,
        *,
        content: bytes = b"secret terms",
        section: str = "credit",
        by: Person | None = None,
    ) -> Record:
        """A record deposited by ``by`` (default: a fresh employee)."""
        self._fresh()
        client = client or self.client()
        by = by or self.person()
        return uow.run(
            self.db,
            records.deposit,
            self.v,
            self.db,
            Caller(person=by),
            records.Deposit(
                client_id=client.id,
                section=section,
                title="A record",
                content=content,
            ),
        )

    def grant(
        self,
        person: Person,
        record: Record | None = None,
        *,
        client: Client | None = None,
        actions: tuple[str, ...] = ("consult",),
        hours: int | None = None,
    ) -> Grant:
        """A grant for ``person``, requested and approved through the real services."""
        self._fresh()
        req = uow.run(
            self.db,
            requests.request_access,
            self.v,
            self.db,
            Caller(person=person),
            requests.Ask(
                reason="renewing the payment terms with this client",
                actions=actions,
                record_id=record.id if record else None,
                client_id=client.id if client else None,
                duration_hours=hours,
            ),
        )
        for _ in range(req.approvals_needed):
            uow.run(
                self.db, requests.approve, self.v, self.db, Caller(person=self.custodian()), req.id
            )
        grant = self.db.scalar(select(Grant).where(Grant.request_id == req.id))
        assert grant is not None
        return grant

    def token(self, person: Person) -> str:
        """A bearer token for ``person``."""
        self._fresh()
        return uow.run(self.db, tokens.issue_token, self.v, self.db, Caller.operator(), person)
