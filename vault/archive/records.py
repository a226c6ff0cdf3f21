"""Archive work on the catalogue: intake (clients, records), arrangement (file numbers), listing.

Nothing here releases content: reading content is :mod:`vault.access`'s job alone."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import IO

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from vault import access, auditing, authz
from vault.archive import check_runs
from vault.authz import require
from vault.caller import Caller
from vault.crypto import DataKey, encrypt_field
from vault.crypto.contexts import client_context, record_context
from vault.crypto.shares import combine
from vault.errors import Conflict, InvalidInput, NotFound, TooLarge
from vault.models import Attachment, Client, ClientKind, Record, Relationship, Section, Tier
from vault.policy import Action, Target
from vault.runtime import Vault, stage_share

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_]{1,31}$")


SENSITIVE_FIELDS = ("tax_id", "bank_account")


def _choice(value: str, enum: type[StrEnum], field: str) -> str:
    try:
        return str(enum(value.strip().lower()).value)
    except (ValueError, AttributeError):
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"{field} must be one of: {allowed}", code=f"invalid_{field}") from None


def create_client(
    v: Vault,
    db: Session,
    caller: Caller,
    *,
    code: str,
    name: str,
    tier: str,
    kind: str = "company",
    relationship: str = "active",
    tax_id: str | None = None,
    bank_account: str | None = None,
) -> Client:
    """Open a client file; sensitive fields are sealed under the client's own data key."""
    require(v, db, caller, Action.CLIENT_CREATE)
    code = code.strip().upper()
    if not CODE.match(code):
        raise InvalidInput("client code: 2-32 of A-Z, 0-9, _", code="invalid_client_code")
    name = name.strip()
    if not 0 < len(name) <= 200:
        raise InvalidInput("client name must be 1 to 200 characters", code="invalid_name")
    dek = DataKey.generate()
    client = Client(
        code=code,
        name=name,
        tier=_choice(tier, Tier, "tier"),
        kind=_choice(kind, ClientKind, "kind"),
        relationship=_choice(relationship, Relationship, "relationship"),
        wrapped_dek=b"",
        created_by_id=caller.person_id,
    )
    db.add(client)
    try:
        db.flush()
    except IntegrityError:
        raise Conflict(f"client {code} already exists", code="client_exists") from None
    client.wrapped_dek = v.keys.wrap(dek, client_context(client.id)).to_bytes()
    for field, value in (("tax_id", tax_id), ("bank_account", bank_account)):
        if value is None or not value.strip():
            continue
        if len(value) > 64:
            raise InvalidInput(f"{field} is too long", code=f"invalid_{field}")
        sealed = encrypt_field(
            dek,
            value.strip().encode(),
            record_id=f"client:{client.id}",
            field=field,
            version=1,
            cipher=v.suite.cipher,
        )
        setattr(client, f"{field}_ct", sealed)
        setattr(client, f"{field}_bidx", v.index(value, purpose=f"client.{field}"))
    auditing.record(v, db, caller, Action.CLIENT_CREATE, resource={"client": client.id})
    return client


def find_clients(
    v: Vault,
    db: Session,
    *,
    q: str | None = None,
    tier: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Client]:
    """Catalogue search over clients by name, code and tier (metadata only).

    Sensitive fields are never a filter here: an exact search by tax id or bank account
    is an act of its own, decided and audited (:mod:`vault.archive.lookups`)."""
    stmt = select(Client).order_by(Client.code)
    if q:
        stmt = stmt.where(or_(Client.name.contains(q), Client.code.contains(q.upper())))
    if tier:
        stmt = stmt.where(Client.tier == _choice(tier, Tier, "tier"))
    return list(db.scalars(stmt.limit(limit).offset(offset)))


def get_client(db: Session, client_id: int) -> Client:
    """A client by id, or NotFound."""
    client = db.get(Client, client_id)
    if client is None:
        raise NotFound("no such client", code="client_not_found")
    return client


@dataclass(frozen=True)
class Deposit:
    """What an employee hands in: catalogue metadata in clear, content to be sealed."""

    client_id: int
    section: str | int
    title: str
    content: bytes
    year: int | None = None
    doc_type: str = ""
    doc_date: date | None = None
    valid_until: date | None = None
    content_type: str = "text/plain; charset=utf-8"


