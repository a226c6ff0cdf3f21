"""The tamper-evident audit log: ``audit verify|seal|prove|checkpoints|public-key|
rotate-keys|trace-copy``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault import auditing
from vault.caller import Caller
from vault.cli.common import (
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_NOT_FOUND,
    Group,
    _as,
    friendly,
    opened,
    running,
)
from vault.policy import Action


@click.group("audit", cls=Group)
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option(
    "--witness",
    "witness_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the witness directory to compare (default: the configured witnesses, if any)",
)
@friendly
def audit_verify(witness_dir: Path | None) -> None:
    """Check every event, the hash chain and the signed checkpoints (exit 1 if broken).

    With a witness (a directory holding a signed copy of every checkpoint), also that no
    checkpoint was cut off, changed or removed from the database.
    """
    from tqdm import tqdm

    from audit import DirectoryWitness

    with running() as v:
        if witness_dir is not None and not witness_dir.is_dir():
            click.echo(f"error: no witness directory {witness_dir}", err=True)
            sys.exit(EXIT_INPUT)
        witness = DirectoryWitness(witness_dir) if witness_dir is not None else v.audit.witness
        with (
            v.engine.connect() as conn,
            tqdm(unit=" events", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
        ):
            report = v.audit.verify(conn, progress=bar.update, witness=witness)
    if not report.ok:
        click.echo(
            f"AUDIT LOG BROKEN: {report.problem} at event seq {report.first_bad_seq} "
            f"(id {report.first_bad_event_id}): {report.message}",
            err=True,
        )
        sys.exit(EXIT_FAILED)
    click.echo(
        f"audit log intact: {report.events} events ({report.sealed} sealed, "
        f"{report.unsealed} awaiting seal), {report.checkpoints} checkpoints"
    )
    last = (
        f"position {report.last_checkpoint} ({report.last_checkpoint_time:%Y-%m-%d %H:%M:%S} UTC)"
        if report.last_checkpoint is not None and report.last_checkpoint_time is not None
        else "none yet"
    )
    if witness is None:
        click.echo(
            f"no witness: the newest checkpoint in the database is at {last}. Without a "
            "copy kept outside the database, events removed after the last checkpoint "
            "together with their checkpoints cannot be seen, nor a history rewritten by "
            "someone holding the signing key. Set VAULT_WITNESS_DIR, or pass --witness DIR."
        )
        return
    click.echo(
        f"witness {witness.describe()}: {report.witnessed} checkpoints match, the newest "
        f"at position {report.last_witnessed}; newest in the database: {last}"
    )
    if report.unwitnessed:
        click.echo(
            f"note: {report.unwitnessed} checkpoints of the database are not in the witness "
            "(made before it was set up, or the copy failed: see the logs)"
        )


@audit.command("prove")
@click.option("--event", "event_id", default=None, help="the event's id (32 hex digits)")
@click.option("--from", "first", type=click.IntRange(min=1), default=None, help="checkpoint 1")
@click.option("--to", "second", type=click.IntRange(min=1), default=None, help="checkpoint 2")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the evidence bundle to write (JSON; refused if it exists)",
)
@friendly
def audit_prove(event_id: str | None, first: int | None, second: int | None, out: Path) -> None:
    """Write evidence for a third party: one event with its inclusion proof (--event), or
    that the log at checkpoint --from is a prefix of the log at --to (consistency).

    Checkpoints are named by their chain position ('audit checkpoints' lists them). The
    bundle holds the event, the proof, the signed checkpoint and the public key; anyone
    checks it with 'python -m audit verify-bundle FILE --key PUBKEY'. The disclosure is
    itself audited.
    """
    import json

    from audit import ProofError

    if (event_id is None) == (first is None and second is None) or (
        event_id is None and (first is None or second is None)
    ):
        click.echo("error: give --event ID, or --from CP1 --to CP2", err=True)
        sys.exit(EXIT_INPUT)
    if out.exists():
        click.echo(f"error: {out} exists; refusing to overwrite it", err=True)
        sys.exit(EXIT_INPUT)
    with opened() as (v, db):
        conn = db.connection()
        try:
            if event_id is not None:
                bundle = v.audit.prove_event(conn, event_id.strip().lower())
            else:
                assert first is not None and second is not None
                bundle = v.audit.prove_consistency(conn, first, second)
        except ProofError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_NOT_FOUND if exc.code.endswith("not_found") else EXIT_CONFLICT)
        auditing.record(
            v,
            db,
            Caller.operator(),
            Action.AUDIT_EXPORT,
            resource={"event": event_id} if event_id else {},
            details={
                "evidence": bundle["kind"],
                "from": first,
                "to": second,
                "checkpoint": (bundle.get("checkpoint") or bundle.get("second") or {}).get(
                    "position"
                ),
            },
        )
        out.write_text(json.dumps(bundle, indent=1, sort_keys=True) + "\n")
    st = bundle.get("checkpoint") or bundle["second"]
    click.echo(
        f"wrote {bundle['kind']} evidence to {out} (checkpoint at position {st['position']}, "
        f"signed by {st['key']}); check it with: python -m audit verify-bundle {out}"
    )


@audit.command("checkpoints")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@friendly
def audit_checkpoints(limit: int) -> None:
    """List the newest signed checkpoints (position, time, algorithm, key, tree head)."""
    with running() as v, v.engine.connect() as conn:
        rows = v.audit.checkpoints(conn, limit=limit)
    for st in rows:
        root = (st["root"] or "(before the tree)")[:16]
        click.echo(
            f"{st['position']:>10}  {st['time']}  {st['alg'] or 'sha256'}  "
            f"{st['key'] or 'file:1'}  {root}"
        )


@audit.command("public-key")
@click.option("--key-id", default=None, help="a signing key id (default: the one in use)")
@friendly
def audit_public_key(key_id: str | None) -> None:
    """Print a checkpoint signing key's public half (PEM), for whoever checks bundles."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from audit import UnknownAuditKey

    with running() as v:
        chosen = key_id or v.audit.keys.signing_key_id()
        try:
            public = v.audit.keys.public_key(str(chosen))
        except UnknownAuditKey:
            click.echo(f"error: no audit signing key {chosen}", err=True)
            sys.exit(EXIT_NOT_FOUND)
    click.echo(f"archive-vault audit signing key {chosen}:", err=True)
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    click.echo(pem.decode(), nl=False)


@audit.command("rotate-keys")
@click.option("--by", "by", required=True, help="the proposing admin's e-mail")
@click.option("--reason", required=True, help="why (kept with the proposal)")
@friendly
def audit_rotate_keys(by: str, reason: str) -> None:
    """Propose new audit keys (MAC and signing key) in the key provider (two-person rule).

    Once a second admin approves, new events and checkpoints use the new keys; the old
    ones stay, so 'audit verify' still checks everything made under them.
    """
    from vault import proposals
    from vault.keys import audit_rotation

    with opened() as (v, db):
        p = proposals.propose(v, db, _as(db, by), audit_rotation.KIND.name, None, {}, reason)
        proposal_id = p.id
        current = v.audit.keys.mac_key_id()
    click.echo(
        f"proposed, awaiting a second admin: #{proposal_id} new audit keys (now {current}). "
        f"Another admin approves with 'archive-vault proposals approve {proposal_id} --by EMAIL'."
    )


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
