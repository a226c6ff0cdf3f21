"""The four-properties check (四性检测): its runs and what each run found."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow


class Property(enum.StrEnum):
    """The four properties of an electronic record (DA/T 70-2018)."""

    AUTHENTICITY = "authenticity"  # 真实性
    INTEGRITY = "integrity"  # 完整性
    USABILITY = "usability"  # 可用性
    SECURITY = "security"  # 安全性


class CheckRun(Base):
    """One run of the check over a scope, with its figures (``figures``: counts by property).

    ``event_id`` is the run's own audit event, whose details carry the same figures and
    the SHA-256 of the JSON report; the chain's signed checkpoints then cover it."""

    __tablename__ = "check_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # intake, schedule, manual, transfer, ...
    scope: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    records: Mapped[int] = mapped_column(Integer, default=0)
    attachments: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    figures: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    event_id: Mapped[str | None] = mapped_column(String(32), default=None)
    report_sha256: Mapped[str | None] = mapped_column(String(64), default=None)


class CheckFinding(Base):
    """One fault a run found: which property, what (a code), where (record, attachment).

    Findings hold codes and ids only, never a byte of content."""

    __tablename__ = "check_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("check_runs.id"), index=True)
    property: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"), index=True)
    attachment_id: Mapped[int | None] = mapped_column(Integer, default=None)
    client_id: Mapped[int | None] = mapped_column(Integer, default=None)
    where: Mapped[str] = mapped_column(String(300), default="")
    # A later run that checked the same record (or client file) again: the fault is no
    # longer open (found again, it is a new row of that run).
    resolved_by_run_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