def deposit(v: Vault, db: Session, caller: Caller, d: Deposit) -> Record:
    """File a record in a client's file: number it, seal its content, audit the intake.

    After filing, the depositor has no more right to the content than anyone else.
    """
    require(v, db, caller, Action.RECORD_DEPOSIT)
    client = get_client(db, d.client_id)
    try:
        section = Section.parse(d.section)
    except (KeyError, ValueError):
        raise InvalidInput(
            "section must be basic, credit, transactions or returns", code="invalid_section"
        ) from None
    year = d.year or date.today().year
    if not 1900 <= year <= date.today().year + 1:
        raise InvalidInput("year out of range", code="invalid_year")
    title = d.title.strip()
    if not 0 < len(title) <= 300:
        raise InvalidInput("title must be 1 to 300 characters", code="invalid_title")
    if not isinstance(d.content, bytes | bytearray):
        raise InvalidInput("content must be bytes", code="invalid_content")
    if len(d.content) > v.config.max_content_bytes:
        raise TooLarge("content is larger than allowed", code="content_too_large")
    if d.valid_until is not None and section is not Section.CREDIT:
        raise InvalidInput("valid_until applies to credit reports only", code="invalid_valid_until")
    if d.valid_until is not None:
        check_validity(d.doc_date or date.today(), d.valid_until)

    seq = _next_seq(db, client.id, section, year)
    record = Record(
        client_id=client.id,
        section=int(section),
        year=year,
        seq=seq,
        file_number=f"{client.code}-{int(section)}-{year}-{seq:04d}",
        title=title,
        doc_type=d.doc_type.strip()[:64],
        doc_date=d.doc_date,
        valid_until=d.valid_until,
        content_type=d.content_type[:100],
        content_size=len(d.content),
        content_version=1,
        content_ct=b"",
        wrapped_dek=b"",
        deposited_by_id=caller.person_id,
    )
    db.add(record)
    try:
        db.flush()
    except IntegrityError:
        raise Conflict("another deposit took this file number; try again", code="retry") from None
    dek = DataKey.generate()
    # The data key is split (DESIGN §2.3): K1 wrapped by the key provider, in the
    # database; the share K2 kept with the keys, so that disposal can destroy it.
    share = v.shares.new_share() if v.shares is not None else None
    if share is not None:
        stage_share(v, db, record.id, share)
    part = combine(dek, share)
    record.wrapped_dek = v.keys.wrap(part, record_context(record.id)).to_bytes()
    record.content_ct = encrypt_field(
        dek,
        bytes(d.content),
        record_id=str(record.id),
        field="content",
        version=1,
        cipher=v.suite.cipher,
    )
    # The four-properties check at intake: the content's keyed digest is kept on the
    # card and bound into the intake event (authenticity, later), and whether it opens
    # in its declared format is recorded with it (usability; a fault is not refused
    # here: it is kept as an intake run's finding and shows on the card at once).
    record.content_digest = access.digest(v, bytes(d.content))
    opens = access.opens_as(bytes(d.content), record.content_type)
    faults = check_runs.intake_faults(record, opens)
    auditing.record(
        v,
        db,
        caller,
        Action.RECORD_DEPOSIT,
        resource={"record": record.id, "client": client.id},
        details={
            "file_number": record.file_number,
            "bytes": len(d.content),
            "digest": record.content_digest,
            "opens": opens or "ok",
        },
    )
    check_runs.at_intake(v, db, caller, record, faults)
    return record


