"""Lending: ``loans checkout|checkin|renew|overdue|remind``."""

from __future__ import annotations

import click

from vault.caller import Caller
from vault.cli.common import Group, _as, friendly, opened
from vault.people import directory


@click.group("loans", cls=Group)
def loans() -> None:
    """Lending: check-out, check-in, renewal, overdue loans and reminders."""


@loans.command("checkout")
@click.argument("item_id", type=int)
@click.option("--to", "borrower", required=True, help="the borrower's e-mail")
@click.option("--pages", required=True, type=click.IntRange(0, 100_000))
@click.option("--days", default=None, type=int, help="loan length (default from settings)")
@click.option("--purpose", required=True)
@click.option("--as", "as_email", required=True, help="the lending custodian's e-mail")
@friendly
def loans_checkout(
    item_id: int, borrower: str, pages: int, days: int | None, purpose: str, as_email: str
) -> None:
    """Check ITEM_ID out to a borrower."""
    from vault.custody import loans as lending

    with opened() as (v, db):
        loan = lending.checkout(
            v,
            db,
            _as(db, as_email),
            item_id,
            directory.get_by_email(db, borrower),
            pages=pages,
            days=days,
            purpose=purpose,
        )
    click.echo(
        f"loan {loan.id}: item {item_id} to {borrower}, due {loan.due_at:%Y-%m-%d %H:%M} UTC"
    )


@loans.command("checkin")
@click.argument("item_id", type=int)
@click.option("--pages", required=True, type=click.IntRange(0, 100_000))
@click.option(
    "--condition", default="good", show_default=True, help="good, worn, damaged, incomplete"
)
@click.option("--location", default=None, help="where it goes (default: back where it was)")
@click.option("--as", "as_email", required=True, help="the receiving custodian's e-mail")
@friendly
def loans_checkin(
    item_id: int, pages: int, condition: str, location: str | None, as_email: str
) -> None:
    """Take ITEM_ID back."""
    from vault.custody import loans as lending

    with opened() as (v, db):
        loan = lending.checkin(
            v, db, _as(db, as_email), item_id, pages=pages, condition=condition, location=location
        )
    click.echo(
        f"loan {loan.id} returned: {loan.pages_in} pages ({loan.pages_out} lent), "
        f"condition {loan.condition}"
    )
    if loan.pages_mismatch:
        click.echo(
            f"PAGE COUNT MISMATCH: lent {loan.pages_out}, returned {loan.pages_in}; "
            "the auditors have been alerted",
            err=True,
        )


@loans.command("renew")
@click.argument("item_id", type=int)
@click.option("--days", default=None, type=int)
@click.option("--as", "as_email", required=True, help="the custodian's e-mail")
@friendly
def loans_renew(item_id: int, days: int | None, as_email: str) -> None:
    """Renew the loan of ITEM_ID (once)."""
    from vault.custody import loans as lending

    with opened() as (v, db):
        loan = lending.renew(v, db, _as(db, as_email), item_id, days=days)
    click.echo(f"loan {loan.id} renewed: due {loan.due_at:%Y-%m-%d %H:%M} UTC")


@loans.command("overdue")
@click.option("--as", "as_email", default=None, help="a custodian's, auditor's or admin's e-mail")
@friendly
def loans_overdue(as_email: str | None) -> None:
    """Loans past their due date."""
    from vault.custody import loans as lending
    from vault.models import Person

    with opened() as (v, db):
        who = _as(db, as_email) if as_email else Caller.operator()
        late = lending.loans(v, db, who, overdue_only=True, limit=10_000)
        for loan in late:
            borrower = db.get(Person, loan.borrower_id)
            click.echo(
                f"loan {loan.id:<5} item {loan.item_id:<5} {loan.item.label[:30]:<30} "
                f"{borrower.email if borrower else '?':<28} due "
                f"{loan.due_at:%Y-%m-%d}  reminders {loan.reminders_sent}"
            )
    click.echo(f"{len(late)} overdue loan(s)")


@loans.command("remind")
@friendly
def loans_remind() -> None:
    """Send the reminders now due (first, second, third); run it daily from cron."""
    from vault.custody import loans as lending

    with opened() as (v, db):
        sent = lending.send_reminders(v, db, Caller.operator())
    for r in sent:
        click.echo(f"loan {r.loan.id}: reminder {r.number}" + (" (overdue)" if r.overdue else ""))
    click.echo(f"{len(sent)} reminder(s) sent")
