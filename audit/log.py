"""The tamper-evident audit log: append in the act's transaction, seal later, verify.

Append (request path): one INSERT of the event, its canonical JSON and an
HMAC-SHA256 of that JSON under the audit MAC key, in the caller's transaction.
No reads, no global lock: the event commits or rolls back with the act.

Seal (background, in small batches shortly after): link committed events into
the hash chain in seq order and sign a checkpoint of the head (Ed25519). The
gap rule: sequence numbers are handed out before commit, so a lower seq may
commit after a higher one is visible. Sealing goes in seq order and stops at
the first missing seq unless the first committed event after it is older, by
its ``time``, than ``gap_grace`` seconds (default 30); then the missing seq is
taken to be a rolled-back transaction and skipped for good. An event whose
transaction commits later than that is never chained, and ``verify`` reports it
as ``inserted``. So: create each event just before appending it, and commit
every audited transaction well within ``gap_grace`` of the event's time.

Verify: stream the chain joined with the events in position order, check each
MAC, the indexed columns against the body, the chain hashes, every checkpoint
signature and head, then that no unchained event hides below the sealed head;
unchained tail events are checked (MAC and columns) and counted as unsealed.

Limitations: events not yet sealed can be removed without trace (their MAC
stops only forgery), and removing the newest checkpoints together with the
chain rows and events they cover is only visible against a checkpoint kept
elsewhere; ``seal`` logs every checkpoint (``audit.checkpoint``) so that a log
collector holds one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Row, exists, func, insert, select, text
from sqlalchemy.engine import Connection, Dialect

from audit.events import Event, canonical_json, event_fields, format_time, readable
from audit.schema import audit_chain, audit_checkpoints, audit_events

__all__ = [
    "MAX_QUERY_LIMIT",
    "AuditLog",
    "EventCheck",
    "VerifyReport",
    "chain_hash",
    "checkpoint_message",
    "query_events",
]

MIN_MAC_KEY_LENGTH = 32
MAX_QUERY_LIMIT = 500
DEFAULT_GAP_GRACE = 30.0
# Key of the PostgreSQL advisory lock held by a sealing batch ("avaudit1").
SEAL_LOCK_ID = 0x6176617564697431
ZERO_HASH = bytes(32)
_POSITION = struct.Struct(">Q")
_NO_CHECKPOINT = 2**63
_CHECKPOINT_DOMAIN = b"archive-vault/audit-checkpoint/v1\n"
_STREAM_BATCH = 5000
_PROGRESS_EVERY = 10_000
# How far verify looks ahead to tell a reordering from other chain damage.
_REORDER_WINDOW = 1024

_e = audit_events.c
_c = audit_chain.c
_k = audit_checkpoints.c
# Built once: SQLAlchemy then reuses its compiled form without rebuilding it per call.
_INSERT_EVENT = insert(audit_events)
_INSERT_KEYS = (
    "event_id",
    "time",
    "action",
    "actor_person_id",
    "decision",
    "outcome",
    "resource_record",
    "resource_client",
    "body",
    "mac",
)


def chain_hash(prev: bytes, position: int, event_id: str, mac: str) -> bytes:
    """Return the hash at ``position``: SHA-256(prev || position (8 bytes BE) || id || mac)."""
    return hashlib.sha256(
        prev + _POSITION.pack(position) + event_id.encode("ascii") + mac.encode("ascii")
    ).digest()


def checkpoint_message(
    position: int, head_hash: str, time: datetime, prev_signature: str | None
) -> bytes:
    """Return the bytes a checkpoint signature covers.

    Layout: ``archive-vault/audit-checkpoint/v1\\n`` followed by the JSON object
    ``{"head_hash":..,"position":..,"prev_signature":..,"time":..}`` (sorted keys,
    no spaces, time as canonical UTC text, prev_signature null for the first).
    """
    body = {
        "head_hash": head_hash,
        "position": position,
        "prev_signature": prev_signature,
        "time": format_time(time),
    }
    return _CHECKPOINT_DOMAIN + json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class VerifyReport:
    """What ``AuditLog.verify`` found; ``ok`` is False at the first problem.

    ``problem`` is a stable code: ``mac_mismatch``, ``column_mismatch``,
    ``chain_mismatch``, ``deleted``, ``inserted``, ``reordered``, ``truncated``,
    ``bad_signature`` or ``checkpoint_mismatch``. Counts cover what was checked
    up to the problem.
    """

    ok: bool
    events: int
    sealed: int
    unsealed: int
    checkpoints: int
    first_bad_seq: int | None = None
    first_bad_event_id: str | None = None
    problem: str | None = None
    message: str = ""
    first_bad_position: int | None = None


class _Problem(Exception):
    """Internal: stops verification at the first problem found."""

    def __init__(
        self,
        problem: str,
        message: str,
        *,
        seq: int | None = None,
        event_id: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message
        self.seq = seq
        self.event_id = event_id
        self.position = position


class AuditLog:
    """Appends, seals and verifies the tamper-evident audit log.

    Args:
        mac_key: the audit MAC key (at least 32 bytes) from the key provider.
        signing_key: Ed25519 key that signs checkpoints; needed by ``seal``.
        verify_key: Ed25519 public key that checks them; derived from
            ``signing_key`` when omitted; needed by ``verify``.
        logger: structlog logger for the JSON-lines copy (default: logger "audit").

    Raises:
        TypeError: a key has the wrong type.
        ValueError: the MAC key is too short, or the keys do not belong together.
    """

    __slots__ = ("_insert_sql", "_logger", "_mac_key", "_signing_key", "_verify_key")

    def __init__(
        self,
        mac_key: bytes,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        verify_key: Ed25519PublicKey | None = None,
        logger: Any = None,
    ) -> None:
        if not isinstance(mac_key, bytes):
            raise TypeError("mac_key must be bytes")
        if len(mac_key) < MIN_MAC_KEY_LENGTH:
            raise ValueError(f"mac_key must be at least {MIN_MAC_KEY_LENGTH} bytes")
        if signing_key is not None and not isinstance(signing_key, Ed25519PrivateKey):
            raise TypeError("signing_key must be an Ed25519PrivateKey")
        if verify_key is not None and not isinstance(verify_key, Ed25519PublicKey):
            raise TypeError("verify_key must be an Ed25519PublicKey")
        if signing_key is not None:
            derived = signing_key.public_key()
            if verify_key is not None and _raw(verify_key) != _raw(derived):
                raise ValueError("verify_key does not match signing_key")
            verify_key = derived
        self._mac_key = mac_key
        self._signing_key = signing_key
        self._verify_key = verify_key
        self._logger = logger if logger is not None else structlog.get_logger("audit")
        self._insert_sql: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"AuditLog(mac_key=<hidden>, can_seal={self._signing_key is not None}, "
            f"can_verify={self._verify_key is not None})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("AuditLog holds key material and cannot be pickled")

    def _mac(self, body: bytes) -> str:
        return hmac.digest(self._mac_key, body, "sha256").hex()

    def append(self, conn: Connection, event: Event) -> int:
        """Insert the event with its MAC in the caller's transaction; return its seq.

        One INSERT, no reads, no commit: the event commits or rolls back with the
        caller's act. With an ORM session pass ``session.connection()``.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the insert failed; the caller's
                transaction must then fail (fail closed).
        """
        result = conn.execute(_INSERT_EVENT, self.insert_params(event))
        key = result.inserted_primary_key
        if key is None or key[0] is None:
            raise RuntimeError("the database returned no seq for the audit event")
        return int(key[0])

    def insert_params(self, event: Event) -> dict[str, Any]:
        """The row of ``event`` as the insert binds it: its columns, canonical body and MAC."""
        body = canonical_json(event)
        return {
            "event_id": event.id,
            "time": event.time,
            "action": event.action,
            "actor_person_id": event.actor.person_id,
            "decision": event.decision,
            "outcome": event.outcome,
            "resource_record": event.resource.get("record"),
            "resource_client": event.resource.get("client"),
            "body": body.decode("ascii"),
            "mac": self._mac(body),
        }

    def insert_sql(self, dialect: Dialect) -> str:
        """The insert as ``dialect``'s driver takes it (for a caller that pipelines it with
        its commit on the raw connection); compiled once per dialect."""
        found = self._insert_sql.get(dialect.name)
        if found is None:
            found = str(_INSERT_EVENT.compile(dialect=dialect, column_keys=list(_INSERT_KEYS)))
            self._insert_sql[dialect.name] = found
        return found

    def emit(self, event: Event, *, seq: int | None = None) -> None:
        """Write the JSON-lines copy of a committed event (message ``audit.event``)."""
        self._logger.info("audit.event", seq=seq, **event_fields(event))

    def seal(
        self,
        conn: Connection,
        *,
        batch: int = 500,
        max_batches: int | None = None,
        gap_grace: float = DEFAULT_GAP_GRACE,
    ) -> int:
        """Chain committed events in seq order and sign a checkpoint per batch.

        Each batch is its own transaction on ``conn`` (committed here), holding
        the PostgreSQL advisory lock ``SEAL_LOCK_ID`` or SQLite's write lock, so
        concurrent sealers take turns. Run it in READ COMMITTED (the default).
        Gaps in seq follow the rule in the module docstring.

        Args:
            conn: a connection not inside a transaction.
            batch: events per batch and checkpoint (1..10000).
            max_batches: stop after this many batches (default: until caught up).
            gap_grace: seconds after which a missing seq counts as rolled back.

        Returns:
            The number of events linked into the chain.

        Raises:
            ValueError: no signing key, bad arguments, or ``conn`` is in a transaction.
        """
        if self._signing_key is None:
            raise ValueError("sealing needs the signing key")
        if not 1 <= batch <= 10_000:
            raise ValueError("batch must be between 1 and 10000")
        if max_batches is not None and max_batches < 1:
            raise ValueError("max_batches must be at least 1")
        if gap_grace < 0:
            raise ValueError("gap_grace must not be negative")
        if conn.in_transaction():
            raise ValueError(
                "seal() commits its own batches; pass a connection outside a transaction"
            )
        total = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            with conn.begin():
                linked, checkpoint = self._seal_batch(conn, self._signing_key, batch, gap_grace)
            batches += 1
            total += linked
            if checkpoint is not None:
                self._logger.info("audit.checkpoint", **checkpoint)
            if linked < batch:
                break
        return total

    def _seal_batch(
        self, conn: Connection, key: Ed25519PrivateKey, batch: int, gap_grace: float
    ) -> tuple[int, dict[str, Any] | None]:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(SEAL_LOCK_ID)))
        elif dialect == "sqlite":
            # A write that changes nothing takes the write lock now (BEGIN IMMEDIATE
            # semantics), so the reads below cannot go stale under another sealer.
            conn.execute(text("UPDATE audit_checkpoints SET position = position WHERE 0"))
        # Elsewhere the unique position and event_seq make a racing sealer fail.
        tip = conn.execute(
            select(_c.position, _c.event_seq, _c.hash).order_by(_c.position.desc()).limit(1)
        ).first()
        position, last_seq, head = (
            (tip[0], tip[1], bytes.fromhex(tip[2])) if tip else (0, 0, ZERO_HASH)
        )
        prev_signature = conn.execute(
            select(_k.signature).order_by(_k.position.desc()).limit(1)
        ).scalar()
        rows = conn.execute(
            select(_e.seq, _e.event_id, _e.mac, _e.time)
            .where(_e.seq > last_seq)
            .order_by(_e.seq)
            .limit(batch)
        ).all()
        now = datetime.now(UTC)
        grace = timedelta(seconds=gap_grace)
        links = []
        expected = last_seq + 1
        for seq, event_id, mac, time in rows:
            if seq != expected and now - _utc(time) < grace:
                break  # the missing seq may still commit: wait for it
            position += 1
            head = chain_hash(head, position, event_id, mac)
            links.append(
                {"position": position, "event_seq": seq, "event_id": event_id, "hash": head.hex()}
            )
            expected = seq + 1
        if not links:
            return 0, None
        conn.execute(insert(audit_chain), links)
        head_hash = head.hex()
        signature = key.sign(checkpoint_message(position, head_hash, now, prev_signature)).hex()
        conn.execute(
            insert(audit_checkpoints),
            {
                "position": position,
                "head_hash": head_hash,
                "time": now,
                "signature": signature,
                "prev_signature": prev_signature,
            },
        )
        return len(links), {
            "position": position,
            "head_hash": head_hash,
            "time": format_time(now),
            "signature": signature,
        }

    def verify(
        self, conn: Connection, *, progress: Callable[[int], None] | None = None
    ) -> VerifyReport:
        """Check the whole log; read-only, streaming, stops at the first problem.

        On PostgreSQL a REPEATABLE READ transaction gives one consistent view;
        READ COMMITTED also works while appends and seals go on. A transaction
        begun here is rolled back at the end.

        Args:
            conn: the connection to read through.
            progress: called with the number of events checked since its previous
                call (so ``tqdm.update`` fits), every 10,000 events and at the end.

        Raises:
            ValueError: no verify key.
        """
        if self._verify_key is None:
            raise ValueError("verifying needs the checkpoint verify key")
        began = not conn.in_transaction()
        verifier = _Verifier(conn, self._mac_key, self._verify_key, progress)
        try:
            return verifier.run()
        finally:
            if began and conn.in_transaction():
                conn.rollback()

    def inspect(self, conn: Connection, seq: int) -> EventCheck | None:
        """Check one event where it stands: its MAC, its columns, its chain link and the
        checkpoint that covers it (the same checks as ``verify``, for one event only).

        Returns None when there is no event ``seq``. The chain link is checked against the
        previous chain row's stored hash (the whole chain up to it is ``verify``'s work).
        """
        row = conn.execute(select(*_EVENT_COLUMNS).where(_e.seq == seq)).first()
        if row is None:
            return None
        mac_ok = self._mac(row.body.encode("ascii")) == row.mac
        columns_ok = _columns_match(
            row.body,
            row.event_id,
            row.time,
            row.action,
            row.actor_person_id,
            row.decision,
            row.outcome,
            row.resource_record,
            row.resource_client,
        )
        link = conn.execute(select(_c.position, _c.hash).where(_c.event_seq == seq)).first()
        if link is None:
            return EventCheck(seq, row.event_id, row.mac, mac_ok, columns_ok)
        prev = conn.execute(
            select(_c.hash, _e.mac, _e.seq)
            .select_from(audit_chain.outerjoin(audit_events, _e.seq == _c.event_seq))
            .where(_c.position == link.position - 1)
        ).first()
        prev_hash = ZERO_HASH if link.position == 1 else bytes.fromhex(prev.hash) if prev else None
        chain_ok = prev_hash is not None and (
            chain_hash(prev_hash, link.position, row.event_id, row.mac).hex() == link.hash
        )
        cover = conn.execute(
            select(audit_checkpoints)
            .where(_k.position >= link.position)
            .order_by(_k.position)
            .limit(1)
        ).first()
        return EventCheck(
            seq,
            row.event_id,
            row.mac,
            mac_ok,
            columns_ok,
            position=link.position,
            chain_ok=chain_ok,
            prev_seq=prev.seq if prev else None,
            prev_mac=prev.mac if prev else None,
            checkpoint_position=cover.position if cover else None,
            checkpoint_time=_utc(cover.time) if cover else None,
            checkpoint_signature_ok=(
                _signature_ok(self._verify_key, cover)
                if cover is not None and self._verify_key is not None
                else None
            ),
        )

    def check_many(self, conn: Connection, seqs: list[int]) -> dict[int, bool | None]:
        """:meth:`inspect`'s MAC, columns and chain-link checks for many events at once
        (three statements): True when an event holds, False when it does not, None when
        it holds but awaits the chain. An absent event is absent from the answer.

        Checkpoint signatures are :meth:`verify`'s work over the whole chain."""
        out: dict[int, bool | None] = {}
        if not seqs:
            return out
        rows = conn.execute(select(*_EVENT_COLUMNS).where(_e.seq.in_(seqs))).all()
        links = {
            r.event_seq: (r.position, r.hash)
            for r in conn.execute(
                select(_c.event_seq, _c.position, _c.hash).where(_c.event_seq.in_(seqs))
            )
        }
        wanted = [pos - 1 for pos, _ in links.values() if pos > 1]
        prev: dict[int, str] = {}
        if wanted:
            prev = {
                r.position: r.hash
                for r in conn.execute(select(_c.position, _c.hash).where(_c.position.in_(wanted)))
            }
        for row in rows:
            ok = self._mac(row.body.encode("ascii")) == row.mac and _columns_match(
                row.body,
                row.event_id,
                row.time,
                row.action,
                row.actor_person_id,
                row.decision,
                row.outcome,
                row.resource_record,
                row.resource_client,
            )
            link = links.get(row.seq)
            if not ok:
                out[row.seq] = False
            elif link is None:
                out[row.seq] = None
            else:
                position, stored = link
                before = ZERO_HASH.hex() if position == 1 else prev.get(position - 1)
                out[row.seq] = before is not None and (
                    chain_hash(bytes.fromhex(before), position, row.event_id, row.mac).hex()
                    == stored
                )
        return out


