"""Intake from a spreadsheet (Excel or CSV): the way small firms keep client files today.

One row per record, with its client's columns (filled on at least one of the client's
rows; a blank cell on another row says nothing). Headers and coded values may be
written in English or Chinese, in the words listed in :mod:`vault.archive.vocabulary`.
The whole file is checked first; every bad row is reported (line, column, reason)
and nothing is written when any row is bad, unless ``skip_bad``. Rows are then filed
through the same code as a deposit made by hand (:func:`vault.archive.records.create_client`,
:func:`vault.archive.records.deposit`): each record sealed under its own key and
audited. A re-run files nothing twice: each filed row leaves a keyed hash of its
natural key (client code, section, year, title, content) in ``imported_rows``."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.archive import records, vocabulary
from vault.authz import require
from vault.caller import Caller
from vault.errors import InvalidInput
from vault.models import Client, ClientKind, ImportedRow, Relationship, Section
from vault.policy import Action
from vault.runtime import Vault

BATCH = 500  # rows per transaction while writing


MAX_ROWS = 200_000


# The columns, in sheet order; the headers and values accepted for each, in English
# and Chinese, are in :mod:`vault.archive.vocabulary`.
COLUMNS: tuple[str, ...] = tuple(vocabulary.COLUMNS)


REQUIRED = ("client_code", "section", "title", "content")


CLIENT_FIELDS = ("client_name", "tier", "kind", "relationship", "tax_id", "bank_account")


@dataclass(frozen=True)
class RowError:
    """One problem with one cell (or the whole row when ``column`` is empty)."""

    line: int
    column: str
    reason: str
    code: str = ""  # a stable code where a page words the reason itself
    value: str = ""  # the cell as given, for a coded value not accepted


@dataclass(frozen=True)
class ClientRow:
    """A client as the sheet describes it."""

    code: str
    name: str
    tier: str
    kind: str
    relationship: str
    tax_id: str | None
    bank_account: str | None


@dataclass(frozen=True)
class Row:
    """One checked row, ready to file."""

    line: int
    client: ClientRow
    deposit: records.Deposit  # client_id is filled in when the client is known
    key: str


@dataclass
class ImportReport:
    """What an import found and did."""

    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    bad_rows: int = 0
    duplicates: int = 0  # already imported (earlier run) or repeated in the file
    clients_created: int = 0
    records_created: int = 0
    written: bool = False

    @property
    def rejected(self) -> bool:
        """Bad rows were found and nothing was written."""
        return bool(self.errors) and not self.written


def _map_header(cells: list[object]) -> list[str]:
    names = ["" if not vocabulary.normalise(c) else (vocabulary.column(c) or "?") for c in cells]
    unknown = [str(c).strip() for c, n in zip(cells, names, strict=True) if n == "?"]
    if unknown:
        raise InvalidInput(
            f"unknown column(s): {', '.join(unknown)}; accepted columns (English / 中文): "
            f"{vocabulary.accepted_columns()}",
            code="import_unknown_column",
            columns=unknown,
        )
    present = [n for n in names if n]
    doubled = sorted({n for n in present if present.count(n) > 1})
    if doubled:
        given = [
            ", ".join(str(c).strip() for c, n in zip(cells, names, strict=True) if n == d)
            + f" (all {d})"
            for d in doubled
        ]
        raise InvalidInput(
            f"column(s) given twice: {'; '.join(given)}",
            code="import_duplicate_column",
            columns=doubled,
        )
    missing = tuple(c for c in REQUIRED if c not in present)
    if missing:
        raise InvalidInput(
            f"missing column(s): {', '.join(vocabulary.COLUMNS[c].shown() for c in missing)};"
            f" accepted headers (English / 中文): {vocabulary.accepted_columns(missing)}",
            code="import_missing_column",
            columns=list(missing),
        )
    return names


def read_sheet(
    path: Path, stream: IO[bytes] | None = None
) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield ``(line, {column: value})`` for each non-empty row of an .xlsx or .csv file.

    ``stream``, when given, holds the file's bytes (an upload) and ``path`` only names it:
    nothing of the sheet is written to disk by the importer."""
    suffix = path.suffix.lower()
    source: Path | IO[bytes] = path if stream is None else stream
    if suffix == ".csv":
        yield from _read_csv(source)
    elif suffix in (".xlsx", ".xlsm"):
        yield from _read_xlsx(source)
    else:
        raise InvalidInput("import reads .xlsx or .csv files", code="import_unsupported_file")


