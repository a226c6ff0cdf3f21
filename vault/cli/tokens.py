"""API bearer tokens: ``tokens issue``."""

from __future__ import annotations

import click

from vault.caller import Caller
from vault.cli.common import Group, friendly, opened
from vault.identity import tokens as tokens_
from vault.people import directory


@click.group("tokens", cls=Group)
def tokens() -> None:
    """API bearer tokens."""


@tokens.command("issue")
@click.argument("email")
@click.option("--label", default="cli")
@friendly
def tokens_issue(email: str, label: str) -> None:
    """Issue a bearer token for EMAIL; prints it once on stdout."""
    with opened() as (v, db):
        person = directory.get_by_email(db, email)
        token = tokens_.issue_token(v, db, Caller.operator(), person, label)
    click.echo(token)  # only once it is stored: a token printed but never saved would not work
