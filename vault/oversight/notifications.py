"""Notifications: in the app always, by e-mail when an SMTP host is configured.

Messages name records by file number and title (catalogue metadata) and never carry
content. Mail goes out after the transaction commits; a mail failure is logged and
retried by nobody: the in-app notification is the record of truth."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import structlog
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.models import Notification, Person
from vault.runtime import Vault

_OUTBOX = "notify_outbox"


Params = dict[str, str | int | list[str] | dict[str, str | int | float | None] | None]


def send(
    v: Vault,
    db: Session,
    to: Person,
    kind: str,
    subject: str,
    body: str = "",
    link: str = "",
    *,
    text: str | None = None,
    params: Params | None = None,
) -> Notification:
    """Queue an in-app notification (in ``db``'s transaction) and mail it after commit.

    ``subject`` and ``body`` are the English text (the mail, and the API); ``text`` names
    the message and ``params`` its values, from which the pages write it in the reader's
    language (``vault.web.ui.labels.notification_text``). ``text`` defaults to ``kind``.
    """
    note = Notification(
        person_id=to.id,
        kind=kind,
        subject=subject[:200],
        body=body,
        link=link[:200],
        params={"text": text or kind, **(params or {})},
    )
    db.add(note)
    if v.config.smtp_host:
        outbox = db.info.setdefault(_OUTBOX, [])
        if not outbox:
            event.listen(db, "after_commit", lambda s: _flush(v, s), once=True)
        outbox.append((to.email, subject, body, note))
    return note


def _flush(v: Vault, db: Session) -> None:
    outbox = db.info.pop(_OUTBOX, [])
    sent = []
    for address, subject, body, note in outbox:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = v.config.smtp_from, address, subject
        msg.set_content(body or subject)
        try:
            with smtplib.SMTP(v.config.smtp_host, v.config.smtp_port, timeout=5) as smtp:
                smtp.send_message(msg)
            sent.append(note.id)
        except (OSError, smtplib.SMTPException) as exc:
            structlog.get_logger("vault").warning("mail failed", error=type(exc).__name__)
    if sent:
        from sqlalchemy import update

        with v.sessions() as s:
            s.execute(
                update(Notification).where(Notification.id.in_(sent)).values(emailed_at=utcnow())
            )
            s.commit()


def inbox(
    db: Session, person: Person, *, unread_only: bool = False, limit: int = 50
) -> list[Notification]:
    """A person's notifications, newest first."""
    stmt = select(Notification).where(Notification.person_id == person.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(db.scalars(stmt.order_by(Notification.id.desc()).limit(limit)))


def mark_read(db: Session, person: Person, note_id: int) -> None:
    """Mark one of the person's own notifications read."""
    note = db.get(Notification, note_id)
    if note is None or note.person_id != person.id:
        from vault.errors import NotFound

        raise NotFound("no such notification", code="notification_not_found")
    note.read_at = note.read_at or utcnow()
