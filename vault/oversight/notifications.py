"""Notifications: in the app always, by e-mail when an SMTP host is configured.

Messages name records by file number and title (catalogue metadata) and never carry
content. The mail is a row of the outbox (``outbox_messages``) written in the act's own
transaction, so it exists exactly when the act does; the worker (``vault.worker.outbox``)
sends it, with retries: never a request. The in-app notification is the record of truth."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.models import Notification, OutboxMessage, Person
from vault.runtime import Vault

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
    """Queue an in-app notification (in ``db``'s transaction) and, with SMTP, its mail.

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
    if v.config.smtp_host and to.email:
        db.add(
            OutboxMessage(
                notification=note, to_address=to.email[:320], subject=subject[:200], body=body
            )
        )
    return note


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
