"""Appraisal: ``retention show|check|propose|record|end``, ``hold place|list|lift``,
``disposal due|propose|approve|countersign|reject|batches|certificate|verify``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import click

from vault.appraisal import certificates, disposal, holds, retention
from vault.caller import Caller
from vault.cli.common import EXIT_FAILED, Group, _as, friendly, opened
from vault.errors import InvalidInput


def _caller(db, by: str | None) -> Caller:
    return _as(db, by) if by else Caller.operator()


def _text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{file} is not UTF-8 text", code="invalid_schedule") from None


@click.group("retention", cls=Group)
def retention_() -> None:
    """The retention schedule: rules, disposal dates, changes by two admins."""


@retention_.command("show")
@click.option("--by", default=None, help="read as this person (default: the operator)")
@click.option("--text", "as_text", is_flag=True, help="print the schedule's TOML text")
@friendly
def retention_show(by: str | None, as_text: bool) -> None:
    """Print the schedule in force: where it comes from and each rule."""
    with opened() as (v, db):
        got = retention.read(v, db, _caller(db, by))
    if as_text:
        click.echo(got.text, nl=False)
        return
    click.echo(f"schedule: {got.source} (sha256 {got.sha256[:16]})")
    for r in got.schedule.rules:
        kinds = ",".join(r.client_kinds) or "any kind"
        docs = ",".join(r.doc_types) or "any document"
        span = "permanent" if r.anchor == "permanent" else f"{r.years} y after {r.anchor}"
        click.echo(f"  {r.id:<22} {r.section:<13} {kinds:<18} {docs:<24} {span}")


@retention_.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def retention_check(file: Path) -> None:
    """Validate a schedule file (the vault refuses to start on a bad one)."""
    schedule = retention.parse(_text(file), str(file))
    click.echo(f"{file}: valid, {len(schedule.rules)} rules")


@retention_.command("propose")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--by", required=True, help="the proposing admin's e-mail")
@click.option("--reason", required=True, help="why (kept with the proposal)")
@friendly
def retention_propose(file: Path, by: str, reason: str) -> None:
    """Propose FILE as the schedule (two-person rule: in force once a second admin approves)."""
    text = _text(file)
    with opened() as (v, db):
        p = retention.propose(v, db, _as(db, by), text, reason)
        pid = p.id
    click.echo(
        f"proposed, awaiting a second admin: #{pid}. Another admin approves with "
        f"'archive-vault proposals approve {pid} --by EMAIL'."
    )


@retention_.command("record")
@click.argument("record_id", type=int)
@friendly
def retention_record(record_id: int) -> None:
    """Print a record's rule, disposal date and state."""
    from vault.archive import records

    with opened() as (v, db):
        got = retention.retention_for(v, db, records.get_record(db, record_id))
    when = got.due_on.isoformat() if got.due_on else "-"
    click.echo(f"record {record_id}: rule {got.rule}, disposal date {when}, {got.state}")


