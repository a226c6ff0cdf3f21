"""Appraisal on the command line: the registers, a client's dossier and the portfolio.

``register loans|uses`` prints a register for a period as CSV (or JSON); ``dossier``
prints a client file's compilation as JSON; ``portfolio`` lists both ends. Each acts as
a person (``--as``), whose rights the policy decides, and each reading is audited."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from vault import csvout
from vault.appraisal import plain
from vault.cli.common import Command, Group, _as, friendly, opened, parse_day


@click.group("register", cls=Group)
def register() -> None:
    """The loan register (借阅登记) and the use register (利用登记), for any period."""


def _register(kind: str, as_email: str, start: str | None, end: str | None, as_json: bool) -> None:
    from vault.appraisal import registers

    period = registers.Period.of(
        parse_day(start, "--from") if start else None, parse_day(end, "--to") if end else None
    )
    with opened() as (v, db):
        who = _as(db, as_email)
        read = registers.loan_register if kind == "loans" else registers.use_register
        rows = [
            plain(asdict(r)) for r in read(v, db, who, period, fmt="json" if as_json else "csv")
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    fields = list(rows[0]) if rows else []
    out = csvout.writer(sys.stdout)
    out.writerow(fields)
    out.writerows([row[f] for f in fields] for row in rows)


@register.command("loans")
@click.option("--as", "as_email", required=True, help="an auditor's or custodian's e-mail")
@click.option("--from", "start", default=None, help="first day, YYYY-MM-DD (default: 30 days ago)")
@click.option("--to", "end", default=None, help="last day, YYYY-MM-DD (default: today)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of CSV")
@friendly
def register_loans(as_email: str, start: str | None, end: str | None, as_json: bool) -> None:
    """Loans out at any time in the period: who, which folder, purpose, out, due, back, pages."""
    _register("loans", as_email, start, end, as_json)


@register.command("uses")
@click.option("--as", "as_email", required=True, help="an auditor's or custodian's e-mail")
@click.option("--from", "start", default=None, help="first day, YYYY-MM-DD (default: 30 days ago)")
@click.option("--to", "end", default=None, help="last day, YYYY-MM-DD (default: today)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of CSV")
@friendly
def register_uses(as_email: str, start: str | None, end: str | None, as_json: bool) -> None:
    """Consultations and copies in the period, with their purpose and outcome."""
    _register("uses", as_email, start, end, as_json)


@click.command("dossier", cls=Command)
@click.argument("client_code")
@click.option("--as", "as_email", required=True, help="a custodian's e-mail (of the client's tier)")
@friendly
def dossier(client_code: str, as_email: str) -> None:
    """A client file's dossier (编研) as JSON: catalogue, credit timeline, loans, reviews, risks."""
    from vault.appraisal import dossier as dossier_
    from vault.archive import records
    from vault.errors import NotFound

    with opened() as (v, db):
        who = _as(db, as_email)
        client = records.client_by_code(db, client_code)
        if client is None:
            raise NotFound(f"no client {client_code}", code="client_not_found")
        d = dossier_.compile_dossier(v, db, who, client.id, fmt="json")
        data = {
            "client": client.code,
            "compiled_at": d.compiled_at,
            "catalogue": [
                {"section": s, "year": y, "records": [asdict(e) for e in entries]}
                for (s, y), entries in d.catalogue.items()
            ],
            "credit": [asdict(s) for s in d.credit],
            "loans": [asdict(ln) for ln in d.loans],
            "reviews": [asdict(r) for r in d.reviews],
            "risks": list(d.risks),
            "review_due_on": d.review_due_on,
        }
    click.echo(json.dumps(plain(data), indent=2, ensure_ascii=False))


@click.command("portfolio", cls=Command)
@click.option("--as", "as_email", required=True, help="an auditor's or custodian's e-mail")
@friendly
def portfolio(as_email: str) -> None:
    """Core clients and high-risk clients (抓两头、放中间), and the size of the middle."""
    from vault.appraisal import portfolio as portfolio_

    with opened() as (v, db):
        p = portfolio_.portfolio(v, db, _as(db, as_email))
        core = [(s.client.code, s.risks) for s in p.core]
        risky = [(s.client.code, s.client.tier, s.risks) for s in p.high_risk]
        middle = p.middle
    click.echo(f"Core clients ({len(core)}):")
    for code, risks in core:
        click.echo(f"  {code}: {', '.join(risks) or '-'}")
    click.echo(f"High-risk clients ({len(risky)}):")
    for code, tier, risks in risky:
        click.echo(f"  {code} ({tier}): {', '.join(risks)}")
    click.echo(f"The middle: {middle} client files")
