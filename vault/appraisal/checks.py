"""The four-properties check (四性检测): authenticity, integrity, usability and security.

A run goes through the records of its scope in batches. What needs content (does it
decrypt, is it still what was filed, does it open in its declared format) is asked of
the choke point (:func:`vault.access.system_check`, its own decision and audit event);
everything else is read from the catalogue, the audit log and the blob store:

- authenticity (真实性): the keyed digest taken at intake is on the card and in the intake
  event; both still agree with each other and with the content now, and the intake event
  holds its MAC and its link in the chain;
- integrity (完整性): the required catalogue metadata is there; the file numbers of each
  client's section and year run 1, 2, 3, ... without a gap or a duplicate; every
  attachment's blob is there, with the SHA-256 it was written with;
- usability (可用性): each record and attachment opens in its declared format (PDF
  parses, images decode, text is UTF-8);
- security (安全性): every record decrypts under its key, whose key-encryption key is one
  the provider still holds; no distinctive word of any record's text lies in clear in
  the vault's folders (blobs and logs), found through keyed hashes only.

Each run is kept (:class:`~vault.models.CheckRun`) with its findings (codes and ids,
never content) and its own audit event carrying the figures and the SHA-256 of the JSON
report (the chain's signed checkpoints then cover it); faults raise an alert for the
auditors and show on the record's card until a later run finds the record sound.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from audit.schema import audit_events
from vault import access, authz
from vault.archive import check_runs
from vault.archive.check_runs import REQUIRED, Finding, Report, canonical
from vault.caller import Caller
from vault.errors import InvalidInput, NotFound
from vault.models import Attachment, CheckFinding, CheckRun, Client, Property, Record, Section
from vault.oversight import alerts
from vault.policy import Action
from vault.runtime import Vault

BATCH = 500
TRIGGERS = ("intake", "schedule", "manual", "transfer", "disposal")
# Faults by property (the codes the pages label).
CODES: dict[str, tuple[str, ...]] = {
    Property.AUTHENTICITY: (
        "intake_event_missing",
        "intake_event_tampered",
        "no_intake_digest",
        "intake_digest_mismatch",
        "content_changed",
    ),
    Property.INTEGRITY: (
        "metadata_missing",
        "file_number_mismatch",
        "number_gap",
        "number_duplicate",
        "attachment_missing",
        "no_blob_hash",
        "attachment_changed",
    ),
    Property.USABILITY: ("pdf_unreadable", "image_unreadable", "text_not_utf8"),
    Property.SECURITY: (
        "undecryptable",
        "key_not_live",
        "attachment_undecryptable",
        "plaintext_found",
    ),
}
PROPERTY_OF = {code: prop for prop, codes in CODES.items() for code in codes}

_e = audit_events.c


# ---- Scope ----------------------------------------------------------------------------


def _scope_ids(db: Session, scope: str) -> tuple[list[int], set[int] | None, str]:
    """The record ids of ``scope`` ("all", "client:CODE", or a list of ids) and its clients
    (None: every client)."""
    if scope == "all":
        return list(db.scalars(select(Record.id).order_by(Record.id))), None, "all"
    if scope.startswith("client:"):
        code = scope.removeprefix("client:").strip().upper()
        client = db.scalar(select(Client).where(Client.code == code))
        if client is None:
            raise NotFound(f"no client {code}", code="client_not_found")
        ids = list(
            db.scalars(select(Record.id).where(Record.client_id == client.id).order_by(Record.id))
        )
        return ids, {client.id}, f"client:{code}"
    raise InvalidInput("scope must be all or client:CODE", code="invalid_scope")


# ---- The run ----------------------------------------------------------------------------


def run_check(
    v: Vault,
    db: Session,
    caller: Caller,
    scope: str = "all",
    *,
    trigger: str = "manual",
    progress: Callable[[int], object] | None = None,
    scan_files: bool = True,
    batch: int = BATCH,
) -> Report:
    """Run the four-properties check over ``scope`` ("all" or "client:CODE").

    The callable for the command line (``archive-vault check run``) and the worker:
    ``progress`` is called with the number of records done after each batch. Faults
    raise one alert; the run, its findings and its audit event are kept in the caller's
    unit of work."""
    ids, clients, label = _scope_ids(db, scope)
    return _run(
        v, db, caller, ids, clients, label, trigger, progress, scan_files, batch, whole=True
    )


def check_records(
    v: Vault,
    db: Session,
    caller: Caller,
    record_ids: Iterable[int],
    *,
    trigger: str = "transfer",
) -> Report:
    """The check of some records before they are transferred or disposed of (``trigger``
    says which); their clients' numbering is checked too. The caller refuses the act if
    ``report.ok`` is false."""
    ids = sorted(set(record_ids))
    clients = set(db.scalars(select(Record.client_id).where(Record.id.in_(ids)))) if ids else set()
    label = f"records:{len(ids)}"
    return _run(v, db, caller, ids, clients, label, trigger, None, False, BATCH, whole=False)


def _run(
    v: Vault,
    db: Session,
    caller: Caller,
    ids: list[int],
    clients: set[int] | None,
    label: str,
    trigger: str,
    progress: Callable[[int], object] | None,
    scan_files: bool,
    batch: int,
    *,
    whole: bool,
) -> Report:
    if trigger not in TRIGGERS:
        raise InvalidInput(f"trigger must be one of {', '.join(TRIGGERS)}", code="invalid_trigger")
    authz.require(v, db, caller, Action.CHECK_RUN)
    run = check_runs.start(db, caller, trigger, label)
    findings: list[Finding] = []
    probes: set[bytes] = set()
    unchecked = disposed = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        found, atts, skipped, gone = _check_batch(v, db, caller, run.id, chunk, probes)
        findings += found
        disposed += gone
        run.records += len(chunk)
        run.attachments += atts
        unchecked += skipped
        _resolve(db, run.id, CheckFinding.record_id.in_(chunk))
        if progress is not None:
            progress(len(chunk))
    findings += _numbering(db, clients)
    numbering = (CheckFinding.record_id.is_(None), CheckFinding.client_id.is_not(None))
    if clients is None:
        _resolve(db, run.id, *numbering)
    else:
        _resolve(db, run.id, *numbering, CheckFinding.client_id.in_(clients))
    scanned = 0
    if scan_files and probes:
        found_files, scanned = scan_plaintext(v, probes)
        findings += found_files
        if clients is None:  # every record's words were looked for: earlier finds are redone
            _resolve(db, run.id, CheckFinding.record_id.is_(None), CheckFinding.client_id.is_(None))
    probes.clear()
    report = check_runs.close(
        v,
        db,
        caller,
        run,
        findings,
        counted={"formats_unchecked": unchecked, "files_scanned": scanned, "disposed": disposed},
    )
    if findings:
        _alert(v, db, caller, run)
    return report


def _resolve(db: Session, run_id: int, *where: object) -> None:
    """Faults of earlier runs on what this run checked again are no longer open."""
    db.execute(
        update(CheckFinding)
        .where(
            CheckFinding.resolved_by_run_id.is_(None),
            CheckFinding.run_id != run_id,
            *where,  # type: ignore[arg-type]
        )
        .values(resolved_by_run_id=run_id)
    )


def _alert(v: Vault, db: Session, caller: Caller, run: CheckRun) -> None:
    by_property = {str(p): int(run.figures.get(str(p), 0)) for p in Property}
    alerts.raise_alert(
        v,
        db,
        caller,
        "check_failed",
        None,
        f"four-properties check {run.id} ({run.scope}) found {run.failures} faults: "
        + ", ".join(f"{p} {n}" for p, n in by_property.items()),
        details={"run": run.id, "failures": run.failures},
        params={"run": run.id, "scope": run.scope, "failures": run.failures, **by_property},
    )


_FILE_NUMBER = re.compile(r"^[A-Z0-9_]+-[1-4]-\d{4}-\d{4,}$")


def _check_batch(
    v: Vault, db: Session, caller: Caller, run_id: int, chunk: list[int], probes: set[bytes]
) -> tuple[list[Finding], int, int, int]:
    """One batch: the choke point's look at the content, then the catalogue and the log.

    A disposed record has no content left to look at (its key share is destroyed, its
    ciphertext and attachments removed): only its catalogue entry and its intake event
    are checked, the entry that stays."""
    live = list(
        db.scalars(select(Record.id).where(Record.id.in_(chunk), Record.disposed_at.is_(None)))
    )
    health = (
        {h.record_id: h for h in access.system_check(v, db, caller, live, run_id=run_id)}
        if live
        else {}
    )
    meta = db.execute(
        select(
            Record.id,
            Record.client_id,
            Record.section,
            Record.year,
            Record.seq,
            Record.file_number,
            Record.title,
            Record.content_type,
            Record.content_digest,
            Client.code,
        )
        .join(Client, Client.id == Record.client_id)
        .where(Record.id.in_(chunk))
    ).all()
    intake: dict[int, tuple[int, str]] = {}
    for seq, rid, body in db.execute(
        select(_e.seq, _e.resource_record, _e.body).where(
            _e.action == Action.RECORD_DEPOSIT.value,
            _e.outcome == "ok",
            _e.resource_record.in_([str(i) for i in chunk]),
        )
    ):
        intake.setdefault(int(rid), (seq, body))
    verdict = v.audit.check_many(db.connection(), [seq for seq, _ in intake.values()])
    blob_hashes = {
        a_id: sha
        for a_id, sha in db.execute(
            select(Attachment.id, Attachment.blob_sha256).where(Attachment.record_id.in_(chunk))
        )
    }
    out: list[Finding] = []
    unchecked = 0
    A, INT, U, S = Property.AUTHENTICITY, Property.INTEGRITY, Property.USABILITY, Property.SECURITY
    for row in meta:
        rid, cid = row.id, row.client_id

        def fault(prop: str, code: str, where: str = "", att: int | None = None) -> None:
            out.append(Finding(prop, code, rid, att, cid, where or row.file_number))  # noqa: B023

        # Integrity: the card itself.
        for name in REQUIRED:
            if not (getattr(row, name) or "").strip():
                fault(INT, "metadata_missing", name)
        if (
            row.section not in {int(s) for s in Section}
            or not _FILE_NUMBER.match(row.file_number or "")
            or row.file_number != f"{row.code}-{row.section}-{row.year}-{row.seq:04d}"
        ):
            fault(INT, "file_number_mismatch")
        # Authenticity: the intake event and the digest it carries.
        got = intake.get(rid)
        event_digest: str | None = None
        if got is None:
            fault(A, "intake_event_missing")
        else:
            seq, body = got
            if verdict.get(seq) is False:
                fault(A, "intake_event_tampered")
            try:
                # The body's MAC is checked above (check_many): its details are the log's.
                event_digest = json.loads(body).get("details", {}).get("digest")
            except (ValueError, TypeError, AttributeError):
                fault(A, "intake_event_tampered")
        h = health.get(rid)
        if row.content_digest is None:
            fault(A, "no_intake_digest")
        elif got is not None and event_digest != row.content_digest:
            fault(A, "intake_digest_mismatch")
        elif h is not None and h.decrypts and h.digest != row.content_digest:
            fault(A, "content_changed")
        if h is None:
            continue
        # Security: the key and the content.
        if not h.decrypts:
            fault(S, "undecryptable")
        if not h.key_live:
            fault(S, "key_not_live", h.key_id or "")
        # Usability.
        if h.opens == "format_unchecked":
            unchecked += 1
        elif h.opens is not None:
            fault(U, h.opens)
        probes.update(h.probes)
        for a in h.attachments:
            probes.update(a.probes)
            where = f"{row.file_number} #{a.attachment_id}"
            stored = blob_hashes.get(a.attachment_id)
            if not a.present:
                fault(INT, "attachment_missing", where, a.attachment_id)
                continue
            if stored is None:
                fault(INT, "no_blob_hash", where, a.attachment_id)
            elif stored != a.blob_sha256:
                fault(INT, "attachment_changed", where, a.attachment_id)
            if not a.decrypts:
                if h.decrypts:
                    fault(S, "attachment_undecryptable", where, a.attachment_id)
            elif a.opens == "format_unchecked":
                unchecked += 1
            elif a.opens is not None:
                fault(U, a.opens, where, a.attachment_id)
    attachments = sum(len(h.attachments) for h in health.values())
    return out, attachments, unchecked, len(chunk) - len(live)


def _numbering(db: Session, clients: set[int] | None) -> list[Finding]:
    """File numbers of each client's section and year: 1..n, no gap, no duplicate."""
    stmt = (
        select(
            Record.client_id,
            Client.code,
            Record.section,
            Record.year,
            func.count(),
            func.count(func.distinct(Record.seq)),
            func.min(Record.seq),
            func.max(Record.seq),
        )
        .join(Client, Client.id == Record.client_id)
        .group_by(Record.client_id, Client.code, Record.section, Record.year)
    )
    if clients is not None:
        if not clients:
            return []
        stmt = stmt.where(Record.client_id.in_(clients))
    out: list[Finding] = []
    for cid, code, section, year, n, distinct, lo, hi in db.execute(stmt):
        where = f"{code}-{section}-{year}"
        if n != distinct:
            out.append(Finding(Property.INTEGRITY, "number_duplicate", None, None, cid, where))
        if lo != 1 or hi != distinct:
            out.append(Finding(Property.INTEGRITY, "number_gap", None, None, cid, where))
    return out


