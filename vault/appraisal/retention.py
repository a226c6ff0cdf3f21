"""The retention schedule (保管期限表): which rule keeps each record, and until when.

The schedule is a TOML file of rules (``default_schedule.toml`` is shipped; an admin
supplies their own with ``VAULT_RETENTION_SCHEDULE``), validated by :class:`Schedule` at
start: a bad schedule stops the vault from starting, with the first problem named.
Once a schedule is approved through the two-person rule (``retention propose``), the
stored version is in force and the file is no longer read. Changing it changes disposal
dates; the approval's audit event says how many records' dates moved
(``retention:dates``), and so does recording that a client relationship ended.
"""

from __future__ import annotations

import calendar
import hashlib
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vault import auditing, authz, proposals
from vault.authz import Details
from vault.caller import Caller
from vault.config import Config
from vault.db import utcnow
from vault.errors import Conflict, InvalidInput, NotFound
from vault.models import Client, ClientKind, Person, Proposal, Record, RetentionSchedule
from vault.models.clients import Relationship
from vault.policy import Action, Target
from vault.proposals import Payload
from vault.runtime import Vault

SECTION_KEYS = {1: "basic", 2: "credit", 3: "transactions", 4: "returns"}
Anchor = Literal["relationship_end", "lapse", "record_year", "document_date", "permanent"]
MAX_SCHEDULE_CHARS = 100_000


class Rule(BaseModel):
    """One rule: which records (section, client kinds, document types), from when, how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    section: Literal["basic", "credit", "transactions", "returns", "*"]
    client_kinds: tuple[ClientKind, ...] = ()
    doc_types: tuple[str, ...] = ()
    anchor: Anchor
    years: int | None = Field(default=None, ge=0, le=200)

    @model_validator(mode="after")
    def _years(self) -> Rule:
        if self.anchor == "permanent" and self.years is not None:
            raise ValueError(f"rule {self.id}: a permanent rule has no years")
        if self.anchor != "permanent" and self.years is None:
            raise ValueError(f"rule {self.id}: give years (how long after the {self.anchor})")
        return self

    def matches(self, section: str, kind: str, doc_type: str) -> bool:
        """Whether a record of ``section``, client ``kind`` and ``doc_type`` falls under it."""
        return (
            self.section in ("*", section)
            and (not self.client_kinds or kind in self.client_kinds)
            and (not self.doc_types or doc_type.strip().lower() in self.doc_types)
        )


class Schedule(BaseModel):
    """The whole schedule: rules in order, the first match wins; every section is covered
    for every kind of client by a rule that does not depend on the document type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    rules: tuple[Rule, ...] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _complete(self) -> Schedule:
        ids = [r.id for r in self.rules]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"rule ids must be unique: {', '.join(twice)}")
        for section in SECTION_KEYS.values():
            for kind in ClientKind:
                if not any(
                    r.matches(section, kind.value, "") and not r.doc_types for r in self.rules
                ):
                    raise ValueError(
                        f"no rule covers {section} records of {kind.value} clients "
                        "(add a rule without doc_types for them)"
                    )
        return self

    def rule_for(self, section: str, kind: str, doc_type: str) -> Rule:
        """The first rule matching the record (there always is one: see ``_complete``)."""
        return next(r for r in self.rules if r.matches(section, kind, doc_type))


def parse(text: str, source: str = "the retention schedule") -> Schedule:
    """The schedule in ``text`` (TOML), or ``InvalidInput`` naming the first problem."""
    if len(text) > MAX_SCHEDULE_CHARS:
        raise InvalidInput(f"{source} is too long", code="invalid_schedule")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{source} is not valid TOML: {exc}", code="invalid_schedule") from None
    try:
        return Schedule.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise InvalidInput(
            f"{source} is invalid: {where + ': ' if where else ''}{msg}", code="invalid_schedule"
        ) from None


def default_text() -> str:
    """The shipped schedule's text."""
    return resources.files("vault.appraisal").joinpath("default_schedule.toml").read_text("utf-8")


def configured_text(config: Config) -> tuple[str, str]:
    """The text of the schedule file the admin supplied (else the shipped one), and its name."""
    path = config.retention_schedule
    if path is None:
        return default_text(), "the shipped retention schedule"
    try:
        return Path(path).read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"the retention schedule {path} cannot be read: {exc}", code="invalid_schedule"
        ) from None


def check_configured(config: Config) -> Schedule:
    """Validate the configured schedule at start: the vault refuses to start on a bad one."""
    text, source = configured_text(config)
    return _parsed(text, source)


@lru_cache(maxsize=8)
def _parsed(text: str, source: str) -> Schedule:
    return parse(text, source)


