"""The notification outbox: mail queued in the act's transaction, sent by the worker.

Each message is claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and stays locked
while it is sent, then is marked sent in the same transaction: several workers never send
one message twice. (A worker killed between the SMTP server's acceptance and its commit
sends that one message again: at least once, never silently lost.) A failure is retried
after ``outbox_backoff_s`` x 2^(attempts-1), until ``outbox_max_attempts``; then it is
marked failed (the in-app notification stays the record of truth).
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from email.message import EmailMessage

import structlog
from sqlalchemy import func, select

from vault.db import utcnow
from vault.models import OutboxMessage
from vault.runtime import Vault


def drain(v: Vault, *, limit: int = 100) -> int:
    """Send the messages now due, one transaction each; return how many were sent."""
    sent = 0
    for _ in range(limit):
        with v.sessions() as db:
            now = utcnow()
            stmt = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                    OutboxMessage.next_attempt_at <= now,
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(1)
            )
            if db.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            msg = db.scalar(stmt)
            if msg is None:
                return sent
            try:
                _send(v, msg)
            except (OSError, smtplib.SMTPException) as exc:
                msg.attempts += 1
                msg.last_error = f"{type(exc).__name__}: {exc}"[:200]
                if msg.attempts >= v.config.outbox_max_attempts:
                    msg.failed_at = now
                else:
                    delay = v.config.outbox_backoff_s * 2 ** (msg.attempts - 1)
                    msg.next_attempt_at = now + timedelta(seconds=delay)
                structlog.get_logger("vault").warning(
                    "mail failed", outbox=msg.id, attempts=msg.attempts, error=type(exc).__name__
                )
            else:
                msg.attempts += 1
                msg.sent_at = now
                if msg.notification is not None:
                    msg.notification.emailed_at = now
                sent += 1
            db.commit()
    return sent


def _send(v: Vault, msg: OutboxMessage) -> None:
    if not v.config.smtp_host:
        raise OSError("no SMTP host configured (VAULT_SMTP_HOST)")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = v.config.smtp_from, msg.to_address, msg.subject
    mail["Message-ID"] = f"<outbox-{msg.id}@archive-vault>"
    mail.set_content(msg.body or msg.subject)
    with smtplib.SMTP(v.config.smtp_host, v.config.smtp_port, timeout=10) as smtp:
        smtp.send_message(mail)


def depth(v: Vault) -> int:
    """Messages waiting to be sent (for the metrics and ``worker status``)."""
    with v.read_sessions() as db:
        return int(
            db.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
            )
            or 0
        )
