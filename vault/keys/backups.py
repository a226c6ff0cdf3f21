"""Backup and restore: a consistent snapshot of the database and the blob store, never a key.

A backup is a folder::

    database.sqlite3 | database.pgdump   the database (SQLite's backup API; pg_dump -Fc)
    blobs/<2 hex>/<32 hex>               every attachment blob the snapshot names
    manifest.json                        what the backup holds: each file's SHA-256 and size
    manifest.sig                         Ed25519 signature of manifest.json (the vault's
                                         checkpoint signing key)

It holds ciphertext only: content, fields and attachments stay encrypted under data keys
that are themselves wrapped by the key provider, and no key of any kind is written (not
the key file, not a PKCS#11 PIN, not a Transit token). A restore therefore needs the same
key provider, kept elsewhere; a stolen backup opens nothing.

Consistency: on PostgreSQL the backup opens a REPEATABLE READ transaction, exports its
snapshot, and both ``pg_dump --snapshot`` and the list of blobs read that one snapshot; on
SQLite the backup API copies the database, and the list of blobs is read from the copy.
Blobs are written before the row that names them commits and never rewritten, so every
blob of the snapshot exists when it is copied.

Restore refuses a backup whose signature does not verify with the vault's own signing
key, whose files differ from the manifest (a changed byte, a missing or an extra file),
and a target vault that holds anything (people, clients, records, audit events, blobs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from vault import auditing
from vault.authz import require
from vault.blobs import LocalBlobStore, PostgresBlobStore, WithLocalFallback
from vault.caller import Caller
from vault.errors import Conflict, InvalidInput, Unavailable
from vault.keys.rotation import WRAPPED, key_id_of
from vault.models import Attachment, BlobSegment
from vault.policy import Action
from vault.runtime import Vault

FORMAT = "archive-vault backup"
VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
BLOBS = "blobs"
_CHUNK = 1 << 20
_BLOB_KEY = re.compile(r"[0-9a-f]{32}")
# What makes a vault not empty: a restore never mixes two vaults' data.
_CONTENT_TABLES = ("people", "clients", "records", "audit_events")

Progress = Callable[[int], object]


@dataclass(frozen=True)
class BackupReport:
    """What a backup wrote."""

    folder: Path
    backend: str
    blobs: int
    bytes: int
    events: int


@dataclass(frozen=True)
class RestoreReport:
    """What a restore brought back."""

    backend: str
    blobs: int
    records: int
    created: str
    unknown_keys: tuple[str, ...]  # key ids named by data keys that the provider lacks


def announce(v: Vault, db: Session, caller: Caller, folder: Path) -> None:
    """Decide and record the ``vault:backup`` act; the boundary commits it, then calls
    :func:`write`, so that the backup holds its own event (and a failed one still shows).

    Raises:
        Conflict (``backup_exists``): ``folder`` exists and is not an empty directory.
    """
    require(v, db, caller, Action.VAULT_BACKUP)
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise Conflict(
            f"{folder} is not an empty folder; back up into a new one", code="backup_exists"
        )
    auditing.record(v, db, caller, Action.VAULT_BACKUP, resource={"backup": folder.name})


def write(
    v: Vault,
    folder: Path,
    *,
    on_blobs: Callable[[int], object] = lambda total: None,
    progress: Progress = lambda n: None,
) -> BackupReport:
    """Write a backup of the vault into ``folder`` (after :func:`announce` committed).

    ``on_blobs(total)`` is told how many blobs follow, ``progress(1)`` after each.

    Raises:
        Conflict (``backup_exists``): ``folder`` is not empty.
        Unavailable: pg_dump is missing, older than the server, or failed.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise Conflict(
            f"{folder} is not an empty folder; back up into a new one", code="backup_exists"
        )
    backend = v.engine.dialect.name
    v.maybe_seal(force=True)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    with _snapshot(v, folder) as (database_file, blob_keys, events, tool):
        blob_dir = folder / BLOBS
        on_blobs(len(blob_keys))
        for key in blob_keys:
            target = blob_dir / key[:2] / key
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with v.blobs.open(key) as src, _private(target) as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
            progress(1)
    files = {
        path.relative_to(folder).as_posix(): _digest(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": backend,
        "database": database_file,
        "tool": tool,
        "algorithms": v.suite.name,
        "key_provider": v.config.key_provider,
        "key_ids": v.keys.key_ids(),
        "verify_key": v.keys.verify_key().public_bytes_raw().hex(),
        "audit_events": events,
        "blobs": len(blob_keys),
        "files": files,
    }
    payload = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    with _private(folder / MANIFEST) as fh:
        fh.write(payload)
    with _private(folder / SIGNATURE) as fh:
        fh.write(v.keys.signing_key().sign(payload).hex().encode() + b"\n")
    return BackupReport(
        folder=folder,
        backend=backend,
        blobs=len(blob_keys),
        bytes=sum(f["size"] for f in files.values()),
        events=events,
    )


def check(v: Vault, folder: Path, *, progress: Progress = lambda n: None) -> dict[str, object]:
    """The manifest of the backup in ``folder`` once every check passed.

    Raises:
        InvalidInput (code ``backup_tampered``): no manifest, a signature that does not
            verify with this vault's key, a file changed, missing or not in the manifest.
    """
    folder = Path(folder)
    try:
        payload = (folder / MANIFEST).read_bytes()
        signature = bytes.fromhex((folder / SIGNATURE).read_text().strip())
    except (OSError, ValueError):
        raise _tampered(f"{folder} holds no signed backup manifest") from None
    try:
        v.keys.verify_key().verify(signature, payload)
    except InvalidSignature:
        raise _tampered(
            "the manifest's signature does not verify with this vault's signing key: "
            "the backup was changed, or it was made by another vault"
        ) from None
    manifest = json.loads(payload)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise _tampered(f"not an {FORMAT} of version {VERSION}")
    listed: dict[str, dict[str, Any]] = manifest["files"]
    present = {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    } - {MANIFEST, SIGNATURE}
    extra = sorted(present - set(listed))
    if extra:
        raise _tampered(f"{extra[0]} is not in the manifest ({len(extra)} file(s) added)")
    missing = sorted(set(listed) - present)
    if missing:
        raise _tampered(f"{missing[0]} is missing ({len(missing)} file(s))")
    for name in sorted(listed):
        path = folder / name
        if path.is_symlink() or _digest(path) != listed[name]:
            raise _tampered(f"{name} differs from the manifest")
        progress(1)
    return manifest


def restore(
    v: Vault,
    folder: Path,
    *,
    on_blobs: Callable[[int], object] = lambda total: None,
    progress: Progress = lambda n: None,
) -> RestoreReport:
    """Bring the backup in ``folder`` back into the empty vault ``v``.

    Everything is checked first (:func:`check`). Then the blobs are written into the
    blob store, and only then is the database replaced (in one step: SQLite's backup API,
    ``pg_restore --single-transaction``) and migrated to the current head, and a
    ``vault:restore`` event recorded and sealed in the restored log. A restore stopped
    before the database step leaves only blobs of this backup, which a new run of the same
    restore accepts and writes again.

    Raises:
        InvalidInput (``backup_tampered``): see :func:`check`.
        Conflict (``vault_not_empty``): the target vault holds data, or blobs that are
            not this backup's.
    """
    folder = Path(folder)
    manifest = check(v, folder)
    backend = v.engine.dialect.name
    if manifest["backend"] != backend:
        raise InvalidInput(
            f"this backup is of a {manifest['backend']} database; the vault runs on {backend}",
            code="backup_backend",
        )
    blob_root = folder / BLOBS
    keys = sorted(p.name for p in blob_root.rglob("*") if p.is_file()) if blob_root.exists() else []
    _require_empty(v, set(keys))
    on_blobs(len(keys))
    for key in keys:
        v.blobs.delete(key)  # a blob of this backup left by a restore that stopped
        with (blob_root / key[:2] / key).open("rb") as src, v.blobs.writer(key) as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        progress(1)
    url = v.config.database_url
    v.engine.dispose()
    if backend == "sqlite":
        _sqlite_restore(folder / SQLITE_FILE, url)
    else:
        _pg_restore(folder / PG_FILE, url)
    from vault.migrations import upgrade

    upgrade(url)
    with v.sessions() as db, db.begin():
        records = db.scalar(sa.text("SELECT count(*) FROM records")) or 0
        named = _key_ids_named(db)
        require(v, db, Caller.operator(), Action.VAULT_RESTORE)  # the operator, on the host
        auditing.record(
            v,
            db,
            Caller.operator(),
            Action.VAULT_RESTORE,
            resource={"backup": folder.name},
            details={"created": str(manifest["created"]), "blobs": len(keys), "records": records},
        )
    v.maybe_seal(force=True)
    known = set(v.keys.key_ids())
    return RestoreReport(
        backend=backend,
        blobs=len(keys),
        records=records,
        created=str(manifest["created"]),
        unknown_keys=tuple(sorted(k for k in named if k not in known)),
    )


def _tampered(message: str) -> InvalidInput:
    return InvalidInput(f"backup refused: {message}", code="backup_tampered")


def _require_empty(v: Vault, backup_blobs: set[str]) -> None:
    with v.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        for table in _CONTENT_TABLES:
            if table in tables and conn.scalar(sa.text(f"SELECT count(*) FROM {table}")):  # noqa: S608 - fixed names
                raise Conflict(
                    f"the target vault is not empty (it has {table}); restore into a new "
                    "vault made with `archive-vault init`",
                    code="vault_not_empty",
                )
    # A blob of this backup (or its partial write) is what a stopped restore left behind.
    for where, left in _stored_blobs(v):
        if left - backup_blobs:
            raise Conflict(
                f"the target vault's blob store {where} is not empty; restore into a new vault",
                code="vault_not_empty",
            )


def _stored_blobs(v: Vault) -> Iterator[tuple[str, set[str]]]:
    """The blob keys each store of the vault already holds (an S3 bucket is not listed:
    its objects are named by keys a restore writes again, never read unless named)."""
    store: Any = v.blobs
    for one in (store.primary, store.local) if isinstance(store, WithLocalFallback) else (store,):
        if isinstance(one, LocalBlobStore):
            root = one.root
            if root.exists():
                yield (
                    str(root),
                    {p.name.removesuffix(".part") for p in root.rglob("*") if p.is_file()},
                )
        elif isinstance(one, PostgresBlobStore):
            with v.engine.connect() as conn:
                keys = set(conn.scalars(sa.select(BlobSegment.blob_key).distinct()))
            yield "blob_segments", keys


def _key_ids_named(db: Session) -> set[str]:
    named: set[str] = set()
    for kind in WRAPPED:
        for (wrapped,) in db.execute(sa.select(kind.column).where(kind.column.is_not(None))):
            if wrapped:
                named.add(key_id_of(bytes(wrapped)))
    return named


@contextmanager
def _snapshot(v: Vault, folder: Path) -> Iterator[tuple[str, list[str], int, str]]:
    """The database copied into ``folder``, and the blob keys and audit event count of
    that same snapshot (and the tool that made it)."""
    if v.engine.dialect.name == "sqlite":
        target = folder / SQLITE_FILE
        raw = v.engine.raw_connection()
        try:
            copy = sqlite3.connect(target)
            try:
                raw.driver_connection.backup(copy)  # type: ignore[union-attr]
                # One self-contained file: no -wal or -shm beside it, then or later.
                copy.execute("PRAGMA journal_mode=DELETE")
                keys = [k for (k,) in copy.execute("SELECT blob_key FROM attachments")]
                events = copy.execute("SELECT count(*) FROM audit_events").fetchone()[0]
            finally:
                copy.close()
        finally:
            raw.close()
        target.chmod(0o600)
        yield SQLITE_FILE, sorted(keys), int(events), f"sqlite {sqlite3.sqlite_version}"
        return
    tool = _pg_dump_version(v)
    with v.engine.connect() as conn:
        conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        snapshot = conn.scalar(sa.text("SELECT pg_export_snapshot()"))
        keys = list(conn.scalars(sa.select(Attachment.blob_key)))
        events = conn.scalar(sa.text("SELECT count(*) FROM audit_events")) or 0
        target = folder / PG_FILE
        _run(
            [
                _tool("pg_dump"),
                "-Fc",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                *_pg_args(v.config.database_url, "-f", str(target)),
            ],
            v.config.database_url,
            "pg_dump",
        )
        target.chmod(0o600)
        yield PG_FILE, sorted(keys), int(events), tool


def _pg_dump_version(v: Vault) -> str:
    """pg_dump's version, refused when it is older than the server (it cannot dump it)."""
    try:
        out = subprocess.run(  # noqa: S603 - a fixed program and argument
            [_tool("pg_dump"), "--version"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        raise Unavailable("pg_dump does not run (Debian: postgresql-client)") from None
    found = re.search(r"(\d+)\.(\d+)", out.stdout)
    with v.engine.connect() as conn:
        server = int(conn.scalar(sa.text("SHOW server_version_num")) or 0)
    if found is None or int(found.group(1)) < server // 10000:
        raise Unavailable(
            f"{out.stdout.strip()} cannot dump a PostgreSQL {server // 10000} server: "
            f"install the postgresql-client of version {server // 10000} or newer"
        )
    return out.stdout.strip()


def _tool(name: str) -> str:
    """The absolute path of a PostgreSQL client program, or Unavailable."""
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"{name} is not installed (Debian: postgresql-client)")
    return found


def _pg_args(url: str, *extra: str) -> list[str]:
    u = make_url(url)
    args = ["-h", u.host or "localhost", "-p", str(u.port or 5432)]
    if u.username:
        args += ["-U", u.username]
    return [*args, "--no-password", *extra, "-d", u.database or ""]


def _run(args: list[str], url: str, tool: str) -> None:
    env = dict(os.environ)
    password = make_url(url).password
    if password:
        env["PGPASSWORD"] = str(password)
    # Arguments are the vault's own settings and paths, never a user's input.
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        # pg_* messages name tables and options, never row values; the password is in env.
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise Unavailable(f"{tool} failed: {last}")


def _sqlite_restore(source: Path, url: str) -> None:
    path = make_url(url).database
    if not path:
        raise InvalidInput(
            "restore needs a SQLite database file, not memory", code="backup_backend"
        )
    # immutable: reading the backup never writes beside it (no -shm, no -wal)
    src = sqlite3.connect(f"file:{source}?mode=ro&immutable=1", uri=True)
    try:
        dst = sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _pg_restore(source: Path, url: str) -> None:
    # The target is an empty vault (checked): its schema is dropped and the backup's
    # recreated, in one transaction, so a failed restore leaves the empty vault as it was.
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            *_pg_args(url),
            str(source),
        ],
        url,
        "pg_restore",
    )


def _digest(path: Path) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


@contextmanager
def _private(path: Path) -> Iterator[Any]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
