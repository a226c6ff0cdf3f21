"""Audit events and their canonical JSON form.

An event records one audited act: who (actor), what (action tag and resource
ids, never content), the decision and its reasons, and how it ended.

Canonical JSON, the bytes the MAC covers: one object holding every field,
keys sorted at every level, separators ``","`` and ``":"``, every non-ASCII
character escaped (``\\uXXXX``) so the bytes are pure ASCII, ``time`` as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds) and ``"v": 1`` naming the
format version.

Every string of an event is made storable when the event is made (:func:`clean_text`):
a lone surrogate or a NUL, which no UTF-8 page can show and PostgreSQL cannot cast to
JSON, is kept as its visible escape (``\\ud800``, ``\\u0000``). A stored body the
reader cannot parse as an event becomes a stand-in (:func:`readable`), never an error.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

__all__ = [
    "UNREADABLE",
    "Actor",
    "DetailValue",
    "Event",
    "canonical_json",
    "clean_text",
    "readable",
]

FORMAT_VERSION = 1
ACTION_PATTERN = re.compile(r"^[a-z_]+(:[a-z_]+)+$")
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
DECISIONS = frozenset({"allow", "deny", "n/a"})
OUTCOMES = frozenset({"ok", "denied", "error"})
MAX_ACTION_LENGTH = 64
MAX_RESOURCE_ID_LENGTH = 64
# The action of the stand-in for a stored body that is not a readable event.
UNREADABLE = "audit:unreadable"
# How much of an unreadable body its stand-in shows.
UNREADABLE_EXCERPT = 2000
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

DetailValue = str | int | bool | None

_KEYS = frozenset(
    {
        "v", "id", "time", "action", "actor", "decision", "outcome", "resource", "reason",
        "policy_ids", "purpose", "grant_id", "request_id", "details",
    }
)  # fmt: skip
_ACTOR_KEYS = frozenset({"person_id", "subject", "ip", "user_agent"})


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate and NUL replaced by its visible escape.

    Such characters cannot be encoded as UTF-8 (a page, a CSV, a log line) and make
    PostgreSQL refuse to cast the body to JSON; as ``\\ud800`` they stay visible.
    """
    if text.isascii() and "\x00" not in text:
        return text  # the common case, checked at C speed
    return _UNSTORABLE.sub(_escape, text)


def _clean_optional(value: str | None) -> str | None:
    return clean_text(value) if isinstance(value, str) else value


