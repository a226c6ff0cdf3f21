"""People: ``people add|list|set-password|enroll-totp``, ``designate``, ``depart``."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any

import click

from vault.caller import Caller
from vault.cli.common import Command, Group, _as, friendly, opened, parse_day
from vault.people import departures, designations, directory


@click.group("people", cls=Group)
def people() -> None:
    """People and roles."""


@people.command("add")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--hired-on", "hired_on", required=True, help="YYYY-MM-DD")
@click.option(
    "--role",
    "roles",
    multiple=True,
    default=["employee"],
    show_default=True,
    help="employee, auditor or admin (repeat for several)",
)
@friendly
def people_add(email: str, name: str, hired_on: str, roles: tuple[str, ...]) -> None:
    """Add a person."""
    hired = parse_day(hired_on, "--hired-on")
    with opened() as (v, db):
        p = directory.add_person(
            v, db, Caller.operator(), email=email, name=name, hired_on=hired, roles=roles
        )
    click.echo(f"added {p.email} (id {p.id}, roles {','.join(p.roles)})")


@people.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@friendly
def people_list(as_json: bool) -> None:
    """Everyone, by e-mail: name, roles, custodian tiers and leaving date."""
    page = 500
    with opened() as (_v, db):
        found: list[dict[str, Any]] = []
        while chunk := directory.list_people(db, limit=page, offset=len(found)):
            found += [
                {
                    "email": p.email,
                    "name": p.name,
                    "roles": sorted(p.role_set),
                    "custodian_tiers": sorted(p.custodian_tiers()),
                    "leaving_on": p.leaving_on.isoformat() if p.leaving_on else None,
                }
                for p in chunk
            ]
            if len(chunk) < page:
                break
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for p in found:
        click.echo(
            f"{p['email']:<28} {p['name'][:24]:<24} {','.join(p['roles']):<22} "
            f"{','.join(p['custodian_tiers']) or '-':<20} {p['leaving_on'] or '-'}"
        )
    click.echo(f"{len(found)} people")


@people.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="read the password from standard input (one line) instead of a prompt",
)
@friendly
def people_set_password(email: str, password_stdin: bool) -> None:
    """Set EMAIL's local password (argon2id; 12 to 256 characters)."""
    from vault.identity import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with opened() as (v, db):
        person = directory.get_by_email(db, email)
        accounts.set_password(v, db, Caller.operator(), person, password)
    click.echo(f"password set for {person.email}")


@people.command("enroll-totp")
@click.argument("email")
@friendly
def people_enroll_totp(email: str) -> None:
    """Give EMAIL a new one-time-code (TOTP) secret; prints its otpauth:// URI once."""
    from vault.identity import accounts

    with opened() as (v, db):
        person = directory.get_by_email(db, email)
        enrollment = accounts.enroll_totp(v, db, Caller.operator(), person)
    click.echo(enrollment.uri)
    click.echo(
        f"Add it to an authenticator app now (or type the secret {enrollment.secret}); "
        "it is stored sealed and cannot be shown again.",
        err=True,
    )


@click.command(cls=Command)
@click.argument("email")
@click.option("--tiers", required=True, help="comma-separated: core,special,general")
@click.option("--by", "by", required=True, help="the designating admin's e-mail")
@friendly
def designate(email: str, tiers: str, by: str) -> None:
    """Designate a person custodian for client tiers (by an admin, never oneself)."""
    with opened() as (v, db):
        admin = directory.get_by_email(db, by)
        person = directory.get_by_email(db, email)
        d = designations.designate(
            v, db, Caller(person=admin, subject="cli"), person, tiers.split(",")
        )
        minimum = min(v.policy.minimum_days(t) for t in d.tier_list)
    click.echo(f"{person.email} designated custodian for {','.join(d.tiers)} by {admin.email}")
    served = (date.today() - person.hired_on).days
    if served < minimum:
        click.echo(
            f"note: {person.email} has served {served} days; custody needs "
            f"{minimum} days, so the policy will deny until then",
            err=True,
        )


@click.command(cls=Command)
@click.argument("email")
@click.option("--on", "on", required=True, help="leaving date YYYY-MM-DD")
@click.option("--by", "by", default=None, help="the admin's e-mail (default: the operator)")
@friendly
def depart(email: str, on: str, by: str | None) -> None:
    """Set EMAIL's leaving date: grants revoked, custody suspended, access ended now."""
    leaving = parse_day(on, "--on")
    with opened() as (v, db):
        who = _as(db, by) if by else Caller.operator()
        person = directory.get_by_email(db, email)
        revoked = departures.set_departure(v, db, who, person, leaving)
    click.echo(
        f"{person.email} leaves on {person.leaving_on}: access ended now, "
        f"{revoked} grant(s) revoked"
    )
