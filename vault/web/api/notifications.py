"""The caller's notifications."""

from __future__ import annotations

from pydantic import Field

from vault.models import Notification
from vault.oversight import notifications as notifications_
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Flag, Query, Reply, Timestamp
from vault.web.context import caller, db
from vault.web.routing import route


class InboxQuery(Query):
    """Which notifications."""

    unread: Flag = Field(False, description="only unread")


class NotificationCard(Reply):
    """A notification as the API shows it."""

    id: int
    kind: str
    subject: str
    body: str
    link: str
    created_at: Timestamp
    read: bool

    @classmethod
    def of(cls, n: Notification) -> NotificationCard:
        return cls(
            id=n.id,
            kind=n.kind,
            subject=n.subject,
            body=n.body,
            link=n.link,
            created_at=n.created_at.isoformat(),
            read=n.read_at is not None,
        )


class Inbox(Reply):
    """My newest notifications."""

    items: list[NotificationCard]


class Read(Reply):
    """A notification marked read."""

    id: int
    read: bool


@route(
    bp,
    "/notifications",
    action=Action.NOTIFICATION_READ,
    summary="My notifications",
    query=InboxQuery,
    responses={200: Inbox},
)
def notifications(query: InboxQuery) -> Inbox:
    who = caller()
    assert who.person is not None
    found = notifications_.inbox(db(), who.person, unread_only=query.unread)
    return Inbox(items=[NotificationCard.of(n) for n in found])


@route(
    bp,
    "/notifications/<int:note_id>/read",
    action=Action.NOTIFICATION_READ,
    methods=["POST"],
    summary="Mark one of my notifications read",
    responses={200: Read},
)
def notification_read(note_id: int) -> Read:
    who = caller()
    assert who.person is not None
    notifications_.mark_read(db(), who.person, note_id)
    return Read(id=note_id, read=True)
