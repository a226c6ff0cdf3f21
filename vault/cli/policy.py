"""The Cedar policies: ``policy validate|explain|load|unload|show``."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click

from vault.cli.common import EXIT_DENIED, Group, _as, friendly, opened
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
@click.option(
    "--action",
    "action_name",
    required=True,
    metavar="RESOURCE:VERB",
    help="e.g. record:consult, record:copy, item:borrow (a wrong one lists them all)",
)
@click.option("--record", "record_id", type=int, default=None)
@friendly
def policy_explain(email: str, action_name: str, record_id: int | None) -> None:
    """Print the decision for PERSON doing ACTION on RECORD, and the rules behind it."""
    from vault import access

    action = _action(action_name)
    with opened() as (v, db):
        result = access.explain(v, db, directory.get_by_email(db, email), action, record_id)
    verdict = "ALLOW" if result.allowed else "DENY"
    click.echo(f"{verdict}: {result.reason} - {result.message}")
    click.echo(f"policies: {', '.join(result.policy_ids) or '(none matched: deny by default)'}")
    for key, value in sorted(result.facts.items()):
        click.echo(f"  {key}: {value}")
    sys.exit(0 if result.allowed else EXIT_DENIED)


def _action(name: str) -> Action:
    """The action named ``name``, or ``invalid_action`` (exit 2) listing the valid ones."""
    try:
        return Action(name)
    except ValueError:
        pass
    values = sorted(a.value for a in Action)
    guesses = [v for v in values if name and v.split(":", 1)[-1] == name.split(":")[-1]]
    guesses += [g for g in difflib.get_close_matches(name, values, n=3) if g not in guesses]
    hint = f" (did you mean {' or '.join(guesses)}?)" if guesses else ""
    raise InvalidInput(
        f"unknown action {name!r}{hint}; actions are written resource:verb. "
        f"Valid actions: {', '.join(values)}",
        code="invalid_action",
    )


def _propose_site_policy(text: str, by: str, reason: str) -> int:
    from vault import proposals
    from vault.governance import site_policy

    with opened() as (v, db):
        p = proposals.propose(
            v, db, _as(db, by), site_policy.KIND.name, None, {"text": text}, reason
        )
        return p.id


@policy.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--by", "by", required=True, help="the proposing admin's e-mail")
@click.option("--reason", required=True, help="why (kept with the proposal)")
@friendly
def policy_load(file: Path, by: str, reason: str) -> None:
    """Propose FILE as the site policy (two-person rule: in force once a second admin
    approves, in every server process within seconds)."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{file} is not UTF-8 text", code="invalid_policy") from None
    proposal_id = _propose_site_policy(text, by, reason)
    click.echo(
        f"proposed, awaiting a second admin: #{proposal_id} load {file}. Another admin "
        f"approves with 'archive-vault proposals approve {proposal_id} --by EMAIL'."
    )


@policy.command("unload")
@click.option("--by", "by", required=True, help="the proposing admin's e-mail")
@click.option("--reason", required=True, help="why (kept with the proposal)")
@friendly
def policy_unload(by: str, reason: str) -> None:
    """Propose taking the loaded site policy away (two-person rule)."""
    proposal_id = _propose_site_policy("", by, reason)
    click.echo(f"proposed, awaiting a second admin: #{proposal_id} remove the site policy")


@policy.command("show")
@friendly
def policy_show() -> None:
    """Print the site policy in force (loaded through the two-person rule), if any."""
    from vault.governance import site_policy

    with opened() as (_v, db):
        row = site_policy.current(db)
        if row is None or not row.text:
            click.echo("no site policy is loaded")
            return
        click.echo(
            f"# site policy #{row.id}, sha256 {row.sha256}, "
            f"loaded {row.loaded_at:%Y-%m-%d %H:%M} UTC"
        )
        click.echo(row.text.rstrip("\n"))
