"""Backups that keep keys apart: ``backup DIR`` and ``restore DIR``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault.caller import Caller
from vault.cli.common import Command, friendly, opened, running


@click.command("backup", cls=Command)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@friendly
def backup(folder: Path) -> None:
    """Write a signed snapshot of the database and the blob store into a new FOLDER, never a key.

    Keep it apart from the key file, the PKCS#11 token and the Transit server: a restore
    needs the same key provider, and the backup alone opens nothing.
    """
    from tqdm import tqdm

    from vault.keys import backups

    with opened() as (v, db):
        backups.announce(v, db, Caller.operator(), folder)
    with (
        running() as v,
        tqdm(unit=" blobs", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
    ):
        report = backups.write(v, folder, on_blobs=bar.reset, progress=bar.update)
    click.echo(
        f"backup written to {report.folder}: {report.backend} database, {report.blobs} blobs, "
        f"{report.events} audit events, {report.bytes} bytes; no key is in it"
    )


@click.command("restore", cls=Command)
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@friendly
def restore(folder: Path) -> None:
    """Bring a backup back into an empty vault that reaches the same key provider.

    The manifest's signature and every file's SHA-256 are checked first; a changed,
    missing or added file, or a vault that is not empty, is refused and nothing changes.
    """
    from tqdm import tqdm

    from vault.keys import backups

    with (
        running() as v,
        tqdm(unit=" blobs", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
    ):
        report = backups.restore(v, folder, on_blobs=bar.reset, progress=bar.update)
    click.echo(
        f"restored the backup of {report.created}: {report.records} records, "
        f"{report.blobs} blobs ({report.backend}); run 'archive-vault audit verify'"
    )
    if report.unknown_keys:
        click.echo(
            "warning: data keys are wrapped under keys this provider does not hold: "
            f"{', '.join(report.unknown_keys)}; point the vault at the key provider of the "
            "backed-up vault",
            err=True,
        )
        sys.exit(1)
