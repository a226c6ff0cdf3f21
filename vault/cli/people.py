"""People: ``people add|list|set-password|enroll-totp|hire-date|grant-role``, ``designate``,
``depart``. Acts under the two-person rule propose; ``proposals approve`` decides them."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any

import click

from vault import proposals
from vault.caller import Caller
from vault.cli.common import Command, Group, _as, friendly, opened, parse_day
from vault.models import Role
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
@click.option("--by", "by", default=None, help="the admin adding them (default: the operator)")
@friendly
def people_add(
    email: str, name: str, hired_on: str, roles: tuple[str, ...], by: str | None
) -> None:
    """Add a person; their hire date (and an admin or auditor role) await a second admin."""
    hired = parse_day(hired_on, "--hired-on")
    with opened() as (v, db):
        who = _as(db, by) if by else Caller.operator()
        p = directory.add_person(v, db, who, email=email, name=name, hired_on=hired, roles=roles)
        waiting = [
            f"#{x.id} {x.kind} ({proposals.describe(x)})" for x in proposals.pending(db, subject=p)
        ]
    click.echo(f"added {p.email} (id {p.id}, roles {','.join(p.roles)})")
    for line in waiting:
        click.echo(f"proposed, awaiting a second admin: {line}")


@people.command("hire-date")
@click.argument("email")
@click.option("--on", "on", required=True, help="the hire date YYYY-MM-DD")
@click.option("--reason", required=True, help="why it changes")
@click.option("--by", "by", required=True, help="the proposing admin's e-mail")
@friendly
def people_hire_date(email: str, on: str, reason: str, by: str) -> None:
    """Propose a new hire date for EMAIL (it counts once a second admin approves)."""
    day = parse_day(on, "--on")
    with opened() as (v, db):
        person = directory.get_by_email(db, email)
        p = directory.propose_hire_date(v, db, _as(db, by), person, day, reason=reason)
    click.echo(f"proposed, awaiting a second admin: #{p.id} hire date {day} for {email}")


@people.command("grant-role")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["admin", "auditor"]))
@click.option("--reason", required=True, help="why they need it")
@click.option("--by", "by", required=True, help="the proposing admin's e-mail")
@friendly
def people_grant_role(email: str, role: str, reason: str, by: str) -> None:
    """Propose giving EMAIL the admin or auditor role (a second admin approves)."""
    with opened() as (v, db):
        person = directory.get_by_email(db, email)
        p = directory.propose_role(v, db, _as(db, by), person, role, reason=reason)
    click.echo(f"proposed, awaiting a second admin: #{p.id} role {role} for {email}")


@people.command("list")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=None,
    help="only the people holding this role",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@friendly
def people_list(role: str | None, as_json: bool) -> None:
    """Everyone, by e-mail: name, roles, hire date, leaving date and custodian tiers."""
    page = 500
    with opened() as (_v, db):
        found: list[dict[str, Any]] = []
        while chunk := directory.list_people(db, role=role, limit=page, offset=len(found)):
            found += [
                {
                    "email": p.email,
                    "name": p.name,
                    "roles": sorted(p.role_set),
                    "hired_on": p.hired_on.isoformat(),
                    "leaving_on": p.leaving_on.isoformat() if p.leaving_on else None,
                    "custodian_tiers": sorted(p.custodian_tiers()),
                }
                for p in chunk
            ]
            if len(chunk) < page:
                break
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    header = ("NAME", "E-MAIL", "ROLES", "HIRED", "LEAVING", "CUSTODIAN TIERS")
    rows = [
        (
            p["name"],
            p["email"],
            ",".join(p["roles"]) or "-",
            p["hired_on"],
            p["leaving_on"] or "-",
            ",".join(p["custodian_tiers"]) or "-",
        )
        for p in found
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    click.echo(f"{len(found)} people" + (f" holding the role {role}" if role else ""))


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
@click.option("--by", "by", required=True, help="the proposing admin's e-mail")
@click.option("--reason", required=True, help="why this person should keep these clients")
@friendly
def designate(email: str, tiers: str, by: str, reason: str) -> None:
    """Propose a person custodian for client tiers (by an admin, never oneself); it takes
    effect when a second admin approves (``proposals approve ID --by OTHER_ADMIN``)."""
    with opened() as (v, db):
        admin = directory.get_by_email(db, by)
        person = directory.get_by_email(db, email)
        p = designations.designate(
            v, db, Caller(person=admin, subject="cli"), person, tiers.split(","), reason=reason
        )
        wanted = list(p.payload["tiers"])
        minimum = min(v.policy.minimum_days(t) for t in wanted)
        confirmed = person.hired_on_confirmed_at is not None
    click.echo(
        f"proposed, awaiting a second admin: #{p.id} {person.email} custodian for "
        f"{','.join(wanted)} (proposed by {admin.email})"
    )
    served = (date.today() - person.hired_on).days if confirmed else 0
    if not confirmed:
        click.echo(
            f"note: {person.email}'s hire date is not confirmed yet: it counts for no tenure",
            err=True,
        )
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


@click.command("depart-change", cls=Command)
@click.argument("email")
@click.option("--later", "later", default=None, help="postpone to YYYY-MM-DD")
@click.option("--withdraw", is_flag=True, help="take the leaving date back")
@click.option("--reason", required=True, help="why")
@click.option("--by", "by", required=True, help="the proposing admin's e-mail")
@friendly
def depart_change(email: str, later: str | None, withdraw: bool, reason: str, by: str) -> None:
    """Propose taking back or postponing EMAIL's leaving date (a second admin approves)."""
    if withdraw == (later is not None):
        raise click.UsageError("give either --withdraw or --later YYYY-MM-DD")
    with opened() as (v, db):
        who = _as(db, by)
        person = directory.get_by_email(db, email)
        if withdraw:
            p = departures.propose_withdrawal(v, db, who, person, reason=reason)
        else:
            day = parse_day(later or "", "--later")
            p = departures.propose_postponement(v, db, who, person, day, reason=reason)
        line = proposals.describe(p)
    click.echo(f"proposed, awaiting a second admin: #{p.id} {line} for {email}")


@people.command("watch")
@friendly
def people_watch() -> None:
    """Raise the departure watch's alerts now (each app process also does it hourly):
    people with a leaving date whose use rose markedly after notice, once per person."""
    from vault.oversight import departure_watch

    with opened() as (v, db):
        raised = departure_watch.sweep(v, db, Caller.operator())
        emails = [a.summary.split(" ", 1)[0] for a in raised]
    click.echo(f"{len(emails)} alert(s) raised" + (": " + ", ".join(emails) if emails else ""))
