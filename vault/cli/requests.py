"""Temporary access requests, acting as a named person: ``requests new|list|approve|deny``."""

from __future__ import annotations

import click

from vault.cli.common import Group, _as, friendly, opened
from vault.grants import requests as requests_


@click.group("requests", cls=Group)
def requests() -> None:
    """Temporary access requests (acting as a named person)."""


@requests.command("new")
@click.option("--as", "as_email", required=True, help="the requester's e-mail")
@click.option("--record", "record_id", type=int, default=None)
@click.option("--client", "client_id", type=int, default=None)
@click.option("--action", "actions", multiple=True, default=["consult"], show_default=True)
@click.option("--reason", required=True)
@click.option("--hours", type=int, default=None)
@click.option("--minutes", type=int, default=None)
@friendly
def requests_new(
    as_email: str,
    record_id: int | None,
    client_id: int | None,
    actions: tuple[str, ...],
    reason: str,
    hours: int | None,
    minutes: int | None,
) -> None:
    """Ask for temporary access to one record or one client file."""
    with opened() as (v, db):
        req = requests_.request_access(
            v,
            db,
            _as(db, as_email),
            requests_.Ask(
                reason=reason,
                actions=actions,
                record_id=record_id,
                client_id=client_id,
                duration_hours=hours,
                duration_minutes=minutes,
            ),
        )
    click.echo(f"request #{req.id} filed; needs {req.approvals_needed} approval(s)")


@requests.command("list")
@click.option("--as", "as_email", required=True)
@click.option("--waiting", is_flag=True, help="requests waiting for me as custodian")
@friendly
def requests_list(as_email: str, waiting: bool) -> None:
    """List my requests, or those waiting for me."""
    from vault.db import utcnow

    with opened() as (v, db):
        who = _as(db, as_email)
        assert who.person is not None
        now = utcnow()
        for r in requests_.requests_for(
            db, who.person, mine=not waiting, status=None, v=v, limit=100, offset=0
        ):
            target = f"record {r.record_id}" if r.record_id else f"client {r.client_id}"
            click.echo(
                f"#{r.id:<5} {r.status_at(now):<9} {target:<14} {','.join(r.actions):<14} "
                f"{len(r.approvals)}/{r.approvals_needed}  {r.reason[:50]}"
            )


@requests.command("approve")
@click.argument("request_id", type=int)
@click.option("--as", "as_email", required=True, help="the approving custodian's e-mail")
@click.option("--note", default="")
@friendly
def requests_approve(request_id: int, as_email: str, note: str) -> None:
    """Approve a request (a custodian in scope; never one's own)."""
    with opened() as (v, db):
        req = requests_.approve(v, db, _as(db, as_email), request_id, note)
        approvals = len(req.approvals)
    click.echo(f"request #{req.id}: {req.status} ({approvals}/{req.approvals_needed} approvals)")


@requests.command("deny")
@click.argument("request_id", type=int)
@click.option("--as", "as_email", required=True)
@click.option("--note", default="")
@friendly
def requests_deny(request_id: int, as_email: str, note: str) -> None:
    """Turn a request down."""
    with opened() as (v, db):
        req = requests_.deny(v, db, _as(db, as_email), request_id, note)
    click.echo(f"request #{req.id}: {req.status}")