def _optional_str(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or None")


@dataclass(frozen=True)
class Actor:
    """Who acted: a person (if known), their SSO subject and where they came from."""

    person_id: int | None = None
    subject: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    def __post_init__(self) -> None:
        if self.person_id is not None and (
            isinstance(self.person_id, bool) or not isinstance(self.person_id, int)
        ):
            raise ValueError("person_id must be an int or None")
        _optional_str("subject", self.subject)
        _optional_str("ip", self.ip)
        _optional_str("user_agent", self.user_agent)
        for name in ("subject", "ip", "user_agent"):
            object.__setattr__(self, name, _clean_optional(getattr(self, name)))


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """One audited act; immutable, validated on creation.

    Raises:
        ValueError: a field is malformed: action not shaped ``scope:verb`` (lower
            case, at most 64 characters), unknown decision or outcome, resource ids
            not strings (``record`` and ``client`` at most 64 characters), a detail
            value not str/int/bool/None, id not 32 lower-case hex digits, or time
            not timezone-aware UTC.
    """

    action: str
    actor: Actor
    decision: str
    outcome: str
    resource: Mapping[str, str]
    reason: str = ""
    policy_ids: tuple[str, ...] = ()
    purpose: str | None = None
    grant_id: str | None = None
    request_id: str | None = None
    details: Mapping[str, DetailValue] = field(default_factory=dict)
    id: str = field(default_factory=_new_id)
    time: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if not isinstance(self.action, str) or not ACTION_PATTERN.match(self.action):
            raise ValueError(f"action must look like 'scope:verb', got {self.action!r}")
        if len(self.action) > MAX_ACTION_LENGTH:
            raise ValueError("action is too long")
        if not isinstance(self.actor, Actor):
            raise ValueError("actor must be an Actor")
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {sorted(DECISIONS)}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}")
        object.__setattr__(self, "resource", _frozen_resource(self.resource))
        if not isinstance(self.reason, str):
            raise ValueError("reason must be a string")
        object.__setattr__(self, "reason", clean_text(self.reason))
        if isinstance(self.policy_ids, str) or not all(isinstance(p, str) for p in self.policy_ids):
            raise ValueError("policy_ids must be a sequence of strings")
        object.__setattr__(self, "policy_ids", tuple(clean_text(p) for p in self.policy_ids))
        for name in ("purpose", "grant_id", "request_id"):
            _optional_str(name, getattr(self, name))
            object.__setattr__(self, name, _clean_optional(getattr(self, name)))
        object.__setattr__(self, "details", _frozen_details(self.details))
        if not isinstance(self.id, str) or not ID_PATTERN.match(self.id):
            raise ValueError("id must be 32 lower-case hex digits")
        if not isinstance(self.time, datetime) or self.time.utcoffset() != timedelta(0):
            raise ValueError("time must be a timezone-aware UTC datetime")
        object.__setattr__(self, "time", self.time.astimezone(UTC))

    def __hash__(self) -> int:
        # Equal events share their id; the frozen mappings themselves are unhashable.
        return hash(self.id)

    def __reduce__(self) -> tuple[Any, ...]:
        # The frozen mappings cannot be pickled as such; the canonical form can.
        return (Event.from_canonical, (canonical_json(self),))

    @classmethod
    def from_canonical(cls, data: bytes | str) -> Event:
        """Parse canonical JSON (as made by ``canonical_json``) back into an Event.

        Raises:
            ValueError: the data is not a canonical event of a known format version.
        """
        try:
            obj = json.loads(data)
            if not isinstance(obj, dict) or obj.keys() != _KEYS or obj["v"] != FORMAT_VERSION:
                raise ValueError("not a canonical audit event")
            actor = obj["actor"]
            if not isinstance(actor, dict) or actor.keys() != _ACTOR_KEYS:
                raise ValueError("not a canonical audit event")
            time = obj["time"]
            if not isinstance(time, str) or len(time) != 27 or not time.endswith("Z"):
                raise ValueError("time is not canonical")
            return cls(
                id=obj["id"],
                time=datetime.fromisoformat(time),
                action=obj["action"],
                actor=Actor(**actor),
                decision=obj["decision"],
                outcome=obj["outcome"],
                resource=obj["resource"],
                reason=obj["reason"],
                policy_ids=tuple(obj["policy_ids"]),
                purpose=obj["purpose"],
                grant_id=obj["grant_id"],
                request_id=obj["request_id"],
                details=obj["details"],
            )
        except (TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise ValueError("not a canonical audit event") from exc


def _frozen_resource(resource: object) -> Mapping[str, str]:
    if not isinstance(resource, Mapping):
        raise ValueError("resource must be a mapping of id names to id strings")
    for key, value in resource.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError("resource keys and values must be strings")
    for key in ("record", "client"):
        if len(resource.get(key, "")) > MAX_RESOURCE_ID_LENGTH:
            raise ValueError(f"resource {key} id is too long")
    return MappingProxyType({clean_text(k): clean_text(v) for k, v in resource.items()})


def _frozen_details(details: object) -> Mapping[str, DetailValue]:
    if not isinstance(details, Mapping):
        raise ValueError("details must be a mapping")
    for key, value in details.items():
        if not isinstance(key, str):
            raise ValueError("details keys must be strings")
        # Floats are refused: their text form is not a stable thing to MAC.
        if value is not None and not isinstance(value, str | int | bool):
            raise ValueError(f"details[{key!r}] must be str, int, bool or None")
    return MappingProxyType(
        {clean_text(k): clean_text(v) if isinstance(v, str) else v for k, v in details.items()}
    )


def format_time(time: datetime) -> str:
    """Format an aware datetime as canonical UTC text: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return time.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_fields(event: Event) -> dict[str, Any]:
    """Return the event as the plain JSON-ready dict that canonical JSON encodes."""
    actor = event.actor
    return {
        "v": FORMAT_VERSION,
        "id": event.id,
        "time": format_time(event.time),
        "action": event.action,
        "actor": {
            "person_id": actor.person_id,
            "subject": actor.subject,
            "ip": actor.ip,
            "user_agent": actor.user_agent,
        },
        "decision": event.decision,
        "outcome": event.outcome,
        "resource": dict(event.resource),
        "reason": event.reason,
        "policy_ids": list(event.policy_ids),
        "purpose": event.purpose,
        "grant_id": event.grant_id,
        "request_id": event.request_id,
        "details": dict(event.details),
    }


def canonical_json(event: Event) -> bytes:
    """Return the deterministic, pure-ASCII JSON bytes of every field of the event."""
    return json.dumps(
        event_fields(event),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    ).encode("ascii")


def readable(body: str, *, event_id: object = None, time: object = None) -> Event:
    """The event a stored ``body`` holds, or a stand-in when it holds none.

    For the auditor's pages and exports, which must show every stored row: a body that
    is not a canonical event (not JSON, nested too deep, a field of the wrong type) is
    shown as an :data:`UNREADABLE` event with outcome ``error`` whose details hold an
    escaped excerpt of the body; ``event_id`` and ``time`` come from the row's columns.
    """
    try:
        return Event.from_canonical(body)
    except ValueError:
        pass
    text = body if isinstance(body, str) else repr(body)
    ident = event_id if isinstance(event_id, str) and ID_PATTERN.match(event_id) else None
    when = time if isinstance(time, datetime) else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # SQLite hands back naive UTC datetimes
    return Event(
        action=UNREADABLE,
        actor=Actor(),
        decision="n/a",
        outcome="error",
        resource={},
        reason="unreadable_body",
        details={"length": len(text), "excerpt": text[:UNREADABLE_EXCERPT]},
        id=ident or "0" * 32,
        time=when or datetime(1970, 1, 1, tzinfo=UTC),
    )