def _read_csv(source: Path | IO[bytes]) -> Iterator[tuple[int, dict[str, object]]]:
    data = source.read_bytes() if isinstance(source, Path) else source.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV file is not UTF-8", code="import_bad_encoding") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    names: list[str] | None = None
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if names is None:
                names = _map_header(list(cells))
                continue
            yield reader.line_num, _cells(names, list(cells))
    except csv.Error as exc:
        raise InvalidInput(f"line {reader.line_num}: {exc}", code="import_bad_csv") from None
    if names is None:
        raise InvalidInput("the file is empty", code="import_empty")


def _read_xlsx(source: Path | IO[bytes]) -> Iterator[tuple[int, dict[str, object]]]:
    from zipfile import BadZipFile

    import openpyxl

    try:
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except (BadZipFile, OSError, KeyError, ValueError):
        raise InvalidInput("not a readable .xlsx workbook", code="import_bad_xlsx") from None
    try:
        sheet = book.worksheets[0]
        names: list[str] | None = None
        for line, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            if not any(c is not None and str(c).strip() for c in cells):
                continue
            if names is None:
                names = _map_header(list(cells))
                continue
            yield line, _cells(names, list(cells))
        if names is None:
            raise InvalidInput("the workbook's first sheet is empty", code="import_empty")
    finally:
        book.close()


def _cells(names: list[str], cells: list[object]) -> dict[str, object]:
    row: dict[str, object] = {}
    for name, value in zip(names, cells, strict=False):
        if name and value is not None and not (isinstance(value, str) and not value.strip()):
            row[name] = value.strip() if isinstance(value, str) else value
    if len(cells) > len(names) and any(str(c or "").strip() for c in cells[len(names) :]):
        row["__extra__"] = True
    return row


# A day as offices write it, year first: 2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日.
_DAY = re.compile(r"(\d{4})(?:-|/|\.|年)(\d{1,2})(?:-|/|\.|月)(\d{1,2})日?")


class _Checker:
    """Checks one row at a time, collecting every problem rather than stopping at one."""

    def __init__(self, v: Vault, line: int, raw: dict[str, object]) -> None:
        self.v, self.line, self.raw = v, line, raw
        self.errors: list[RowError] = []

    def fail(self, column: str, reason: str, *, code: str = "", value: str = "") -> None:
        self.errors.append(RowError(self.line, column, reason, code, value))

    def text(self, name: str, max_len: int, *, required: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                self.fail(name, "required")
            return None
        text = str(value).strip()
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))  # a spreadsheet turned "1234" into 1234.0
        if len(text) > max_len:
            self.fail(name, f"longer than {max_len} characters")
            return None
        return text

    def choice(self, name: str, default: str | None) -> str | None:
        """A coded value (tier, section, kind, relationship) in any of its accepted words."""
        given = self.text(name, 32, required=default is None)
        if given is None:
            return default
        value = vocabulary.value(name, given)
        if value is None:
            self.fail(
                name,
                f"{given!r} is not accepted; accepted values (English / 中文): "
                f"{vocabulary.accepted_values(name)}",
                code="import_unknown_value",
                value=given,
            )
        return value

    def day(self, name: str) -> date | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        match = _DAY.fullmatch(vocabulary.normalise_text(value))
        try:
            if match is None:
                raise ValueError(value)
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            self.fail(name, "not a date (YYYY-MM-DD, YYYY/M/D or YYYY年M月D日)")
            return None

    def year(self, doc_date: date | None) -> int | None:
        value = self.raw.get("year")
        if value is None:
            return doc_date.year if doc_date else date.today().year
        text = vocabulary.normalise_text(value).removesuffix("年度").removesuffix("年")
        try:
            number = int(float(text))
        except ValueError:
            self.fail("year", "not a whole number")
            return None
        if not 1900 <= number <= date.today().year + 1:
            self.fail("year", f"must be between 1900 and {date.today().year + 1}")
            return None
        return number


def _row_key(v: Vault, code: str, section: int, year: int, title: str, content: bytes) -> str:
    """The blind index of a row's natural key: nothing about the row is stored in clear."""
    digest = hashlib.new(v.suite.mac_hash)  # SHA-256, or SM3 under the national suite
    for part in (code, str(section), str(year), title):
        digest.update(part.encode() + b"\x1f")
    digest.update(content)
    return v.index(digest.hexdigest(), purpose="import.row")


