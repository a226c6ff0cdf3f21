"""Intake from the spreadsheets small firms keep: ``import``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from vault.caller import Caller
from vault.cli.common import EXIT_INPUT, Command, friendly, opened
from vault.people import directory


@click.command("import", cls=Command)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="import the good rows even if some are bad")
@click.option("--by", "by", default=None, help="file the records as this person (e-mail)")
@friendly
def import_(file: Path, skip_bad: bool, by: str | None) -> None:
    """Import clients and records from an .xlsx or .csv file (checked first, idempotent)."""
    from tqdm import tqdm

    from vault.archive.importer import import_file

    started = time.perf_counter()
    with (
        opened() as (v, db),
        tqdm(unit=" rows", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
    ):
        caller = Caller.operator()
        if by:
            caller = Caller(person=directory.get_by_email(db, by), subject="cli")

        def total(n: int) -> None:
            bar.reset(total=n)

        def batch_done(rows: int) -> None:
            # A resumable batch job, not one unit of work: each batch of rows is committed
            # as soon as the importer reports it filed, so that a large sheet does not hold
            # the write lock for the whole run, and an interrupted import keeps the batches
            # done; a rerun files only the rest (rows already imported are recognised).
            db.commit()
            bar.update(rows)

        report = import_file(
            v, db, caller, file, skip_bad=skip_bad, progress=batch_done, on_total=total
        )
    for err in report.errors:
        where = f", column {err.column}" if err.column else ""
        click.echo(f"line {err.line}{where}: {err.reason}", err=True)
    if report.rejected:
        click.echo(
            f"{report.bad_rows} of {report.rows} rows are bad: nothing imported "
            "(fix them, or use --skip-bad)",
            err=True,
        )
        sys.exit(EXIT_INPUT)
    click.echo(
        f"imported {report.records_created} records ({report.clients_created} new clients) "
        f"from {report.rows} rows; {report.duplicates} already imported, "
        f"{report.bad_rows} bad rows skipped; {time.perf_counter() - started:.1f} s"
    )
