"""Who is acting, and from where: passed explicitly into every service call."""

from __future__ import annotations

import getpass
import re
import uuid
from dataclasses import dataclass, field
from datetime import date

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


@dataclass(frozen=True)
class Caller:
    """The acting person (``None`` for the operator's CLI) and the request's origin."""

    person: Person | None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    subject: str | None = None
    # The person's row is already locked in this transaction (the token lookup of a
    # content route takes the lock, so the decision need not ask again).
    locked: bool = False
    # The client's own X-Request-Id, when short and plain (kept in the audit details);
    # ``request_id`` is always the server's.
    client_request_id: str | None = None
    # The request came with a bearer token (not a signed-in browser): a token never
    # mints another (see ``token:create`` in the policy).
    via_token: bool = False

    @classmethod
    def operator(cls) -> Caller:
        """The local operator running the CLI with access to the keyring file."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(person=None, subject=f"cli:{user}")

    @property
    def person_id(self) -> int | None:
        """The acting person's id, if any."""
        return self.person.id if self.person is not None else None

    def actor(self) -> Actor:
        """The audit log's view of the caller."""
        subject = self.subject
        if subject is None and self.person is not None:
            subject = self.person.sso_subject or self.person.email
        return Actor(
            person_id=self.person_id, subject=subject, ip=self.ip, user_agent=self.user_agent
        )

    def principal(self, today: date) -> Principal:
        """The policy's view of the caller; the operator is a principal with no rights."""
        p = self.person
        if p is None:
            return Principal(id=0, roles=frozenset(), hired_on=today)
        # The one place tenure is read: an unconfirmed hire date (one person's word,
        # DESIGN §3.10) counts as hired today, i.e. no tenure, until a second admin
        # confirms it or a signed SSO claim brings it.
        return Principal(
            id=p.id,
            roles=p.role_set,
            hired_on=p.hired_on if p.hired_on_confirmed_at is not None else today,
            custodian_tiers=p.custodian_tiers(),
            departing=p.is_departing(),
            disabled=p.is_disabled(today),
            under_review=p.under_review,
        )
