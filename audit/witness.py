"""Witnesses: copies of every signed checkpoint kept outside the database.

A hash chain kept only in the database it protects cannot show that its newest part was
cut off: whoever holds the database can remove the last events together with their
chain rows and checkpoints. A witness keeps each checkpoint elsewhere, so ``verify``
can compare (``AuditLog.verify(conn, witness=...)``).

:class:`DirectoryWitness` writes each checkpoint as its own file
``<position, 20 digits>.json`` in a directory (a mounted share, a WORM bucket's
mirror...), created exclusively and read-only, never rewritten. The file is the
checkpoint's *statement*: the signed fields, the signature and the public key's hex, so
a third party can check it with ``python -m audit``. The sealer also logs every
statement (``audit.checkpoint`` in the structlog stream), a second witness.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "STATEMENT_FORMAT",
    "DirectoryWitness",
    "Statement",
    "Witness",
    "WitnessConflict",
    "Witnesses",
]

STATEMENT_FORMAT = "archive-vault/audit-checkpoint-statement/v1"
_NAME = re.compile(r"^[0-9]{20}\.json$")
_MAX_FILE = 64 * 1024


class WitnessConflict(Exception):
    """A witness already holds a different checkpoint at that position."""


@dataclass(frozen=True)
class Statement:
    """One checkpoint as a witness holds it; ``data`` None when the file is unreadable."""

    name: str
    data: Mapping[str, Any] | None


@runtime_checkable
class Witness(Protocol):
    """Somewhere outside the database that keeps every checkpoint."""

    def record(self, statement: Mapping[str, Any]) -> None:
        """Keep ``statement`` (once; WitnessConflict if a different one is already kept)."""
        ...

    def read(self) -> list[Statement]:
        """Every statement kept, by position."""
        ...

    def describe(self) -> str:
        """Where it is, for messages."""
        ...


def _dump(statement: Mapping[str, Any]) -> bytes:
    return (json.dumps(dict(statement), sort_keys=True, indent=1) + "\n").encode("ascii")


class DirectoryWitness:
    """An append-only directory: one read-only file per checkpoint, never rewritten."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"DirectoryWitness({str(self.path)!r})"

    def describe(self) -> str:
        return str(self.path)

    def record(self, statement: Mapping[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / f"{int(statement['position']):020d}.json"
        payload = _dump(statement)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            if target.read_bytes() != payload:
                raise WitnessConflict(
                    f"the witness {self.path} already holds a different checkpoint at "
                    f"position {statement['position']}"
                ) from None
            return
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[Statement]:
        if not self.path.is_dir():
            return []
        out = []
        for entry in sorted(self.path.iterdir()):
            if not _NAME.match(entry.name):
                continue
            data: Any = None
            try:
                if entry.stat().st_size <= _MAX_FILE:
                    data = json.loads(entry.read_bytes())
            except (OSError, ValueError):
                data = None
            ok = isinstance(data, dict) and data.get("format") == STATEMENT_FORMAT
            try:
                ok = ok and int(data["position"]) == int(entry.name[:20])
            except (KeyError, TypeError, ValueError):
                ok = False
            out.append(Statement(entry.name, data if ok else None))
        return out


class Witnesses:
    """Several witnesses as one: each checkpoint goes to every one (all are tried; the
    first failure is raised after), and verify compares with what each holds."""

    def __init__(self, *witnesses: Witness) -> None:
        self.witnesses = witnesses

    def __repr__(self) -> str:
        return f"Witnesses({', '.join(map(repr, self.witnesses))})"

    def describe(self) -> str:
        return " and ".join(w.describe() for w in self.witnesses)

    def record(self, statement: Mapping[str, Any]) -> None:
        failure: Exception | None = None
        for witness in self.witnesses:
            try:
                witness.record(statement)
            except (OSError, WitnessConflict) as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def read(self) -> list[Statement]:
        out = [s for w in self.witnesses for s in w.read()]
        return sorted(out, key=lambda s: int(s.data["position"]) if s.data else -1)
