"""Who is acting, and from where: passed explicitly into every service call."""

from __future__ import annotations

import copy
import getpass
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from audit import Actor
from vault.models import Person
from vault.policy import Principal

# A client's own request id (X-Request-Id) is kept only when it is this short and plain.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def client_request_id(value: str | None) -> str | None:
    """A client's X-Request-Id if it is short and plain (``[A-Za-z0-9._-]{1,64}``), else None."""
    if value and _CLIENT_REQUEST_ID.fullmatch(value):
        return value
    return None


@dataclass(frozen=True, slots=True)
class Who:
    """A person as one request sees them: their names and the facts the policy decides
    on, read with the token or session in one statement (no ORM object).

    A service that changes the person, or hands them to a relationship, asks the
    caller for :attr:`Caller.person`, which loads the row then.
    """

    id: int
    email: str
    name: str
    sso_subject: str | None
    hired_on: date
    hired_on_confirmed_at: datetime | None
    leaving_on: date | None
    under_review: bool
    roles: frozenset[str]
    tiers: frozenset[str]  # of the person's active designations

    @classmethod
    def of(cls, person: Person) -> Who:
        """The facts of a loaded person."""
        return cls(
            id=person.id,
            email=person.email,
            name=person.name,
            sso_subject=person.sso_subject,
            hired_on=person.hired_on,
            hired_on_confirmed_at=person.hired_on_confirmed_at,
            leaving_on=person.leaving_on,
            under_review=person.under_review,
            roles=person.role_set,
            tiers=person.custodian_tiers(),
        )

    def principal(self, today: date) -> Principal:
        """The policy's view of this person on ``today``."""
        # The one place tenure is read: an unconfirmed hire date (one person's word,
        # DESIGN §3.10) counts as hired today, i.e. no tenure, until a second admin
        # confirms it or a signed SSO claim brings it.
        leaving = self.leaving_on
        return Principal(
            id=self.id,
            roles=self.roles,
            hired_on=self.hired_on if self.hired_on_confirmed_at is not None else today,
            custodian_tiers=self.tiers,
            departing=leaving is not None,
            disabled=leaving is not None and leaving <= today,
            under_review=self.under_review,
        )


class Caller:
    """The acting person (``None`` for the operator's CLI) and the request's origin.

    A request knows its caller by :class:`Who` (read with the token or session); the
    ORM :class:`~vault.models.Person` is loaded only when a service asks for
    :attr:`person`. Once loaded, the person's own row is what the policy sees, so an
    act that changes the person is decided on the change.
    """

    __slots__ = (
        "_load",
        "_person",
        "_who",
        "client_request_id",
        "ip",
        "locked",
        "request_id",
        "subject",
        "user_agent",
        "via_token",
    )

    def __init__(
        self,
        person: Person | None = None,
        *,
        who: Who | None = None,
        load: Callable[[int], Person | None] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        request_id: str | None = None,
        subject: str | None = None,
        locked: bool = False,
        client_request_id: str | None = None,
        via_token: bool = False,
    ) -> None:
        self._who = who
        self._person = person
        self._load = load
        self.ip = ip
        self.user_agent = user_agent
        self.request_id = request_id or uuid.uuid4().hex
        self.subject = subject
        # The person's row is already locked in this transaction (the token lookup of a
        # content route takes the lock, so the decision need not ask again).
        self.locked = locked
        # The client's own X-Request-Id, when short and plain (kept in the audit details);
        # ``request_id`` is always the server's.
        self.client_request_id = client_request_id
        # The request came with a bearer token (not a signed-in browser): a token never
        # mints another (see ``token:create`` in the policy).
        self.via_token = via_token

    def __repr__(self) -> str:
        return f"Caller(person_id={self.person_id!r}, subject={self.subject!r})"

    @classmethod
    def operator(cls) -> Caller:
        """The local operator running the CLI with access to the keyring file."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(subject=f"cli:{user}")

    @property
    def person(self) -> Person | None:
        """The acting person's row (loaded on first use), or ``None`` for the operator."""
        if self._person is None and self._who is not None:
            if self._load is None:
                raise RuntimeError("this caller's person cannot be loaded")
            self._person = self._load(self._who.id)
        return self._person

    @property
    def who(self) -> Who | None:
        """The acting person's facts: their row's if it is loaded, else the request's."""
        if self._person is not None:
            return Who.of(self._person)
        return self._who

    @property
    def person_id(self) -> int | None:
        """The acting person's id, if any."""
        if self._person is not None:
            return self._person.id
        return self._who.id if self._who is not None else None

    def with_lock(self) -> Caller:
        """The same caller, whose person's row is now locked in this transaction."""
        twin = copy.copy(self)
        twin.locked = True
        return twin

    def actor(self) -> Actor:
        """The audit log's view of the caller."""
        subject = self.subject
        if subject is None:
            known = self._person or self._who
            if known is not None:
                subject = known.sso_subject or known.email
        return Actor(
            person_id=self.person_id, subject=subject, ip=self.ip, user_agent=self.user_agent
        )

    def principal(self, today: date) -> Principal:
        """The policy's view of the caller; the operator is a principal with no rights."""
        who = self.who
        if who is None:
            return Principal(id=0, roles=frozenset(), hired_on=today)
        return who.principal(today)
