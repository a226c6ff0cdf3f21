"""Browser sessions, kept server-side: the cookie carries only a random key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow


class WebSession(Base):
    """One signed-in browser: a row per sign-in, ended by sign-out, expiry or a change of
    the person (password, one-time code, roles, departure) or by an admin.

    Only the SHA-256 of the session key is stored, so a copy of the database signs
    nobody in. ``expires_at`` is the absolute end (``session_max_hours`` after sign-in);
    the idle end is ``last_seen_at`` plus ``session_idle_minutes``.
    """

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)
    method: Mapped[str] = mapped_column(String(16))  # "password" or "sso"
    second_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_reason: Mapped[str | None] = mapped_column(String(32), default=None)
