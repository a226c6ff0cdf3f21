"""People under review after crossing the export quota: ``review clear``."""

from __future__ import annotations

import click

from vault.cli.common import Group, _as, friendly, opened
from vault.people import directory


@click.group("review", cls=Group)
def review() -> None:
    """People under review after crossing the export quota."""


@review.command("clear")
@click.argument("email")
@click.option("--as", "as_email", required=True, help="the auditor's e-mail")
@click.option("--note", required=True)
@friendly
def review_clear(email: str, as_email: str, note: str) -> None:
    """Clear EMAIL (an auditor's act)."""
    from vault.oversight import alerts

    with opened() as (v, db):
        alerts.clear_review(v, db, _as(db, as_email), directory.get_by_email(db, email), note)
    click.echo(f"{email} cleared")