# ---- The plaintext scan ------------------------------------------------------------------


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, item in value.items():
            yield str(k)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _file_tokens(data: bytes) -> Iterator[str]:
    text = data.decode("utf-8", "replace")
    yield from access.tokens(text)
    # JSON lines (the logs) hide words behind \\u escapes: read them as JSON too.
    if "\\u" in text:
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            for s in _strings(parsed):
                yield from access.tokens(s)
    for enc in ("utf-16-le", "utf-16-be"):
        if b"\x00" in data[:4096]:
            yield from access.tokens(data.decode(enc, "replace"))


WHOLE_FILE = 16 * 2**20  # larger files are read line by line (UTF-8 only)


def _path_tokens(path: Path) -> Iterator[str]:
    if path.stat().st_size <= WHOLE_FILE:
        yield from _file_tokens(path.read_bytes())
        return
    with path.open("rb") as fh:
        for line in fh:
            yield from _file_tokens(line)


def scan_plaintext(v: Vault, probes: set[bytes]) -> tuple[list[Finding], int]:
    """Look for any record's distinctive words in clear under the blobs and logs folders.

    ``probes`` are keyed hashes (:func:`vault.access.probe_hash`) made inside the choke
    point: the scan hashes each word of each file with the same key and compares, so it
    never holds a record's words. Returns the findings (a path each) and files scanned."""
    key = access.probe_key(v)
    out: list[Finding] = []
    scanned = 0
    roots: list[Path] = [Path(v.config.blobs), Path(v.config.logs)]
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            scanned += 1
            try:
                words = _path_tokens(path)
                if any(access.probe_hash(key, token) in probes for token in words):
                    where = f"{root.name}/{path.relative_to(root)}"
                    out.append(Finding(Property.SECURITY, "plaintext_found", where=where))
            except OSError:
                continue
    return out, scanned


