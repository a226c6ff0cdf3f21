"""Live grants: ``grants revoke``."""

from __future__ import annotations

import click

from vault.cli.common import Group, _as, friendly, opened
from vault.grants import live


@click.group("grants", cls=Group)
def grants() -> None:
    """Grants."""


@grants.command("revoke")
@click.argument("grant_id", type=int)
@click.option("--as", "as_email", required=True, help="a custodian in scope or an admin")
@click.option("--reason", default="revoked")
@friendly
def grants_revoke(grant_id: int, as_email: str, reason: str) -> None:
    """Revoke a grant now."""
    with opened() as (v, db):
        live.revoke(v, db, _as(db, as_email), grant_id, reason)
    click.echo(f"grant #{grant_id} revoked")
