"""Site policies loaded into the vault's database, each through the two-person rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow


class SitePolicy(Base):
    """One version of the site's Cedar policy, added to the shipped policies.

    The newest row whose ``replaced_at`` is empty is in force; an empty ``text`` means the
    site policy was taken away. Rows are never deleted: the history stays.
    """

    __tablename__ = "site_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    approved_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