def digest(text: str) -> str:
    """The SHA-256 a proposal and the audit log name a schedule by."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class InForce:
    """The schedule in force, its text and where it comes from."""

    schedule: Schedule
    text: str
    source: str  # "stored #3", or the file's name
    sha256: str


def in_force(v: Vault, db: Session) -> InForce:
    """The approved schedule stored in the database, else the configured file."""
    row = db.scalar(
        select(RetentionSchedule)
        .where(RetentionSchedule.replaced_at.is_(None))
        .order_by(RetentionSchedule.id.desc())
        .limit(1)
    )
    if row is not None:
        return InForce(
            _parsed(row.text, f"stored schedule #{row.id}"), row.text, f"#{row.id}", row.sha256
        )
    text, source = configured_text(v.config)
    return InForce(_parsed(text, source), text, source, digest(text))


# ---- Dates ----------------------------------------------------------------------------

STATE_DUE = "due"  # past its date and not held: may be proposed for disposal
STATE_KEPT = "kept"  # its date is in the future
STATE_HELD = "held"  # a legal hold keeps it, whatever its date
STATE_OPEN = "until_relationship_ends"
STATE_PERMANENT = "permanent"
STATE_DISPOSED = "disposed"
STATES = (STATE_DUE, STATE_KEPT, STATE_HELD, STATE_OPEN, STATE_PERMANENT, STATE_DISPOSED)


@dataclass(frozen=True)
class Retention:
    """A record's rule, its disposal date (None: not yet known or never) and its state."""

    record_id: int
    rule: str
    rule_title: str
    anchor: str
    years: int | None
    due_on: date | None
    state: str

    def as_json(self) -> dict[str, object]:
        """The card's retention block."""
        return {
            "rule": self.rule,
            "rule_title": self.rule_title,
            "anchor": self.anchor,
            "years": self.years,
            "disposal_date": self.due_on.isoformat() if self.due_on else None,
            "state": self.state,
        }


def add_years(day: date, years: int) -> date:
    """``day`` plus ``years`` (29 February becomes 28 February in a common year)."""
    year = day.year + years
    return date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


def due_on(rule: Rule, record: Record, client: Client) -> date | None:
    """The disposal date ``rule`` gives the record (None: permanent, or the relationship
    has not ended)."""
    year_end = date(record.year, 12, 31)
    if rule.anchor == "permanent" or rule.years is None:
        return None
    if rule.anchor == "relationship_end":
        ended = client.relationship_ended_on
        return add_years(ended, rule.years) if ended is not None else None
    if rule.anchor == "lapse":
        return add_years(record.valid_until or year_end, rule.years)
    if rule.anchor == "document_date":
        return add_years(record.doc_date or year_end, rule.years)
    return add_years(year_end, rule.years)


def retention_of(
    schedule: Schedule, record: Record, client: Client, *, held: bool, today: date | None = None
) -> Retention:
    """The record's retention under ``schedule``."""
    today = today or date.today()
    rule = schedule.rule_for(SECTION_KEYS.get(record.section, ""), client.kind, record.doc_type)
    when = due_on(rule, record, client)
    if record.disposed_at is not None:
        state = STATE_DISPOSED
    elif held:
        state = STATE_HELD
    elif rule.anchor == "permanent":
        state = STATE_PERMANENT
    elif when is None:
        state = STATE_OPEN
    elif when <= today:
        state = STATE_DUE
    else:
        state = STATE_KEPT
    return Retention(record.id, rule.id, rule.title, rule.anchor, rule.years, when, state)


def retentions(
    v: Vault, db: Session, records: Sequence[Record], *, schedule: Schedule | None = None
) -> dict[int, Retention]:
    """The retention of each record (their clients loaded), holds included."""
    from vault.appraisal import holds

    schedule = schedule or in_force(v, db).schedule
    held = holds.held_ids(db, records)
    today = date.today()
    return {
        r.id: retention_of(schedule, r, r.client, held=r.id in held, today=today) for r in records
    }


def retention_for(v: Vault, db: Session, record: Record) -> Retention:
    """One record's retention."""
    return retentions(v, db, [record])[record.id]


def all_records(db: Session, *, include_disposed: bool = False) -> Iterable[Record]:
    """Every record with its client, metadata only (never content)."""
    from sqlalchemy.orm import defer

    stmt = select(Record).options(defer(Record.content_ct), defer(Record.wrapped_dek))
    if not include_disposed:
        stmt = stmt.where(Record.disposed_at.is_(None))
    return db.scalars(stmt.order_by(Record.id).execution_options(yield_per=2000))


# ---- Reading and changing the schedule ----------------------------------------------


def read(v: Vault, db: Session, caller: Caller) -> InForce:
    """The schedule in force, for auditors, admins and custodians."""
    authz.require(v, db, caller, Action.RETENTION_READ)
    return in_force(v, db)


