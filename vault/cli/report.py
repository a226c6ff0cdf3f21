"""Reports for auditors: ``report departure``."""

from __future__ import annotations

import sys

import click

from vault import csvout
from vault.cli.common import Group, _as, friendly, opened
from vault.people import departures, directory


@click.group("report", cls=Group)
def report() -> None:
    """Reports for auditors."""


@report.command("departure")
@click.argument("email")
@click.option("--as", "as_email", required=True, help="the auditor's or admin's e-mail")
@click.option("--days", type=int, default=None)
@click.option("--csv", "as_csv", is_flag=True)
@friendly
def report_departure(email: str, as_email: str, days: int | None, as_csv: bool) -> None:
    """Every record and client EMAIL consulted, copied, borrowed or deposited lately."""
    with opened() as (v, db):
        auditor, person = _as(db, as_email), directory.get_by_email(db, email)
        touches = departures.departure_report(v, db, auditor, person, days)
        read = departures.pages_read(v, db, auditor, person, days)
    if as_csv:
        writer = csvout.writer(sys.stdout)
        writer.writerow(["time", "action", "file_number", "client_code", "client_name", "tier"])
        for t in touches:
            writer.writerow(
                [t.time.isoformat(), t.action, t.file_number, t.client_code, t.client_name, t.tier]
            )
        return
    clients = sorted({(t.client_code, t.client_name, t.tier) for t in touches if t.client_code})
    click.echo(f"{len(touches)} uses of {len(clients)} client(s) by {email}:")
    for t in touches:
        click.echo(
            f"  {t.time:%Y-%m-%d %H:%M}  {t.action:<15} {t.file_number or '-':<22} "
            f"{t.client_code} ({t.tier})"
        )
    click.echo("Clients to call: " + ", ".join(f"{c} {n}" for c, n, _ in clients))
    click.echo(
        f"List pages read: {read['catalogue']} of the catalogue, {read['clients']} of the clients"
    )