# A credit report (资信调查报告) is valid for three months to a year after it was made.
VALIDITY_MONTHS = (3, 12)


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (clamped to the month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_validity(made_on: date, valid_until: date) -> None:
    """Refuse a credit report's ``valid_until`` outside 3 to 12 months after it was made."""
    lo, hi = (add_months(made_on, m) for m in VALIDITY_MONTHS)
    if not lo <= valid_until <= hi:
        raise InvalidInput(
            f"valid_until must be 3 to 12 months after the report's date "
            f"({lo.isoformat()} to {hi.isoformat()})",
            code="invalid_valid_until",
        )


def _next_seq(db: Session, client_id: int, section: Section, year: int) -> int:
    current = db.scalar(
        select(func.max(Record.seq)).where(
            Record.client_id == client_id, Record.section == int(section), Record.year == year
        )
    )
    return (current or 0) + 1


def attach(
    v: Vault,
    db: Session,
    caller: Caller,
    record_id: int,
    *,
    filename: str,
    content_type: str,
    stream: IO[bytes],
) -> Attachment:
    """Add a file to a record: streamed through AEAD into the blob store, never in clear.

    Only the record's depositor, or a custodian of its clients, may (decided in Cedar as
    ``record:attach``, with ``is_depositor`` in its context); a refusal is audited.
    """
    resource: dict[str, object] = {"record": record_id}
    record = db.get(Record, record_id)
    if record is None:
        raise authz.refuse(
            NotFound("no such record", code="record_not_found"),
            v,
            caller,
            Action.RECORD_ATTACH,
            resource=resource,
        )
    resource["client"] = record.client_id
    require(
        v,
        db,
        caller,
        Action.RECORD_ATTACH,
        Target(record_id=record.id, client_id=record.client_id, tier=record.client.tier),
        resource=resource,
        is_depositor=caller.person_id is not None and record.deposited_by_id == caller.person_id,
    )
    if record.disposed_at is not None:
        # Disposed of: its key is destroyed, so nothing can be added under it.
        raise authz.refuse(
            Conflict("this record was disposed of", code="record_disposed"),
            v,
            caller,
            Action.RECORD_ATTACH,
            resource=resource,
        )
    filename = filename.strip().replace("/", "_").replace("\\", "_")[:255] or "attachment"
    att = Attachment(
        record_id=record.id,
        filename=filename,
        content_type=content_type[:100] or "application/octet-stream",
        size=0,
        blob_key=v.blobs.new_key(),
    )
    db.add(att)
    db.flush()
    try:
        with v.blobs.writer(att.blob_key) as out:
            hashed = _Hashing(out)
            att.size = access.seal_attachment(v, record, att.id, stream, hashed)  # type: ignore[arg-type]
        att.blob_sha256 = hashed.sha.hexdigest()
        auditing.record(
            v,
            db,
            caller,
            Action.RECORD_ATTACH,
            resource={"record": record.id, "client": record.client_id, "attachment": att.id},
            details={"bytes": att.size, "blob_sha256": att.blob_sha256},
        )
    except BaseException:
        v.blobs.delete(att.blob_key)
        raise
    return att


class _Hashing:
    """A write-only stream that hashes what passes through it (the blob's SHA-256)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.sha = out, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def get_record(db: Session, record_id: int) -> Record:
    """A record's catalogue entry by id, or NotFound."""
    record = db.get(Record, record_id)
    if record is None:
        raise NotFound("no such record", code="record_not_found")
    return record


_NOT_LISTED = (defer(Record.content_ct), defer(Record.wrapped_dek))


def list_records(
    db: Session,
    *,
    client_id: int | None = None,
    section: str | None = None,
    year: int | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Record]:
    """Catalogue listing and search (metadata only: titles, numbers, dates)."""
    # A page of cards needs no ciphertext: leave the sealed content and keys in the database.
    stmt = select(Record).options(*_NOT_LISTED).order_by(Record.id)
    if client_id is not None:
        stmt = stmt.where(Record.client_id == client_id)
    if section is not None:
        try:
            stmt = stmt.where(Record.section == int(Section.parse(section)))
        except (KeyError, ValueError):
            raise InvalidInput("unknown section", code="invalid_section") from None
    if year is not None:
        stmt = stmt.where(Record.year == year)
    if q:
        stmt = stmt.where(or_(Record.title.contains(q), Record.file_number.contains(q)))
    return list(db.scalars(stmt.limit(limit).offset(offset)))


def attachments_of(db: Session, record_id: int) -> list[Attachment]:
    """A record's attachments (metadata only)."""
    return list(db.scalars(select(Attachment).where(Attachment.record_id == record_id)))


def client_codes(db: Session, client_ids: set[int]) -> dict[int, str]:
    """Client codes by id, in one query (catalogue metadata, never content)."""
    if not client_ids:
        return {}
    rows = db.execute(select(Client.id, Client.code).where(Client.id.in_(client_ids)))
    return {cid: code for cid, code in rows}


def file_numbers(db: Session, record_ids: set[int]) -> dict[int, str]:
    """Record file numbers by id, in one query (catalogue metadata, never content)."""
    if not record_ids:
        return {}
    rows = db.execute(select(Record.id, Record.file_number).where(Record.id.in_(record_ids)))
    return {rid: number for rid, number in rows}


def client_by_code(db: Session, code: str) -> Client | None:
    """The client with this code, if any."""
    return db.scalar(select(Client).where(Client.code == code.strip().upper()))


def record_by_file_number(db: Session, file_number: str) -> Record | None:
    """The record with this file number, if any."""
    return db.scalar(select(Record).where(Record.file_number == file_number.strip()))