def check_row(v: Vault, line: int, raw: dict[str, object]) -> tuple[Row | None, list[RowError]]:
    """Check one row the way a deposit by hand would be checked; return it or its problems."""
    c = _Checker(v, line, raw)
    if raw.get("__extra__"):
        c.fail("", "more cells than the header has columns")
    code = vocabulary.normalise_text(c.text("client_code", 32, required=True) or "").upper()
    if code and not records.CODE.match(code):
        c.fail("client_code", "2-32 of A-Z, 0-9, _")
    name = c.text("client_name", 200) or ""
    tier = c.choice("tier", "")
    kind = c.choice("kind", "")  # blank: the client's other rows say, or the default
    relationship = c.choice("relationship", "")
    tax_id = c.text("tax_id", 64)
    bank = c.text("bank_account", 64)
    for fname, value in (("tax_id", tax_id), ("bank_account", bank)):
        if value is not None:
            try:
                v.index(value, purpose=f"client.{fname}")
            except InvalidInput:
                c.fail(fname, "nothing usable in the value")
    section_name = c.choice("section", None)
    section = Section[section_name.upper()] if section_name else None
    title = c.text("title", 300, required=True)
    doc_type = c.text("doc_type", 64) or ""
    doc_date = c.day("doc_date")
    valid_until = c.day("valid_until")
    year = c.year(doc_date)
    content_text = c.text("content", v.config.max_content_bytes, required=True)
    content = (content_text or "").encode("utf-8")
    if len(content) > v.config.max_content_bytes:
        c.fail("content", "larger than allowed")
    if valid_until is not None and section is not None:
        if section is not Section.CREDIT:
            c.fail("valid_until", "applies to credit reports only")
        else:
            try:
                records.check_validity(doc_date or date.today(), valid_until)
            except InvalidInput as exc:
                c.fail("valid_until", exc.message)
    if c.errors or section is None or year is None or not title or not code:
        return None, c.errors
    client = ClientRow(code, name, tier or "", kind or "", relationship or "", tax_id, bank)
    deposit = records.Deposit(
        client_id=0,
        section=int(section),
        title=title,
        content=content,
        year=year,
        doc_type=doc_type,
        doc_date=doc_date,
        valid_until=valid_until,
    )
    return Row(line, client, deposit, _row_key(v, code, int(section), year, title, content)), []


def _client_conflicts(known: ClientRow, row: ClientRow, line: int) -> list[RowError]:
    """The same client code must describe the same client on every row that says anything."""
    out = []
    for fname in CLIENT_FIELDS:
        attr = "name" if fname == "client_name" else fname
        a, b = getattr(known, attr), getattr(row, attr)
        if b and a and a != b:
            out.append(RowError(line, fname, f"differs from an earlier row for {row.code}"))
    return out


def _merge(known: ClientRow, row: ClientRow) -> ClientRow:
    """What the rows so far say of a client: a blank cell leaves an earlier row's value."""
    return ClientRow(
        code=known.code,
        name=known.name or row.name,
        tier=known.tier or row.tier,
        kind=known.kind or row.kind,
        relationship=known.relationship or row.relationship,
        tax_id=known.tax_id or row.tax_id,
        bank_account=known.bank_account or row.bank_account,
    )


def _against_existing(v: Vault, existing: Client, row: ClientRow, line: int) -> list[RowError]:
    """A row naming a client already in the vault must agree with it (nothing is updated)."""
    out = []
    for fname, given, stored in (
        ("client_name", row.name, existing.name),
        ("tier", row.tier, existing.tier),
    ):
        if given and given != stored:
            out.append(RowError(line, fname, f"client {row.code} exists with {fname} {stored!r}"))
    for fname in ("tax_id", "bank_account"):
        given = getattr(row, fname)
        stored_idx = getattr(existing, f"{fname}_bidx")
        if given and stored_idx and stored_idx not in v.indexes(given, purpose=f"client.{fname}"):
            out.append(RowError(line, fname, f"does not match the {fname} on file"))
    return out