@dataclass(frozen=True)
class EventCheck:
    """What ``AuditLog.inspect`` found about one event.

    ``position`` is None while the event awaits the chain (then so are the chain fields);
    ``checkpoint_*`` are None until a checkpoint covers its position.
    """

    seq: int
    event_id: str
    mac: str
    mac_ok: bool
    columns_ok: bool
    position: int | None = None
    chain_ok: bool | None = None
    prev_seq: int | None = None
    prev_mac: str | None = None
    checkpoint_position: int | None = None
    checkpoint_time: datetime | None = None
    checkpoint_signature_ok: bool | None = None

    @property
    def ok(self) -> bool:
        """The event matches its MAC and columns, and its chain link holds if it has one."""
        return self.mac_ok and self.columns_ok and self.chain_ok is not False


def _signature_ok(verify_key: Ed25519PublicKey, checkpoint: Row[Any]) -> bool:
    """Whether a checkpoint row's signature is the verify key's over its message."""
    message = checkpoint_message(
        checkpoint.position,
        checkpoint.head_hash,
        _utc(checkpoint.time),
        checkpoint.prev_signature,
    )
    try:
        verify_key.verify(bytes.fromhex(checkpoint.signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


_EVENT_COLUMNS = (
    _e.seq,
    _e.event_id,
    _e.mac,
    _e.body,
    _e.time,
    _e.action,
    _e.actor_person_id,
    _e.decision,
    _e.outcome,
    _e.resource_record,
    _e.resource_client,
)


class _Verifier:
    """One run of ``AuditLog.verify``; state kept on the instance, hot loop in locals."""

    def __init__(
        self,
        conn: Connection,
        mac_key: bytes,
        verify_key: Ed25519PublicKey,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.conn = conn
        self.mac_key = mac_key
        self.verify_key = verify_key
        self.progress = progress
        self.reported = 0
        self.events = 0
        self.sealed = 0
        self.unsealed = 0
        self.checkpoints = 0

    def run(self) -> VerifyReport:
        try:
            self._check()
        except _Problem as p:
            return self._report(p)
        self._progress(self.events)
        return self._report(None)

    def _progress(self, done: int) -> None:
        if self.progress is not None and done > self.reported:
            self.progress(done - self.reported)
            self.reported = done

    def _report(self, p: _Problem | None) -> VerifyReport:
        return VerifyReport(
            ok=p is None,
            events=self.events,
            sealed=self.sealed,
            unsealed=self.unsealed,
            checkpoints=self.checkpoints,
            first_bad_seq=p.seq if p else None,
            first_bad_event_id=p.event_id if p else None,
            problem=p.problem if p else None,
            message=p.message if p else "ok",
            first_bad_position=p.position if p else None,
        )

    def _stream(self, stmt: Any) -> Any:
        return self.conn.execute(stmt.execution_options(yield_per=_STREAM_BATCH))

    def _check(self) -> None:
        # Checkpoints are read first: every chain row a checkpoint covers was
        # committed with it, so the later chain query sees all of them.
        checkpoints = self._stream(select(audit_checkpoints).order_by(_k.position))
        try:
            chain = self._stream(
                select(_c.position, _c.event_seq, _c.event_id, _c.hash, *_EVENT_COLUMNS)
                .select_from(audit_chain.outerjoin(audit_events, _e.seq == _c.event_seq))
                .order_by(_c.position)
            )
            try:
                last_seq = self._check_chain(chain, iter(checkpoints))
            finally:
                chain.close()
        finally:
            checkpoints.close()
        self._check_inserted(last_seq)
        self._check_tail(last_seq)

    def _check_chain(self, chain: Any, checkpoints: Iterator[Row[Any]]) -> int:
        """Check every chain row, its event and the checkpoints; return the last chained seq."""
        try:
            return self._check_chain_rows(chain, checkpoints)
        finally:
            self.events = self.sealed

    def _check_chain_rows(self, chain: Any, checkpoints: Iterator[Row[Any]]) -> int:
        mac_key = self.mac_key
        digest = hmac.digest
        sha256 = hashlib.sha256
        pack_position = _POSITION.pack
        head = ZERO_HASH
        prev_signature: str | None = None
        checkpoint = next(checkpoints, None)
        # The position of the next checkpoint, as a plain int for the hot loop.
        at = checkpoint.position if checkpoint is not None else _NO_CHECKPOINT
        last_seq = 0
        for (
            position, chain_seq, chain_event_id, stored,
            seq, event_id, mac, body, time, action, person_id, decision, outcome, record, client,
        ) in chain:  # fmt: skip
            if position != self.sealed + 1:
                self._missing_position(self.sealed + 1, last_seq, chain_seq)
            if seq is None:
                raise _Problem(
                    "deleted",
                    f"event seq {chain_seq} at chain position {position} is missing",
                    seq=chain_seq,
                    event_id=chain_event_id,
                    position=position,
                )
            if digest(mac_key, body.encode("ascii"), "sha256").hex() != mac:
                raise _Problem(
                    "mac_mismatch",
                    f"event seq {seq} does not match its MAC",
                    seq=seq,
                    event_id=event_id,
                    position=position,
                )
            if not _columns_match(
                body, event_id, time, action, person_id, decision, outcome, record, client
            ):
                raise _Problem(
                    "column_mismatch",
                    f"indexed columns of event seq {seq} differ from its body",
                    seq=seq,
                    event_id=event_id,
                    position=position,
                )
            prev = head
            head = sha256(
                prev + pack_position(position) + event_id.encode("ascii") + mac.encode("ascii")
            ).digest()
            if head.hex() != stored or chain_event_id != event_id or seq <= last_seq:
                self._chain_broken(prev, position, seq, event_id, stored)
            while position >= at and checkpoint is not None:
                prev_signature = self._check_checkpoint(
                    checkpoint, head, prev_signature, seq, event_id, position
                )
                checkpoint = next(checkpoints, None)
                at = checkpoint.position if checkpoint is not None else _NO_CHECKPOINT
            last_seq = seq
            self.sealed = position
            if position % _PROGRESS_EVERY == 0:
                self._progress(position)
        if checkpoint is not None:
            self._truncated(checkpoint, self.sealed)
        return last_seq

    def _missing_position(self, expected: int, after_seq: int, before_seq: int) -> None:
        # Name the unchained event left behind, if only its chain row was removed.
        orphan = self.conn.execute(
            select(_e.seq, _e.event_id)
            .where(_e.seq > after_seq, _e.seq < before_seq)
            .order_by(_e.seq)
            .limit(1)
        ).first()
        raise _Problem(
            "deleted",
            f"chain position {expected} is missing",
            seq=orphan[0] if orphan else None,
            event_id=orphan[1] if orphan else None,
            position=expected,
        )

    def _chain_broken(
        self, prev: bytes, position: int, seq: int, event_id: str, stored: str
    ) -> None:
        # A genuine event in the wrong place is a reordering; anything else is
        # damage to the chain itself.
        ahead = self.conn.execute(
            select(_c.event_seq, _e.event_id, _e.mac)
            .select_from(audit_chain.outerjoin(audit_events, _e.seq == _c.event_seq))
            .where(_c.position > position, _c.position <= position + _REORDER_WINDOW)
            .order_by(_c.position)
        ).all()
        reordered = any(
            other_seq < seq
            or (other_id is not None and chain_hash(prev, position, other_id, mac).hex() == stored)
            for other_seq, other_id, mac in ahead
        )
        raise _Problem(
            "reordered" if reordered else "chain_mismatch",
            f"event seq {seq} is out of place in the chain at position {position}"
            if reordered
            else f"chain hash at position {position} (event seq {seq}) does not match",
            seq=seq,
            event_id=event_id,
            position=position,
        )

    def _check_checkpoint(
        self,
        checkpoint: Row[Any],
        head: bytes,
        prev_signature: str | None,
        seq: int | None,
        event_id: str | None,
        position: int,
    ) -> str:
        def problem(code: str, message: str) -> _Problem:
            return _Problem(code, message, seq=seq, event_id=event_id, position=checkpoint.position)

        if not self._signature_ok(checkpoint):
            raise problem(
                "bad_signature", f"checkpoint at position {checkpoint.position} has a bad signature"
            )
        if checkpoint.position != position or checkpoint.prev_signature != prev_signature:
            raise problem(
                "checkpoint_mismatch",
                f"checkpoint at position {checkpoint.position} is out of sequence",
            )
        if checkpoint.head_hash != head.hex():
            raise problem(
                "checkpoint_mismatch",
                f"chain head at position {position} differs from its signed checkpoint",
            )
        self.checkpoints += 1
        return str(checkpoint.signature)

    def _signature_ok(self, checkpoint: Row[Any]) -> bool:
        return _signature_ok(self.verify_key, checkpoint)

    def _truncated(self, checkpoint: Row[Any], length: int) -> None:
        if not self._signature_ok(checkpoint):
            raise _Problem(
                "bad_signature",
                f"checkpoint at position {checkpoint.position} has a bad signature",
                position=checkpoint.position,
            )
        raise _Problem(
            "truncated",
            f"chain ends at position {length} but a checkpoint covers position "
            f"{checkpoint.position}",
            position=length + 1,
        )

    def _check_inserted(self, last_seq: int) -> None:
        below = self.conn.execute(
            select(func.count()).select_from(audit_events).where(_e.seq <= last_seq)
        ).scalar_one()
        if below == self.sealed:
            return
        first = self.conn.execute(
            select(*_EVENT_COLUMNS)
            .where(_e.seq <= last_seq, ~exists().where(_c.event_seq == _e.seq))
            .order_by(_e.seq)
            .limit(1)
        ).one()
        self._check_event(*first)
        raise _Problem(
            "inserted",
            f"event seq {first.seq} lies below the sealed head but is not in the chain",
            seq=first.seq,
            event_id=first.event_id,
        )

    def _check_event(
        self,
        seq: int,
        event_id: str,
        mac: str,
        body: str,
        *columns: Any,
    ) -> None:
        """Check an unchained event: its MAC, then its indexed columns against the body."""
        if hmac.digest(self.mac_key, body.encode("ascii"), "sha256").hex() != mac:
            raise _Problem(
                "mac_mismatch",
                f"unchained event seq {seq} does not match its MAC",
                seq=seq,
                event_id=event_id,
            )
        if not _columns_match(body, event_id, *columns):
            raise _Problem(
                "column_mismatch",
                f"indexed columns of unchained event seq {seq} differ from its body",
                seq=seq,
                event_id=event_id,
            )

    def _check_tail(self, last_seq: int) -> None:
        tail = self._stream(select(*_EVENT_COLUMNS).where(_e.seq > last_seq).order_by(_e.seq))
        try:
            for row in tail:
                self._check_event(*row)
                self.events += 1
                self.unsealed += 1
                if self.events % _PROGRESS_EVERY == 0:
                    self._progress(self.events)
        finally:
            tail.close()


_decode_json = json.JSONDecoder().raw_decode
_parse_time = datetime.fromisoformat


def _columns_match(
    body: str,
    event_id: str,
    time: datetime,
    action: str,
    person_id: int | None,
    decision: str,
    outcome: str,
    record: str | None,
    client: str | None,
) -> bool:
    """Return whether the indexed columns of an event agree with its (authentic) body."""
    try:
        fields = _decode_json(body)[0]
        body_time = fields["time"]
        # SQLite gives naive UTC datetimes: compare without the trailing "Z" then.
        body_time = _parse_time(body_time[:-1] if time.tzinfo is None else body_time)
        resource = fields["resource"]
        return bool(
            fields["id"] == event_id
            and body_time == time
            and fields["action"] == action
            and fields["actor"]["person_id"] == person_id
            and fields["decision"] == decision
            and fields["outcome"] == outcome
            and resource.get("record") == record
            and resource.get("client") == client
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return False


def query_events(
    conn: Connection,
    *,
    after_seq: int | None = None,
    before_seq: int | None = None,
    newest_first: bool = False,
    limit: int = 100,
    action: str | None = None,
    person_id: int | None = None,
    record: str | None = None,
    client: str | None = None,
    decision: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[int, Event]]:
    """List events by seq ascending, for paging with ``after_seq`` (last seq seen).

    Reads the stored bodies without checking MACs (``AuditLog.verify`` does that), and
    never fails on one: a body that is not a readable event comes back as its stand-in
    (:func:`audit.events.readable`), so one bad row cannot hide the others.

    Args:
        after_seq: return only events with a larger seq.
        before_seq: return only events with a smaller seq (paging newest first).
        newest_first: descending seq order instead.
        limit: page size, capped at ``MAX_QUERY_LIMIT`` (500).
        since: inclusive lower bound on event time (timezone-aware).
        until: exclusive upper bound on event time (timezone-aware).

    Returns:
        ``(seq, event)`` pairs in ascending seq order (descending with ``newest_first``).

    Raises:
        ValueError: ``limit`` below 1 or a naive ``since``/``until``.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    stmt = (
        select(_e.seq, _e.body, _e.event_id, _e.time)
        .order_by(_e.seq.desc() if newest_first else _e.seq)
        .limit(min(limit, MAX_QUERY_LIMIT))
    )
    if after_seq is not None:
        stmt = stmt.where(_e.seq > after_seq)
    if before_seq is not None:
        stmt = stmt.where(_e.seq < before_seq)
    if action is not None:
        stmt = stmt.where(_e.action == action)
    if person_id is not None:
        stmt = stmt.where(_e.actor_person_id == person_id)
    if record is not None:
        stmt = stmt.where(_e.resource_record == record)
    if client is not None:
        stmt = stmt.where(_e.resource_client == client)
    if decision is not None:
        stmt = stmt.where(_e.decision == decision)
    for bound, clause in ((since, _e.time.__ge__), (until, _e.time.__lt__)):
        if bound is not None:
            if bound.tzinfo is None:
                raise ValueError("since and until must be timezone-aware")
            # UTC: SQLite keeps the wall-clock text only.
            stmt = stmt.where(clause(bound.astimezone(UTC)))
    return [
        (seq, readable(body, event_id=event_id, time=time))
        for seq, body, event_id, time in conn.execute(stmt)
    ]
