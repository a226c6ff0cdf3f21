"""Statistics for auditors and admins: ``stats``."""

from __future__ import annotations

import json

import click

from vault.caller import Caller
from vault.cli.common import Command, _as, friendly, opened


@click.command("stats", cls=Command)
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366))
@click.option("--as", "as_email", default=None, help="an auditor's or admin's e-mail")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@friendly
def stats(days: int, as_email: str | None, as_json: bool) -> None:
    """Holdings, loans, requests, use, denials, alerts and stale credit reports."""
    from vault.oversight import statistics

    with opened() as (v, db):
        who = _as(db, as_email) if as_email else Caller.operator()
        data = statistics.collect(v, db, who, days=days).as_json()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"Statistics as of {data['as_of'][:16]} UTC (use: last {days} days)")
    click.echo(
        "Holdings by tier:    "
        + ", ".join(
            f"{t} {h['clients']} clients / {h['records']} records"
            for t, h in data["holdings"]["by_tier"].items()
        )
    )
    click.echo(
        "Records by section:  "
        + ", ".join(f"{s} {n}" for s, n in data["holdings"]["by_section"].items())
    )
    click.echo(
        "Records by year:     "
        + ", ".join(f"{y} {n}" for y, n in data["holdings"]["by_year"].items())
    )
    click.echo(
        f"Loans:               {data['loans']['out']} out, {data['loans']['overdue']} overdue"
    )
    click.echo(
        "Requests:            "
        + ", ".join(f"{s} {n}" for s, n in data["requests_by_status"].items())
    )
    click.echo(
        f"Consultations:       {sum(data['consultations_per_day'].values())} "
        f"over {len(data['consultations_per_day'])} day(s); copies {data['copies']}"
    )
    click.echo(
        "Top readers:         "
        + ", ".join(f"{r['email']} {r['consultations']}" for r in data["top_readers"])
    )
    click.echo(
        "Denials:             "
        + ", ".join(f"{a} {n}" for a, n in data["denials_by_action"].items())
    )
    click.echo(
        "Alerts:              "
        + ", ".join(
            f"{k} {a['open']} open/{a['cleared']} cleared" for k, a in data["alerts"].items()
        )
    )
    click.echo(f"Stale credit reports: {data['stale_credit_reports']}")
