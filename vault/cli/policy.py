"""The Cedar policies: ``policy validate|explain``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault.cli.common import EXIT_DENIED, Group, friendly, opened
from vault.errors import InvalidInput
from vault.people import directory
from vault.policy import Action


@click.group("policy", cls=Group)
def policy() -> None:
    """The Cedar policies."""


@policy.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def policy_validate(file: Path) -> None:
    """Check a site policy file against the schema (with the shipped policies)."""
    from importlib import resources

    from vault.policy import validate

    base = resources.files("vault.policy").joinpath("vault.cedar").read_text(encoding="utf-8")
    validate(base + "\n" + file.read_text(encoding="utf-8"))
    click.echo(f"{file}: valid")


@policy.command("explain")
@click.option("--person", "email", required=True)
@click.option("--action", "action_name", required=True, help="e.g. record:consult")
@click.option("--record", "record_id", type=int, default=None)
@friendly
def policy_explain(email: str, action_name: str, record_id: int | None) -> None:
    """Print the decision for PERSON doing ACTION on RECORD, and the rules behind it."""
    from vault import access

    try:
        action = Action(action_name)
    except ValueError:
        valid = ", ".join(sorted(a.value for a in Action))
        raise InvalidInput(
            f"unknown action {action_name!r}; valid actions: {valid}", code="invalid_action"
        ) from None
    with opened() as (v, db):
        result = access.explain(v, db, directory.get_by_email(db, email), action, record_id)
    verdict = "ALLOW" if result.allowed else "DENY"
    click.echo(f"{verdict}: {result.reason} - {result.message}")
    click.echo(f"policies: {', '.join(result.policy_ids) or '(none matched: deny by default)'}")
    for key, value in sorted(result.facts.items()):
        click.echo(f"  {key}: {value}")
    sys.exit(0 if result.allowed else EXIT_DENIED)
