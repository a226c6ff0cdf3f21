"""Records, the items that hold them, and their encrypted attachments."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, utcnow
from vault.models.clients import Client


class Section(enum.IntEnum):
    """The four sections of a client file, numbered as in the file number."""

    BASIC = 1
    CREDIT = 2
    TRANSACTIONS = 3
    RETURNS = 4

    @classmethod
    def parse(cls, value: str | int) -> Section:
        """Accept ``"credit"``, ``"2"`` or ``2``."""
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return cls(int(value))
        return cls[str(value).upper()]


class Record(Base):
    """One document in a client file: catalogue metadata in clear, content encrypted.

    The content is sealed under the record's own data key (``wrapped_dek``), with the
    record id, field name and ``content_version`` as associated data.
    """

    __tablename__ = "records"
    __table_args__ = (UniqueConstraint("client_id", "section", "year", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    section: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    file_number: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300), index=True)
    doc_type: Mapped[str] = mapped_column(String(64), default="")
    doc_date: Mapped[date | None] = mapped_column(Date, default=None)
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    content_type: Mapped[str] = mapped_column(String(100), default="text/plain; charset=utf-8")
    content_size: Mapped[int] = mapped_column(Integer, default=0)
    content_version: Mapped[int] = mapped_column(Integer, default=1)
    content_ct: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    # The content's keyed digest at intake (HMAC-SHA256, ``access.digest``), also bound
    # into the intake event: the authenticity check compares it with the content now.
    content_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    deposited_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Disposal (DESIGN §2.3): the content is gone, the catalogue entry stays.
    disposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    disposal_batch_id: Mapped[int | None] = mapped_column(Integer, default=None)

    client: Mapped[Client] = relationship(lazy="joined", innerjoin=True)


class Item(Base):
    """A physical folder or digital material belonging to a record, with its location."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """An encrypted file of a record, kept in the blob store under ``blob_key``."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    blob_key: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the stored (encrypted) blob, taken when it was written.
    blob_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