# ---- Reading the reports -----------------------------------------------------------------


def runs(v: Vault, db: Session, caller: Caller, *, limit: int = 50) -> list[CheckRun]:
    """The latest runs, newest first (auditors, admins, custodians)."""
    authz.require(v, db, caller, Action.CHECK_READ)
    return list(db.scalars(select(CheckRun).order_by(CheckRun.id.desc()).limit(limit)))


def report(v: Vault, db: Session, caller: Caller, run_id: int) -> Report:
    """One run's report."""
    authz.require(v, db, caller, Action.CHECK_READ)
    run = db.get(CheckRun, run_id)
    if run is None:
        raise NotFound("no such check run", code="check_run_not_found")
    rows = db.scalars(
        select(CheckFinding).where(CheckFinding.run_id == run_id).order_by(CheckFinding.id)
    )
    return Report(
        run=run,
        findings=[
            Finding(f.property, f.code, f.record_id, f.attachment_id, f.client_id, f.where)
            for f in rows
        ],
    )


def open_findings(db: Session, record_id: int) -> list[CheckFinding]:
    """A record's faults not yet found sound again (for its card; codes only)."""
    return list(
        db.scalars(
            select(CheckFinding)
            .where(
                CheckFinding.record_id == record_id,
                CheckFinding.resolved_by_run_id.is_(None),
            )
            .order_by(CheckFinding.id)
        )
    )


def open_client_findings(db: Session, client_id: int) -> list[CheckFinding]:
    """A client file's numbering faults still open."""
    return list(
        db.scalars(
            select(CheckFinding).where(
                CheckFinding.client_id == client_id,
                CheckFinding.record_id.is_(None),
                CheckFinding.resolved_by_run_id.is_(None),
            )
        )
    )


__all__ = [
    "CODES",
    "Finding",
    "Report",
    "canonical",
    "check_records",
    "open_client_findings",
    "open_findings",
    "report",
    "run_check",
    "runs",
    "scan_plaintext",
]