def check_sheet(
    v: Vault, db: Session, path: Path, stream: IO[bytes] | None = None
) -> tuple[list[Row], ImportReport, dict[str, Client]]:
    """Read and check the whole file; nothing is written."""
    report = ImportReport()
    good: list[Row] = []
    described: dict[str, ClientRow] = {}  # a client's columns may be filled on one row only
    bad_lines: set[int] = set()
    for line, raw in read_sheet(path, stream):
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise InvalidInput(f"at most {MAX_ROWS} rows per import", code="import_too_large")
        row, errors = check_row(v, line, raw)
        if row is not None:
            known = described.setdefault(row.client.code, row.client)
            errors = _client_conflicts(known, row.client, line)
            if not errors:
                described[row.client.code] = _merge(known, row.client)
        report.errors += errors
        if errors:
            bad_lines.add(line)
        elif row is not None:
            good.append(row)
    codes = sorted({r.client.code for r in good})
    existing: dict[str, Client] = {}
    for chunk in _chunks(codes, 500):
        found = db.scalars(select(Client).where(Client.code.in_(chunk)))
        existing.update((c.code, c) for c in found)
    kept: list[Row] = []
    for row in good:
        client = existing.get(row.client.code)
        if client is not None:
            errors = _against_existing(v, client, row.client, row.line)
        else:
            whole = described[row.client.code]
            errors = [
                RowError(row.line, col, f"required for the new client {row.client.code}")
                for col, value in (("client_name", whole.name), ("tier", whole.tier))
                if not value
            ]
            row = Row(row.line, whole, row.deposit, row.key)
        if errors:
            report.errors += errors
            bad_lines.add(row.line)
        else:
            kept.append(row)
    report.bad_rows = len(bad_lines)
    report.errors.sort(key=lambda e: (e.line, e.column))
    return kept, report, existing


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_file(
    v: Vault,
    db: Session,
    caller: Caller,
    path: Path,
    *,
    stream: IO[bytes] | None = None,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import clients and records from ``path`` (or ``stream``, which ``path`` then only
    names); see the module docstring for the rules.

    ``progress`` is called after each batch of ``BATCH`` rows: the CLI commits there, so
    that a long import keeps what it filed and a re-run after a crash takes up where it
    stopped (rows already imported are recognised by their key). Otherwise the whole
    import is the caller's one unit of work.

    Returns:
        The report. When rows are bad and ``skip_bad`` is false, ``report.rejected``
        is true and nothing was written.
    """
    require(v, db, caller, Action.CLIENT_CREATE)
    require(v, db, caller, Action.RECORD_DEPOSIT)
    rows, report, clients = check_sheet(v, db, path, stream)
    if report.errors and not skip_bad:
        return report
    seen: set[str] = set()
    fresh: list[Row] = []
    for chunk in _chunks([r.key for r in rows], 500):
        seen.update(db.scalars(select(ImportedRow.row_key).where(ImportedRow.row_key.in_(chunk))))
    for row in rows:
        if row.key in seen:
            report.duplicates += 1
            continue
        seen.add(row.key)
        fresh.append(row)
    if on_total is not None:
        on_total(len(fresh))
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start : start + BATCH]
        created = 0
        for row in batch:
            client = clients.get(row.client.code)
            if client is None:
                client = records.create_client(
                    v,
                    db,
                    caller,
                    code=row.client.code,
                    name=row.client.name,
                    tier=row.client.tier,
                    kind=row.client.kind or ClientKind.COMPANY.value,
                    relationship=row.client.relationship or Relationship.ACTIVE.value,
                    tax_id=row.client.tax_id,
                    bank_account=row.client.bank_account,
                )
                clients[client.code] = client
                created += 1
            d = row.deposit
            record = records.deposit(
                v,
                db,
                caller,
                records.Deposit(
                    client_id=client.id,
                    section=d.section,
                    title=d.title,
                    content=d.content,
                    year=d.year,
                    doc_type=d.doc_type,
                    doc_date=d.doc_date,
                    valid_until=d.valid_until,
                ),
            )
            db.add(ImportedRow(row_key=row.key, record_id=record.id))
        report.clients_created += created
        report.records_created += len(batch)
        if progress is not None:
            progress(len(batch))
    report.written = True
    return report


SUFFIXES = (".csv", ".xlsx", ".xlsm")


def import_upload(
    v: Vault,
    db: Session,
    caller: Caller,
    filename: str,
    stream: IO[bytes],
    *,
    skip_bad: bool = False,
) -> ImportReport:
    """Import a spreadsheet sent from the pages (custodians and admins: ``client:import``).

    The upload is read from its stream (never copied to disk by the importer); the rows
    are filed by :func:`import_file`, in the request's one unit of work.
    """
    require(v, db, caller, Action.CLIENT_IMPORT)
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput("import reads .xlsx or .csv files", code="import_unsupported_file")
    return import_file(v, db, caller, Path(f"upload{suffix}"), stream=stream, skip_bad=skip_bad)
