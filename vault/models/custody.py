"""Custody: loans of items, where items have been, reviews of client files, imported rows."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, utcnow
from vault.models.records import Item


class Condition(enum.StrEnum):
    """The state an item comes back in."""

    GOOD = "good"
    WORN = "worn"
    DAMAGED = "damaged"
    INCOMPLETE = "incomplete"


class Loan(Base):
    """One check-out of an item to a borrower, and its check-in.

    At most one open loan (``returned_at IS NULL``) per item: a unique partial
    index enforces it on SQLite and PostgreSQL, so racing check-outs cannot both win.
    """

    __tablename__ = "loans"
    __table_args__ = (
        Index(
            "uq_loans_open_item",
            "item_id",
            unique=True,
            sqlite_where=text("returned_at IS NULL"),
            postgresql_where=text("returned_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    lent_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # The grant that allowed the borrower to take it (none when lent to a custodian).
    grant_id: Mapped[int | None] = mapped_column(Integer, default=None)
    purpose: Mapped[str] = mapped_column(String(500))
    out_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    pages_out: Mapped[int] = mapped_column(Integer)
    # Where the item lived before it went out: where it goes back to by default.
    home_location: Mapped[str] = mapped_column(String(200), default="")
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    pages_in: Mapped[int | None] = mapped_column(Integer, default=None)
    condition: Mapped[str | None] = mapped_column(String(16), default=None)
    pages_mismatch: Mapped[bool] = mapped_column(Boolean, default=False)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    item: Mapped[Item] = relationship(lazy="joined", innerjoin=True)

    @property
    def is_open(self) -> bool:
        """Still out."""
        return self.returned_at is None

    def is_overdue(self, now: datetime) -> bool:
        """Out past its due time."""
        return self.returned_at is None and now >= self.due_at


class ItemLocation(Base):
    """One move of an item: where it went, when, by whose hand and why."""

    __tablename__ = "item_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    location: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(16))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), default=None)
    moved_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClientReview(Base):
    """A custodian's periodic review of a client file (dynamic management, 动态管理)."""

    __tablename__ = "client_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ImportedRow(Base):
    """A spreadsheet row already filed, known only by a keyed hash of its natural key.

    ``row_key`` is a blind index (HMAC under the index key) of the SHA-256 of client
    code, section, year, title and content: a re-run finds it without any plaintext
    being stored.
    """

    __tablename__ = "imported_rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    row_key: Mapped[str] = mapped_column(String(64), unique=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
