"""Local sign-in: password hashes, TOTP secrets and the failure counts behind lockout."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow


class LocalCredential(Base):
    """A person's local account: an argon2id password hash and, for admins, a TOTP secret.

    The TOTP secret is sealed (AES-256-GCM) under its own data key, which the key
    provider wraps bound to the person: whoever holds only the database cannot mint
    one-time codes. ``totp_last_step`` refuses a code's reuse within its time window.
    """

    __tablename__ = "local_credentials"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    password_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    totp_wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_secret_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class LoginFailure(Base):
    """One failed sign-in, counted per account and per client address (keys are hashed).

    Kept in the database so the limit holds across worker processes and machines;
    rows older than the counting window are pruned as new ones arrive.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_scope_key_at", "scope", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
