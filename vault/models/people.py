"""People, their roles, custodian designations and API tokens."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, utcnow


class Role(enum.StrEnum):
    """Roles a person may hold; custodian is never a role but a designation."""

    EMPLOYEE = "employee"
    AUDITOR = "auditor"
    ADMIN = "admin"


def _names(values: Iterable[str]) -> list[str]:
    """Distinct, non-empty names in a stable order; a bare string is refused (not split)."""
    if isinstance(values, str):
        raise TypeError("give an iterable of names, not a string")
    return sorted({str(x) for x in values if str(x)})


class PersonRole(Base):
    """One role held by one person (a row per role: never a joined string)."""

    __tablename__ = "person_roles"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)


class Person(Base):
    """Anyone who may sign in."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    hired_on: Mapped[date] = mapped_column(Date)
    sso_subject: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    leaving_on: Mapped[date | None] = mapped_column(Date, default=None)
    under_review: Mapped[bool] = mapped_column(Boolean, default=False)
    # When a second admin confirmed the hire date (or a signed SSO claim brought it):
    # until then the hire date counts for no tenure (vault.caller.Caller.principal).
    hired_on_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    designations: Mapped[list[Designation]] = relationship(
        back_populates="person", foreign_keys="Designation.person_id", lazy="selectin"
    )
    # Loaded with the person (one more SELECT per batch of people); the hot paths
    # (token and session lookups) join them into the person's own query instead.
    role_rows: Mapped[list[PersonRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by=PersonRole.role
    )

    def __init__(self, *, roles: Iterable[str] = (Role.EMPLOYEE.value,), **kw: object) -> None:
        super().__init__(**kw)
        self.roles = tuple(roles)

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles, sorted."""
        return tuple(sorted(r.role for r in self.role_rows))

    @roles.setter
    def roles(self, values: Iterable[str]) -> None:
        wanted = _names(values)
        self.role_rows[:] = [r for r in self.role_rows if r.role in wanted]
        held = {r.role for r in self.role_rows}
        self.role_rows.extend(PersonRole(role=r) for r in wanted if r not in held)

    @property
    def role_set(self) -> frozenset[str]:
        """The roles as a set of strings."""
        return frozenset(self.roles)

    def has_role(self, role: Role | str) -> bool:
        """Whether the person holds ``role``."""
        return str(role) in self.role_set

    def custodian_tiers(self) -> frozenset[str]:
        """Tiers of every active designation (tenure is checked by the policy, not here)."""
        return frozenset(
            tier for d in self.designations if d.revoked_at is None for tier in d.tier_list
        )

    @property
    def hire_date_confirmed(self) -> bool:
        """A second admin confirmed the hire date (or a signed SSO claim brought it)."""
        return self.hired_on_confirmed_at is not None

    def is_departing(self) -> bool:
        """A leaving date is set: access already ended (DESIGN §3.9)."""
        return self.leaving_on is not None

    def is_disabled(self, today: date) -> bool:
        """The leaving date has come."""
        return self.leaving_on is not None and self.leaving_on <= today


class DesignationTier(Base):
    """One client tier covered by one designation."""

    __tablename__ = "designation_tiers"

    designation_id: Mapped[int] = mapped_column(
        ForeignKey("designations.id", ondelete="CASCADE"), primary_key=True
    )
    tier: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)


class Designation(Base):
    """An admin's designation of a person as custodian for some client tiers."""

    __tablename__ = "designations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    # The admin who proposed the designation, and the second admin who approved it
    # (``None`` only for designations made before the two-person rule).
    designated_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    person: Mapped[Person] = relationship(back_populates="designations", foreign_keys=[person_id])
    # Joined into whatever loads the designations (their selectin from Person included),
    # so a person's tiers cost no extra round trip.
    tier_rows: Mapped[list[DesignationTier]] = relationship(
        cascade="all, delete-orphan", lazy="joined", order_by=DesignationTier.tier
    )

    def __init__(self, *, tiers: Iterable[str] = (), **kw: object) -> None:
        super().__init__(**kw)
        self.tier_rows = [DesignationTier(tier=t) for t in _names(tiers)]

    @property
    def tiers(self) -> tuple[str, ...]:
        """The designated tiers, sorted."""
        return tuple(sorted(t.tier for t in self.tier_rows))

    @property
    def tier_list(self) -> list[str]:
        """The designated tiers."""
        return list(self.tiers)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a database copy yields no tokens."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    person: Mapped[Person] = relationship(lazy="joined")
