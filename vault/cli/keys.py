"""Key-encryption keys: ``keys status|rotate|rewrap|retire|migrate``."""

from __future__ import annotations

import json
import sys
import time

import click

from vault.caller import Caller
from vault.cli.common import EXIT_FAILED, Group, _as, friendly, opened


@click.group("keys", cls=Group)
def keys() -> None:
    """Key-encryption keys: status, rotation, re-wrapping the data keys."""


@keys.command("status")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@friendly
def keys_status(as_json: bool) -> None:
    """Key ids, the active one, and how many data keys each wraps."""
    from vault.keys import status

    with opened() as (v, db):
        found = status.status(v, db, Caller.operator())
    if as_json:
        click.echo(json.dumps(found.as_json(), indent=2))
        return
    click.echo(f"provider:   {found.provider.provider}")
    click.echo(f"active key: {found.provider.active_key_id}")
    click.echo(f"keys:       {', '.join(found.provider.key_ids)}")
    for kind, per_key in found.wrapped.items():
        counts = ", ".join(f"{key_id} {n}" for key_id, n in per_key.items()) or "none"
        click.echo(f"{kind + ':':<13} {counts}")
    where = ", ".join(f"{name} {n}" for name, n in found.by_provider.items()) or "none"
    click.echo(f"{'by provider:':<13} {where}")
    if found.outdated:
        click.echo(
            f"{found.outdated} data key(s) under older keys: run 'archive-vault keys rewrap'"
        )


@keys.command("rotate")
@friendly
def keys_rotate() -> None:
    """Add a new key-encryption key and make it active (old keys are kept)."""
    from vault.keys import rotation

    with opened() as (v, db):
        new_id = rotation.rotate(v, db, Caller.operator())
    click.echo(
        f"new active key {new_id}. Restart the server processes, so that they wrap new "
        "data keys under it, then run 'archive-vault keys rewrap'."
    )


@keys.command("rewrap")
@click.option(
    "--batch",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="rows per transaction",
)
@friendly
def keys_rewrap(batch: int) -> None:
    """Re-wrap every data key under the active key (content untouched; rerun to resume)."""
    from tqdm import tqdm

    from vault.keys import rotation

    started = time.perf_counter()
    with (
        opened() as (v, db),
        tqdm(unit=" keys", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
    ):

        def batch_done(looked_at: int) -> None:
            # A resumable batch job, not one unit of work: each batch is committed as soon
            # as the service reports it done, so that a crash or Ctrl-C loses at most the
            # batch in hand (rolled back whole) and a rerun picks up where this one stopped.
            # Holding every row lock and every re-wrapped key until the end would block the
            # vault for the whole run and lose it all on a failure.
            db.commit()
            bar.update(looked_at)

        report = rotation.rewrap(
            v,
            db,
            Caller.operator(),
            batch=batch,
            progress=batch_done,
            on_total=lambda n: bar.reset(total=n),
        )
    per_kind = ", ".join(f"{kind} {n}" for kind, n in report.rewrapped.items())
    click.echo(
        f"re-wrapped {report.total_rewrapped} data keys under {report.active_key_id} "
        f"({per_kind}); {sum(report.current.values())} were under it already; "
        f"{time.perf_counter() - started:.1f} s"
    )
    if report.total_failed:
        for kind, ids in report.failed.items():
            if ids:
                shown = ", ".join(map(str, ids[:20])) + (" ..." if len(ids) > 20 else "")
                click.echo(
                    f"{kind}: {len(ids)} wrapped key(s) could not be unwrapped and were "
                    f"left as they are (ids {shown})",
                    err=True,
                )
        sys.exit(EXIT_FAILED)


@keys.command("retire")
@click.argument("key_id")
@click.option("--by", "by", required=True, help="the proposing admin's e-mail")
@click.option("--reason", required=True, help="why the key goes (kept with the proposal)")
@friendly
def keys_retire(key_id: str, by: str, reason: str) -> None:
    """Propose removing an old key for good (two-person rule: a second admin approves).

    Refused while the key is active or still wraps any data key: rotate and rewrap first.
    """
    from vault import proposals
    from vault.keys import retirement

    with opened() as (v, db):
        p = proposals.propose(
            v, db, _as(db, by), retirement.KIND.name, None, {"key_id": key_id}, reason
        )
        proposal_id = p.id
    click.echo(
        f"proposed, awaiting a second admin: #{proposal_id} retire {key_id}. Another admin "
        f"approves with 'archive-vault proposals approve {proposal_id} --by EMAIL'."
    )


@keys.command("migrate")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Choice(["pkcs11", "transit"]),
    help="the key provider to move every data key to (its VAULT_PKCS11_* / VAULT_TRANSIT_*)",
)
@click.option(
    "--batch",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="rows per transaction",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="at most this many rows per second, to spare a busy vault and its provider",
)
@friendly
def keys_migrate(target: str, batch: int, rate: float | None) -> None:
    """Move every data key from the key file to a provider (content untouched; rerun to resume).

    Run the servers with VAULT_KEY_PROVIDER set to the target first: they read both.
    """
    from tqdm import tqdm

    from vault.keys import migration
    from vault.runtime import open_provider

    started = time.perf_counter()
    with (
        opened() as (v, db),
        tqdm(unit=" keys", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
    ):
        provider = open_provider(v.config, target)

        done = 0

        def batch_done(looked_at: int) -> None:
            # A resumable batch job, like `keys rewrap`: each batch commits on its own.
            nonlocal done
            db.commit()
            bar.update(looked_at)
            done += looked_at
            if rate is not None:  # pace: never ahead of `rate` rows a second
                time.sleep(max(0.0, begun + done / rate - time.perf_counter()))

        begun = time.perf_counter()
        report = migration.migrate(
            v,
            db,
            Caller.operator(),
            provider,
            name=target,
            batch=batch,
            progress=batch_done,
            on_total=lambda n: bar.reset(total=n),
        )
    per_kind = ", ".join(f"{kind} {n}" for kind, n in report.migrated.items())
    click.echo(
        f"moved {report.total_migrated} data keys to {target} under {report.active_key_id} "
        f"({per_kind}); {sum(report.already.values())} were there already; "
        f"{time.perf_counter() - started:.1f} s"
    )
    if v.config.key_provider != target:
        click.echo(
            f"set VAULT_KEY_PROVIDER={target} for the servers and every command "
            "(they read both the key file's data keys and the provider's)"
        )
    if report.total_failed:
        for kind, ids in report.failed.items():
            if ids:
                shown = ", ".join(map(str, ids[:20])) + (" ..." if len(ids) > 20 else "")
                click.echo(
                    f"{kind}: {len(ids)} wrapped key(s) could not be unwrapped and were "
                    f"left as they are (ids {shown})",
                    err=True,
                )
        sys.exit(EXIT_FAILED)