def _changed_dates(v: Vault, db: Session, old: Schedule, new: Schedule) -> list[int]:
    from vault.appraisal import holds

    records = list(all_records(db))
    held = holds.held_ids(db, records)
    today = date.today()
    changed = []
    for r in records:
        a = retention_of(old, r, r.client, held=r.id in held, today=today)
        b = retention_of(new, r, r.client, held=r.id in held, today=today)
        if (a.rule, a.due_on) != (b.rule, b.due_on):
            changed.append(r.id)
    return changed


def dates_event(
    v: Vault, db: Session, caller: Caller, changed: Sequence[int], why: str, **more: str | int
) -> None:
    """The audit event that says which records' disposal dates moved, and why."""
    if not changed:
        return
    listed = ",".join(str(i) for i in changed[:50])
    auditing.record(
        v,
        db,
        caller,
        Action.RETENTION_DATES,
        resource={},
        details={
            "why": why,
            "changed": len(changed),
            "records": listed + (",..." if len(changed) > 50 else ""),
            **more,
        },
    )


def _validate(v: Vault, db: Session, subject: Person | None, payload: Payload) -> Payload:
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("give the retention schedule's text", code="missing_text")
    parse(text, "the proposed retention schedule")
    return {"text": text, "sha256": digest(text)}


def _apply(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    subject: Person | None,
    payload: Payload,
) -> Details:
    assert proposal.proposed_by_id is not None and caller.person_id is not None
    old = in_force(v, db).schedule
    text = payload["text"]
    new = parse(text)
    changed = _changed_dates(v, db, old, new)
    db.execute(
        update(RetentionSchedule)
        .where(RetentionSchedule.replaced_at.is_(None))
        .values(replaced_at=utcnow())
    )
    row = RetentionSchedule(
        text=text,
        sha256=digest(text),
        proposed_by_id=proposal.proposed_by_id,
        approved_by_id=caller.person_id,
    )
    db.add(row)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.RETENTION_LOAD,
        resource={"retention_schedule": row.id},
        details={
            "sha256": row.sha256,
            "rules": len(new.rules),
            "dates_changed": len(changed),
            **proposals.outcome_details(proposal, caller),
        },
    )
    dates_event(v, db, caller, changed, "schedule", schedule=row.id)
    return {"retention_schedule": row.id, "dates_changed": len(changed)}


def describe(payload: Payload) -> str:
    """One line for lists: the schedule by its hash and its number of rules."""
    rules = str(payload.get("text", "")).count("[[rules]]")
    return f"retention schedule sha256 {str(payload.get('sha256', ''))[:16]}, {rules} rules"


KIND = proposals.register(
    proposals.Kind(
        name="retention_schedule",
        action=Action.RETENTION_LOAD,
        validate=_validate,
        apply=_apply,
        describe=describe,
        needs_subject=False,
    )
)


def propose(v: Vault, db: Session, caller: Caller, text: str, reason: str) -> Proposal:
    """Propose a new schedule; it is in force once a second admin approves it."""
    return proposals.propose(v, db, caller, KIND.name, None, {"text": text}, reason)


# ---- The client relationship ends --------------------------------------------------


def end_relationship(
    v: Vault, db: Session, caller: Caller, client_id: int, ended_on: date
) -> Client:
    """Record that the relationship with a client ended on ``ended_on`` (a custodian of
    its tier): the rules counted from the relationship's end now give dates (audited)."""
    client = db.get(Client, client_id)
    if client is None:
        raise authz.refuse(
            NotFound("no such client", code="client_not_found"),
            v,
            caller,
            Action.CLIENT_END,
            resource={"client": client_id},
        )
    target = Target(record_id=None, client_id=client.id, tier=client.tier)
    authz.require(
        v, db, caller, Action.CLIENT_END, target, resource={"client": client.id}, is_requester=False
    )
    if ended_on > date.today():
        raise InvalidInput(
            "the relationship's end cannot be in the future", code="invalid_ended_on"
        )
    if client.relationship_ended_on == ended_on:
        raise Conflict("the relationship already ended on that day", code="already_ended")
    schedule = in_force(v, db).schedule
    records = list(db.scalars(select(Record).where(Record.client_id == client.id)))
    before = retentions(v, db, records, schedule=schedule)
    previous = client.relationship_ended_on
    client.relationship = Relationship.FORMER.value
    client.relationship_ended_on = ended_on
    db.flush()
    after = retentions(v, db, records, schedule=schedule)
    changed = [
        i for i in after if (before[i].due_on, before[i].state) != (after[i].due_on, after[i].state)
    ]
    auditing.record(
        v,
        db,
        caller,
        Action.CLIENT_END,
        resource={"client": client.id},
        details={
            "ended_on": ended_on.isoformat(),
            "previous": previous.isoformat() if previous else None,
            "dates_changed": len(changed),
        },
    )
    dates_event(v, db, caller, changed, "relationship_end", client=client.id)
    return client
