"""Factories for people, clients and records, going through the real services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import uow
from vault.archive import records
from vault.caller import Caller
from vault.grants import requests
from vault.identity import tokens
from vault.models import Client, Grant, Person, Record
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
    ) -> Person:
        """A person; ``tiers`` designates them custodian (by a fresh admin)."""
        self._fresh()
        n = next(_seq)
        p = uow.run(
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
        if tiers:
            uow.run(
                self.db,
                designations.designate,
                self.v,
                self.db,
                Caller(person=self.admin()),
                p,
                list(tiers),
            )
        return p

    def admin(self) -> Person:
        """An admin (one per vault)."""
        if not hasattr(self, "_admin"):
            self._admin = self.person(roles=("employee", "admin"), years=10)
        return self._admin

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
