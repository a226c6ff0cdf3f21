"""What the worker process keeps in the database: attachment blobs (when PostgreSQL is the
blob store) and the notification outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, utcnow
from vault.models.grants import Notification


class BlobSegment(Base):
    """One piece of an attachment's ciphertext (the streaming format of
    ``vault.crypto.streaming``, cut into rows of about one segment each). A blob exists
    once its rows have committed, all in one transaction; it is read row by row."""

    __tablename__ = "blob_segments"

    blob_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class OutboxMessage(Base):
    """A mail to send, written in the transaction of the act that causes it; the worker
    sends it (never a request), retrying with exponential backoff."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_due", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id"), default=None
    )
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # gave up
    last_error: Mapped[str] = mapped_column(String(200), default="")

    notification: Mapped[Notification | None] = relationship()
