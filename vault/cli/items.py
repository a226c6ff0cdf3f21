"""Physical folders and media that hold records: ``items add``."""

from __future__ import annotations

import click

from vault.cli.common import Group, _as, friendly, opened


@click.group("items", cls=Group)
def items() -> None:
    """Physical folders and media that hold records."""


@items.command("add")
@click.argument("record_id", type=int)
@click.option("--kind", default="folder", show_default=True, help="folder, binder, box, media")
@click.option("--label", required=True)
@click.option("--location", required=True, help="the shelf, e.g. 'Room 2, shelf B4'")
@click.option("--as", "as_email", required=True, help="the custodian's e-mail")
@friendly
def items_add(record_id: int, kind: str, label: str, location: str, as_email: str) -> None:
    """Register an item holding RECORD_ID (custodian in scope)."""
    from vault.custody import loans

    with opened() as (v, db):
        item = loans.add_item(
            v, db, _as(db, as_email), record_id, kind=kind, label=label, location=location
        )
    click.echo(f"item {item.id}: {item.label} at {item.location}")
