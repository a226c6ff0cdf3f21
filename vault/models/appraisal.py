"""Appraisal (鉴定): the retention schedule, legal holds, disposal batches and certificates."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow


class RetentionSchedule(Base):
    """One version of the retention schedule, loaded through the two-person rule.

    The newest row whose ``replaced_at`` is empty is in force; without one, the file the
    admin supplies (``VAULT_RETENTION_SCHEDULE``) or the shipped default is. Rows are
    never deleted.
    """

    __tablename__ = "retention_schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    approved_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)


class LegalHold(Base):
    """A legal hold (冻结): a client's whole file, or a list of records, kept from disposal.

    Placing one is one person's act; lifting it is a proposal a second admin approves.
    """

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)


class LegalHoldRecord(Base):
    """One record named by a hold on a list of records."""

    __tablename__ = "legal_hold_records"

    hold_id: Mapped[int] = mapped_column(ForeignKey("legal_holds.id"), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), primary_key=True, index=True)


class BatchStatus(enum.StrEnum):
    """Where a disposal batch stands."""

    PROPOSED = "proposed"
    DISPOSED = "disposed"
    REJECTED = "rejected"


class DisposalBatch(Base):
    """A list of records proposed for disposal by a custodian, approved by an admin (and,
    when it holds core records, by a second custodian), then crypto-shredded."""

    __tablename__ = "disposal_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.PROPOSED.value, index=True)
    reason: Mapped[str] = mapped_column(String(500))
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    needs_custodian: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    custodian_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    note: Mapped[str] = mapped_column(String(500), default="")


class DisposalItem(Base):
    """One record of a batch, with the rule and the date that made it due."""

    __tablename__ = "disposal_items"

    batch_id: Mapped[int] = mapped_column(ForeignKey("disposal_batches.id"), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), primary_key=True, index=True)
    rule: Mapped[str] = mapped_column(String(64))
    due_on: Mapped[date] = mapped_column(Date)


class DestructionCertificate(Base):
    """The signed PDF that says what was destroyed, when, under which rules, by whom."""

    __tablename__ = "destruction_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("disposal_batches.id"), unique=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)  # Ed25519 over the SHA-256 digest
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
