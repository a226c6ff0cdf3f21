"""Clients: the owners of client files, with tier, kind and encrypted sensitive fields."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow


class Tier(enum.StrEnum):
    """Client tiers (分类): core clients get the strictest access."""

    CORE = "core"
    SPECIAL = "special"
    GENERAL = "general"


class ClientKind(enum.StrEnum):
    """What kind of party the client is."""

    GOVERNMENT = "government"
    SPECIAL_COMPANY = "special_company"
    COMPANY = "company"
    INDIVIDUAL = "individual"
    PARTNER = "partner"


class Relationship(enum.StrEnum):
    """Where the relationship stands."""

    PROSPECTIVE = "prospective"
    ACTIVE = "active"
    FORMER = "former"


class Client(Base):
    """A client; tax id and bank account are encrypted under the client's own data key.

    Each sensitive field also keeps a blind index (HMAC under the index key) so an
    exact-match lookup works without decrypting anything.
    """

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    tier: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    relationship: Mapped[str] = mapped_column(String(16))
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    tax_id_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    tax_id_bidx: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    bank_account_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    bank_account_bidx: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    relationship_ended_on: Mapped[date | None] = mapped_column(Date, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
