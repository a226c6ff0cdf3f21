"""Attachment blob stores: ``blobs status|migrate``."""

from __future__ import annotations

import sys
import time

import click

from vault.cli.common import EXIT_FAILED, EXIT_INPUT, Group, friendly, running

_STORES = click.Choice(["local", "postgresql", "s3"])


@click.group("blobs", cls=Group)
def blobs() -> None:
    """Attachment blob stores: where the encrypted attachment bytes live, and moving them."""


@blobs.command("status")
@friendly
def blobs_status() -> None:
    """The blob store in use and how many attachments it holds."""
    from vault.blobs import attachment_keys

    with running() as v:
        total = present = 0
        for _att_id, key in attachment_keys(v.engine):
            total += 1
            present += v.blobs.exists(key)
    click.echo(f"blob store: {v.blobs.name}")
    click.echo(f"attachments: {total}, of which in this store: {present}")


@blobs.command("migrate")
@click.option("--to", "target", required=True, type=_STORES, help="the store to copy blobs to")
@click.option(
    "--from",
    "source",
    type=_STORES,
    default=None,
    help="the store to copy from (default: the configured one, or local if that is --to)",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="at most this many blobs per second, to spare a busy vault",
)
@friendly
def blobs_migrate(target: str, source: str | None, rate: float | None) -> None:
    """Copy every attachment's ciphertext to another store (nothing is decrypted; rerun to
    resume: a blob already in the target is skipped, a half-copied one never appears).

    Then set VAULT_BLOB_STORE to the target for the servers, the worker and every command.
    """
    from tqdm import tqdm

    from vault.blobs import attachment_keys, copy_blob, open_store

    started = time.perf_counter()
    with running() as v:
        source = source or (v.config.blob_backend if v.config.blob_backend != target else "local")
        if source == target:
            click.echo("error: --from and --to are the same store", err=True)
            sys.exit(EXIT_INPUT)
        src = open_store(v.config, v.engine, source)
        dst = open_store(v.config, v.engine, target)
        keys = list(attachment_keys(v.engine))
        copied = already = size = 0
        missing: list[int] = []
        with tqdm(
            total=len(keys), unit=" blobs", disable=not sys.stderr.isatty(), file=sys.stderr
        ) as bar:
            for att_id, key in keys:
                begun = time.perf_counter()
                if dst.exists(key):
                    already += 1
                elif not src.exists(key):
                    missing.append(att_id)
                else:
                    size += copy_blob(src, dst, key)
                    copied += 1
                    if rate is not None:
                        time.sleep(max(0.0, 1 / rate - (time.perf_counter() - begun)))
                bar.update(1)
    click.echo(
        f"copied {copied} blobs ({size / 1e6:.1f} MB) from {source} to {target}; "
        f"{already} were there already; {time.perf_counter() - started:.1f} s"
    )
    if v.config.blob_backend != target:
        click.echo(f"set VAULT_BLOB_STORE={target} for the servers, the worker and every command")
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        click.echo(f"{len(missing)} attachment(s) have no blob in {source} (ids {shown})", err=True)
        sys.exit(EXIT_FAILED)