@retention_.command("end")
@click.argument("client_id", type=int)
@click.option("--on", "ended_on", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--by", required=True, help="a custodian of the client's tier")
@friendly
def retention_end(client_id: int, ended_on, by: str) -> None:
    """Record that the relationship with CLIENT_ID ended ON a day (dates follow, audited)."""
    with opened() as (v, db):
        c = retention.end_relationship(v, db, _as(db, by), client_id, ended_on.date())
        code = c.code
    click.echo(f"client {code}: relationship ended {ended_on.date().isoformat()}")


@click.group("hold", cls=Group)
def hold() -> None:
    """Legal holds: placed by one person, lifted by two admins."""


@hold.command("place")
@click.option("--client", "client_id", type=int, default=None, help="a client's whole file")
@click.option("--record", "record_ids", type=int, multiple=True, help="a record (repeat)")
@click.option("--reason", required=True)
@click.option("--by", required=True, help="a custodian of the tier, or an admin")
@friendly
def hold_place(client_id: int | None, record_ids: tuple[int, ...], reason: str, by: str) -> None:
    """Place a legal hold on a client's file or on records."""
    with opened() as (v, db):
        h = holds.place(
            v, db, _as(db, by), reason=reason, client_id=client_id, record_ids=record_ids
        )
        hid = h.id
    click.echo(f"hold #{hid} placed")


@hold.command("list")
@click.option("--all", "show_all", is_flag=True, help="lifted holds too")
@click.option("--by", default=None, help="read as this person (default: the operator)")
@friendly
def hold_list(show_all: bool, by: str | None) -> None:
    """The legal holds (in force, unless --all)."""
    with opened() as (v, db):
        found = holds.listing(v, db, _caller(db, by), active_only=not show_all)
    for h in found:
        what = f"client {h.client_code}" if h.client_code else f"records {list(h.record_ids)}"
        state = f"lifted {h.lifted_at:%Y-%m-%d}" if h.lifted_at else "in force"
        click.echo(f"#{h.id} {what}: {h.reason} (by {h.placed_by}, {state})")
    if not found:
        click.echo("no holds")


@hold.command("lift")
@click.argument("hold_id", type=int)
@click.option("--reason", required=True)
@click.option("--by", required=True, help="the proposing admin's e-mail")
@friendly
def hold_lift(hold_id: int, reason: str, by: str) -> None:
    """Propose lifting a hold (two-person rule: lifted once a second admin approves)."""
    with opened() as (v, db):
        p = holds.propose_lift(v, db, _as(db, by), hold_id, reason)
        pid = p.id
    click.echo(
        f"proposed, awaiting a second admin: #{pid}. Another admin approves with "
        f"'archive-vault proposals approve {pid} --by EMAIL'."
    )


@click.group("disposal", cls=Group)
def disposal_() -> None:
    """Disposal: records past their date, batches, approvals, certificates."""


@disposal_.command("due")
@click.option("--by", default=None, help="read as this person (default: the operator)")
@click.option("--limit", type=click.IntRange(1, 10_000), default=500)
@click.option("--json", "as_json", is_flag=True)
@friendly
def disposal_due(by: str | None, limit: int, as_json: bool) -> None:
    """Records past their retention date and not held."""
    with opened() as (v, db):
        found = disposal.due(v, db, _caller(db, by), limit=limit)
        rows = [
            {
                "id": d.record.id,
                "file_number": d.record.file_number,
                "title": d.record.title,
                "rule": d.retention.rule,
                "disposal_date": d.retention.due_on.isoformat() if d.retention.due_on else None,
            }
            for d in found
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r['id']:>6} {r['file_number']:<22} {r['rule']:<16} {r['disposal_date']}")
    click.echo(f"{len(rows)} record(s) due")


@disposal_.command("propose")
@click.argument("record_ids", type=int, nargs=-1, required=True)
@click.option("--reason", required=True)
@click.option("--by", required=True, help="a custodian of the records' tiers")
@friendly
def disposal_propose(record_ids: tuple[int, ...], reason: str, by: str) -> None:
    """Propose a disposal batch of due records."""
    with opened() as (v, db):
        b = disposal.propose(v, db, _as(db, by), record_ids, reason)
        bid, core = b.id, b.needs_custodian
    also = " and a second custodian of core clients" if core else ""
    click.echo(f"batch #{bid} proposed: an admin{also} must approve it")


def _decided(b) -> str:
    if b.status == "disposed":
        return f"batch #{b.id} carried out: records crypto-shredded, certificate stored"
    missing = []
    if b.admin_approved_by_id is None:
        missing.append("an admin's approval")
    if b.needs_custodian and b.custodian_approved_by_id is None:
        missing.append("a second custodian's countersignature")
    return f"batch #{b.id}: waiting for {' and '.join(missing)}"


@disposal_.command("approve")
@click.argument("batch_id", type=int)
@click.option("--by", required=True, help="an admin who did not propose it")
@click.option("--note", default="")
@friendly
def disposal_approve(batch_id: int, by: str, note: str) -> None:
    """Approve a batch as an admin; it is carried out once complete."""
    with opened() as (v, db):
        line = _decided(disposal.approve(v, db, _as(db, by), batch_id, note))
    click.echo(line)


@disposal_.command("countersign")
@click.argument("batch_id", type=int)
@click.option("--by", required=True, help="a custodian of core clients, not the proposer")
@click.option("--note", default="")
@friendly
def disposal_countersign(batch_id: int, by: str, note: str) -> None:
    """Countersign a batch holding core records."""
    with opened() as (v, db):
        line = _decided(disposal.countersign(v, db, _as(db, by), batch_id, note))
    click.echo(line)


@disposal_.command("reject")
@click.argument("batch_id", type=int)
@click.option("--by", required=True)
@click.option("--note", required=True)
@friendly
def disposal_reject(batch_id: int, by: str, note: str) -> None:
    """Turn a batch down (an admin, with a note)."""
    with opened() as (v, db):
        disposal.reject(v, db, _as(db, by), batch_id, note)
    click.echo(f"batch #{batch_id} turned down")


@disposal_.command("batches")
@click.option("--by", default=None)
@friendly
def disposal_batches(by: str | None) -> None:
    """Disposal batches, newest first."""
    with opened() as (v, db):
        found = disposal.batches(v, db, _caller(db, by))
        lines = [
            f"#{b.id} {b.status:<9} {len(disposal.items(db, b))} record(s): {b.reason}"
            for b in found
        ]
    click.echo("\n".join(lines) if lines else "no batches")


@disposal_.command("certificate")
@click.argument("batch_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--by", default=None)
@friendly
def disposal_certificate(batch_id: int, out: Path, by: str | None) -> None:
    """Write a batch's destruction certificate (PDF) and its signature (OUT.sig, base64)."""
    with opened() as (v, db):
        cert = disposal.certificate(v, db, _caller(db, by), batch_id)
        pdf, sig, sha = cert.pdf, cert.signature, cert.sha256
    out.write_bytes(pdf)
    Path(f"{out}.sig").write_text(base64.b64encode(sig).decode() + "\n")
    click.echo(f"{out}: sha256 {sha}")


@disposal_.command("verify")
@click.argument("pdf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--signature", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def disposal_verify(pdf: Path, signature: Path | None) -> None:
    """Check a certificate's signature against this vault's audit signing key."""
    sig_path = signature or Path(f"{pdf}.sig")
    try:
        sig = base64.b64decode(sig_path.read_text().strip(), validate=True)
    except (OSError, ValueError):
        raise InvalidInput(f"{sig_path} holds no signature", code="invalid_signature") from None
    with opened() as (v, _db):
        ok = certificates.verify(v, pdf.read_bytes(), sig)
    if not ok:
        click.echo(f"{pdf}: signature INVALID", err=True)
        raise SystemExit(EXIT_FAILED)
    click.echo(f"{pdf}: signature valid")


__all__ = ["disposal_", "hold", "retention_"]
