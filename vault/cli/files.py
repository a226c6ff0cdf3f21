"""Dynamic management of client files: ``files due|stale|reviewed``."""

from __future__ import annotations

import click

from vault.caller import Caller
from vault.cli.common import Group, _as, friendly, opened


@click.group("files", cls=Group)
def files() -> None:
    """Dynamic management of client files: review cycles and stale credit reports."""


@files.command("due")
@click.option("--as", "as_email", default=None, help="list for this custodian's tiers")
@click.option("--within", default=0, show_default=True, type=int, help="days ahead")
@friendly
def files_due(as_email: str | None, within: int) -> None:
    """Client files due for review (every tier for the operator)."""
    from vault.archive import file_reviews

    with opened() as (v, db):
        who = _as(db, as_email) if as_email else Caller.operator()
        due = file_reviews.due_for_review(v, db, who, within_days=within)
        for d in due:
            last = f"{d.last_reviewed_at:%Y-%m-%d}" if d.last_reviewed_at else "never"
            late = f"{d.days_overdue} days overdue" if d.days_overdue > 0 else f"due {d.due_on}"
            click.echo(f"{d.client.code:<16} {d.client.tier:<8} last reviewed {last:<10}  {late}")
    click.echo(f"{len(due)} client file(s) due for review")


@files.command("stale")
@click.option("--as", "as_email", default=None, help="list for this custodian's tiers")
@friendly
def files_stale(as_email: str | None) -> None:
    """Clients whose newest credit report is past its valid_until."""
    from vault.archive import file_reviews

    with opened() as (v, db):
        who = _as(db, as_email) if as_email else Caller.operator()
        stale = file_reviews.stale_credit_reports(v, db, who)
        for r in stale:
            click.echo(f"{r.file_number:<24} valid until {r.valid_until}  {r.client.code}")
    click.echo(f"{len(stale)} stale credit report(s)")


@files.command("reviewed")
@click.argument("client_code")
@click.option("--as", "as_email", required=True, help="the reviewing custodian's e-mail")
@friendly
def files_reviewed(client_code: str, as_email: str) -> None:
    """Mark a client file reviewed (custodian in scope; audited)."""
    from sqlalchemy import select

    from vault.archive import file_reviews
    from vault.errors import NotFound
    from vault.models import Client

    with opened() as (v, db):
        client = db.scalar(select(Client).where(Client.code == client_code.strip().upper()))
        if client is None:
            raise NotFound(f"no client {client_code}", code="client_not_found")
        done = file_reviews.mark_reviewed(v, db, _as(db, as_email), client.id)
    click.echo(f"{client.code} reviewed at {done.reviewed_at:%Y-%m-%d %H:%M} UTC")
