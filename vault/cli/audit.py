"""The tamper-evident audit log: ``audit verify|seal|trace-copy``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault.caller import Caller
from vault.cli.common import EXIT_FAILED, Group, friendly, opened, running


@click.group("audit", cls=Group)
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@friendly
def audit_verify() -> None:
    """Check every event, the hash chain and the signed checkpoints (exit 1 if broken)."""
    from tqdm import tqdm

    with (
        running() as v,
        v.engine.connect() as conn,
        tqdm(unit=" events", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
    ):
        report = v.audit.verify(conn, progress=bar.update)
    if report.ok:
        click.echo(
            f"audit log intact: {report.events} events ({report.sealed} sealed, "
            f"{report.unsealed} awaiting seal), {report.checkpoints} checkpoints"
        )
        return
    click.echo(
        f"AUDIT LOG BROKEN: {report.problem} at event seq {report.first_bad_seq} "
        f"(id {report.first_bad_event_id}): {report.message}",
        err=True,
    )
    sys.exit(EXIT_FAILED)


@audit.command("seal")
@friendly
def audit_seal() -> None:
    """Link all committed events into the chain and sign a checkpoint now."""
    # The chain is the audit package's own: it links and commits on its connection.
    with running() as v, v.engine.connect() as conn:
        linked = v.audit.seal(conn)
    click.echo(f"sealed {linked} events")


@audit.command("trace-copy")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def audit_trace_copy(file: Path) -> None:
    """Name the person, time and grant a watermarked copy was made for."""
    from vault.custody import copies

    with opened() as (v, db):
        t = copies.trace_copy(v, db, Caller.operator(), file.read_bytes())
        who = f"{t.person.name} <{t.person.email}> (id {t.person.id})" if t.person else "unknown"
        record = f"{t.record.file_number} (id {t.record.id})" if t.record else "unknown"
    click.echo(f"copy:    {t.copy_id}")
    click.echo(f"made by: {who}")
    click.echo(f"at:      {t.event.time:%Y-%m-%d %H:%M:%S} UTC")
    click.echo(f"record:  {record}")
    click.echo(f"grant:   {t.event.grant_id or 'none (custodian)'}")
    click.echo(f"purpose: {t.event.purpose}")
    click.echo(f"event:   {t.event.id}")
