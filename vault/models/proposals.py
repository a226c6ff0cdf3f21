"""Proposals: an act that creates access or changes who someone is, awaiting a second admin."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow


class ProposalStatus(enum.StrEnum):
    """Where a proposal stands; only ``pending`` may still be decided."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Proposal(Base):
    """One admin's proposed act (a designation, a hire date, a role...), not yet in force.

    ``proposed_by_id`` is ``None`` only for what the vault proposes on the operator's
    behalf (the hire date of a person the operator created): an admin still approves it.
    """

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id"), index=True, default=None
    )
    payload_json: Mapped[str] = mapped_column(Text, default="{}")
    reason: Mapped[str] = mapped_column(String(500))
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(
        String(16), default=ProposalStatus.PENDING.value, index=True
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decision_note: Mapped[str] = mapped_column(String(500), default="")

    @property
    def payload(self) -> dict[str, Any]:
        """The proposed act's parameters (never secrets)."""
        value = json.loads(self.payload_json or "{}")
        return value if isinstance(value, dict) else {}

    @payload.setter
    def payload(self, value: dict[str, Any]) -> None:
        self.payload_json = json.dumps(value, sort_keys=True, separators=(",", ":"))

    def is_expired(self, now: datetime) -> bool:
        """Past its expiry (or marked expired)."""
        return self.status == ProposalStatus.EXPIRED.value or (
            self.status == ProposalStatus.PENDING.value and now >= self.expires_at
        )

    def shown_status(self, now: datetime) -> str:
        """The status to show: a pending proposal past its expiry reads ``expired``."""
        return ProposalStatus.EXPIRED.value if self.is_expired(now) else self.status
