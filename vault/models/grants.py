"""Access requests, their approvals, the grants they yield, and alerts and notifications."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, utcnow


class GrantAction(enum.StrEnum):
    """What a grant may allow: reading, copying, borrowing the physical item."""

    CONSULT = "consult"
    COPY = "copy"
    LEND = "lend"


class RequestStatus(enum.StrEnum):
    """Where a request stands; ``expired`` is also derived from ``expires_at``."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


def _actions(values: Iterable[str]) -> list[str]:
    """Distinct, non-empty action names, sorted; a bare string is refused (not split)."""
    if isinstance(values, str):
        raise TypeError("give an iterable of actions, not a string")
    return sorted({str(a) for a in values if str(a)})


class RequestedAction(Base):
    """One action asked for by one access request."""

    __tablename__ = "access_request_actions"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("access_requests.id", ondelete="CASCADE"), primary_key=True
    )
    action: Mapped[str] = mapped_column(String(16), primary_key=True)


class GrantedAction(Base):
    """One action allowed by one grant."""

    __tablename__ = "grant_actions"

    grant_id: Mapped[int] = mapped_column(
        ForeignKey("grants.id", ondelete="CASCADE"), primary_key=True
    )
    action: Mapped[str] = mapped_column(String(16), primary_key=True)


class AccessRequest(Base):
    """An employee's request for temporary access to one record or one client file."""

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    approvals_needed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING.value, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decision_note: Mapped[str] = mapped_column(String(500), default="")

    approvals: Mapped[list[Approval]] = relationship(
        back_populates="request", lazy="selectin", order_by="Approval.id"
    )
    action_rows: Mapped[list[RequestedAction]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by=RequestedAction.action
    )

    def __init__(self, *, actions: Iterable[str] = (), **kw: object) -> None:
        super().__init__(**kw)
        self.action_rows = [RequestedAction(action=a) for a in _actions(actions)]

    @property
    def actions(self) -> tuple[str, ...]:
        """The requested actions, sorted."""
        return tuple(sorted(a.action for a in self.action_rows))

    @property
    def action_list(self) -> list[str]:
        """The requested actions."""
        return list(self.actions)

    def status_at(self, now: datetime) -> str:
        """The status, with a pending request past its expiry shown as expired."""
        if self.status == RequestStatus.PENDING and now >= self.expires_at:
            return RequestStatus.EXPIRED.value
        return self.status


class Approval(Base):
    """One custodian's approval of a request (core-tier requests need two)."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("request_id", "approver_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), index=True)
    approver_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[AccessRequest] = relationship(back_populates="approvals")


class Grant(Base):
    """Temporary rights over one record or one client file; checked at every decision."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    revoke_reason: Mapped[str] = mapped_column(String(200), default="")
    # When the worker's ``expire-grants`` job noted the end of the grant (audited
    # ``grant:expire``); the decision never reads it: ``expires_at`` is the deadline.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    # A content decision joins these into its grant query (vault.grants.live.covering).
    action_rows: Mapped[list[GrantedAction]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by=GrantedAction.action
    )

    def __init__(self, *, actions: Iterable[str] = (), **kw: object) -> None:
        super().__init__(**kw)
        self.action_rows = [GrantedAction(action=a) for a in _actions(actions)]

    @property
    def actions(self) -> tuple[str, ...]:
        """The granted actions, sorted."""
        return tuple(sorted(a.action for a in self.action_rows))

    @property
    def action_list(self) -> list[str]:
        """The granted actions."""
        return list(self.actions)

    def is_active(self, now: datetime) -> bool:
        """Live now: started, not expired, not revoked."""
        return self.revoked_at is None and self.starts_at <= now < self.expires_at

    def status_at(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.is_active(now) else "expired"


class Alert(Base):
    """Something an auditor must look at: quota crossed, a departed person knocking."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    summary: Mapped[str] = mapped_column(String(300))
    # The summary's values, written in the reader's language on the pages (labels.alert_summary);
    # None on rows from before it (their English summary is shown as stored).
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cleared_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)


class QuotaOpening(Base):
    """One unit of a person's export quota, and when they last used it (DESIGN §3.6).

    A unit is a record opened (its id as the audit log names it) or one sensitive lookup
    (its event's id). The database keeps these rows from the audit log itself: a trigger
    on ``audit_events`` (migration ``0019``) upserts one for every allowed counted event,
    in the event's own transaction, and drops the person's rows older than two days. A
    quota window is then a count of a person's rows, not of their day of events.
    """

    __tablename__ = "quota_openings"
    __table_args__ = (Index("ix_quota_openings_person_last", "person_id", "last_at"),)

    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Stored as ``audit_events.time`` is (the trigger copies it), read back aware UTC.
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(Base):
    """An in-app message to one person (mailed too when SMTP is configured)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(200), default="")
    # What the pages render in the reader's language: ``{"text": <message>, ...values}``;
    # None on rows from before it (their English subject and body are shown as stored).
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
