"""People, their roles, custodian designations and API tokens."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, utcnow


class Role(enum.StrEnum):
    """Roles a person may hold; custodian is never a role but a designation."""

    EMPLOYEE = "employee"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Person(Base):
    """Anyone who may sign in."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    hired_on: Mapped[date] = mapped_column(Date)
    roles: Mapped[str] = mapped_column(String(100), default=Role.EMPLOYEE.value)
    sso_subject: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    leaving_on: Mapped[date | None] = mapped_column(Date, default=None)
    under_review: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    designations: Mapped[list[Designation]] = relationship(
        back_populates="person", foreign_keys="Designation.person_id", lazy="selectin"
    )

    @property
    def role_set(self) -> frozenset[str]:
        """The roles as a set of strings."""
        return frozenset(r for r in self.roles.split(",") if r)

    def has_role(self, role: Role | str) -> bool:
        """Whether the person holds ``role``."""
        return str(role) in self.role_set

    def custodian_tiers(self) -> frozenset[str]:
        """Tiers of every active designation (tenure is checked by the policy, not here)."""
        return frozenset(
            tier for d in self.designations if d.revoked_at is None for tier in d.tier_list
        )

    def is_departing(self) -> bool:
        """A leaving date is set: access already ended (DESIGN §3.9)."""
        return self.leaving_on is not None

    def is_disabled(self, today: date) -> bool:
        """The leaving date has come."""
        return self.leaving_on is not None and self.leaving_on <= today


class Designation(Base):
    """An admin's designation of a person as custodian for some client tiers."""

    __tablename__ = "designations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    tiers: Mapped[str] = mapped_column(String(64))
    designated_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    person: Mapped[Person] = relationship(back_populates="designations", foreign_keys=[person_id])

    @property
    def tier_list(self) -> list[str]:
        """The designated tiers."""
        return [t for t in self.tiers.split(",") if t]


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
