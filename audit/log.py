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

import hmac
import json
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import Row, exists, func, insert, select, text
from sqlalchemy.engine import Connection, Dialect

from audit import merkle
from audit.bundle import BUNDLE_FORMAT
from audit.checkpoint import checkpoint_message, leaf_input
from audit.events import Event, canonical_json, event_fields, format_time, readable
from audit.hashing import DEFAULT_ALGORITHM, check_algorithm, hasher
from audit.keys import (
    LEGACY_KEY_ID,
    MIN_MAC_KEY_LENGTH,
    AuditKeys,
    LocalAuditKeys,
    UnknownAuditKey,
    public_key_hex,
)
from audit.schema import audit_chain, audit_checkpoints, audit_events, audit_tree
from audit.witness import STATEMENT_FORMAT, Witness

__all__ = [
    "MAX_QUERY_LIMIT",
    "MIN_MAC_KEY_LENGTH",
    "AuditLog",
    "EventCheck",
    "ProofError",
    "VerifyReport",
    "chain_hash",
    "checkpoint_message",
    "query_events",
]

MAX_QUERY_LIMIT = 500
DEFAULT_GAP_GRACE = 30.0
# Key of the PostgreSQL advisory lock held by a sealing batch ("avaudit1").
SEAL_LOCK_ID = 0x6176617564697431
ZERO_HASH = bytes(32)
_POSITION = struct.Struct(">Q")
_NO_CHECKPOINT = 2**63
_STREAM_BATCH = 5000
_MAC_BATCH = 1000
_TREE_INSERT_BATCH = 5000
_PROGRESS_EVERY = 10_000
# How far verify looks ahead to tell a reordering from other chain damage.
_REORDER_WINDOW = 1024

_e = audit_events.c
_c = audit_chain.c
_k = audit_checkpoints.c
_t = audit_tree.c
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
    "mac_key",
    "alg",
)


def chain_hash(
    prev: bytes, position: int, event_id: str, mac: str, alg: str = DEFAULT_ALGORITHM
) -> bytes:
    """Return the hash at ``position``: H(prev || position (8 bytes BE) || id || mac)."""
    return hasher(alg)(
        prev + _POSITION.pack(position) + event_id.encode("ascii") + mac.encode("ascii")
    )


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ProofError(ValueError):
    """No proof can be made: unknown event or checkpoint, or one not yet sealed."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class VerifyReport:
    """What ``AuditLog.verify`` found; ``ok`` is False at the first problem.

    ``problem`` is a stable code: ``mac_mismatch``, ``column_mismatch``,
    ``chain_mismatch``, ``deleted``, ``inserted``, ``reordered``, ``truncated``,
    ``bad_signature``, ``checkpoint_mismatch``, ``root_mismatch``, ``unknown_key``, or
    against a witness ``witness_mismatch``, ``witness_missing`` (a witnessed checkpoint
    the database lacks), ``witness_bad_signature`` or ``witness_unreadable``. Counts
    cover what was checked up to the problem.

    ``witnessed`` is None when no witness was given (then a cut-off tail together with
    its checkpoints cannot be seen: ``last_checkpoint*`` say up to where the database
    vouches for itself); else how many witnessed checkpoints matched, and
    ``unwitnessed`` how many of the database's checkpoints the witness lacks.
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
    last_checkpoint: int | None = None
    last_checkpoint_time: datetime | None = None
    witnessed: int | None = None
    unwitnessed: int = 0
    last_witnessed: int | None = None


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


def statement_of(row: Any) -> dict[str, Any]:
    """A checkpoint row as the JSON object witnesses and bundles carry (without its key)."""
    return {
        "format": STATEMENT_FORMAT,
        "alg": row.alg,
        "head_hash": row.head_hash,
        "key": row.key_id,
        "position": int(row.position),
        "prev_signature": row.prev_signature,
        "root": row.root,
        "signature": row.signature,
        "time": format_time(_utc(row.time)),
    }


class AuditLog:
    """Appends, seals and verifies the tamper-evident audit log.

    Args:
        mac_key: the audit MAC key (at least 32 bytes), for a log whose keys are in
            memory (key id ``file:1``); or give ``keys`` instead.
        signing_key: Ed25519 key that signs checkpoints; needed by ``seal``.
        verify_key: Ed25519 public key that checks them; derived from
            ``signing_key`` when omitted; needed by ``verify``.
        keys: the audit keys by version (``audit.keys.AuditKeys``), e.g. from an HSM.
        algorithm: ``"sha256"`` (default) or ``"sm3"`` (HMAC-SM3 for new events' MACs,
            SM3 for their chain links and for the Merkle tree new checkpoints sign).
        witness: where every new checkpoint is also written (``audit.witness``).
        logger: structlog logger for the JSON-lines copy (default: logger "audit").

    Raises:
        TypeError: a key has the wrong type.
        ValueError: the MAC key is too short, the keys do not belong together, or the
            algorithm is unknown.
    """

    __slots__ = (
        "_algorithm",
        "_can_verify",
        "_hash",
        "_insert_sql",
        "_keys",
        "_logger",
        "_witness",
    )

    def __init__(
        self,
        mac_key: bytes | None = None,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        verify_key: Ed25519PublicKey | None = None,
        keys: AuditKeys | None = None,
        algorithm: str = DEFAULT_ALGORITHM,
        witness: Witness | None = None,
        logger: Any = None,
    ) -> None:
        if keys is None:
            if not isinstance(mac_key, bytes):
                raise TypeError("mac_key must be bytes")
            if signing_key is not None and not isinstance(signing_key, Ed25519PrivateKey):
                raise TypeError("signing_key must be an Ed25519PrivateKey")
            if verify_key is not None and not isinstance(verify_key, Ed25519PublicKey):
                raise TypeError("verify_key must be an Ed25519PublicKey")
            local = LocalAuditKeys(
                {LEGACY_KEY_ID: mac_key},
                signing={LEGACY_KEY_ID: signing_key} if signing_key is not None else None,
                public={LEGACY_KEY_ID: verify_key} if verify_key is not None else None,
            )
            self._can_verify = local.can_verify()
            keys = local
        else:
            if mac_key is not None or signing_key is not None or verify_key is not None:
                raise ValueError("give either keys or mac_key/signing_key/verify_key")
            self._can_verify = True
        self._keys: AuditKeys = keys
        self._algorithm = check_algorithm(algorithm)
        self._hash = hasher(self._algorithm)
        self._witness = witness
        self._logger = logger if logger is not None else structlog.get_logger("audit")
        self._insert_sql: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return (
            f"AuditLog(keys=<hidden: {self._keys!r}>, algorithm={self._algorithm!r}, "
            f"can_seal={self._can_seal()}, "
            f"can_verify={self._can_verify})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("AuditLog holds key material and cannot be pickled")

    @property
    def algorithm(self) -> str:
        """The hash algorithm of new events and checkpoints."""
        return self._algorithm

    @property
    def keys(self) -> AuditKeys:
        """The audit keys (ids, MACs and signatures; never key bytes)."""
        return self._keys

    @property
    def witness(self) -> Witness | None:
        """Where new checkpoints are also written, if anywhere."""
        return self._witness

    def _mac(self, body: bytes, key_id: str | None = None, alg: str | None = None) -> str:
        return self._keys.macs(key_id or self._keys.mac_key_id(), alg or self._algorithm, [body])[0]

    def _stored_mac(self, body: str, key_id: str | None, alg: str | None) -> str | None:
        """The MAC a stored event should have (None: its key is unknown)."""
        try:
            return self._mac(body.encode("ascii"), key_id or LEGACY_KEY_ID, alg or "sha256")
        except UnknownAuditKey:
            return None

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
        key_id = self._keys.mac_key_id()
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
            "mac": self._mac(body, key_id, self._algorithm),
            "mac_key": key_id,
            "alg": self._algorithm,
        }

    def insert_sql(self, dialect: Dialect) -> str:
        """The insert as ``dialect``'s driver takes it (for a caller that sends it on the
        driver's connection: pipelined with the commit on PostgreSQL, as the one insert of
        a SQLite transaction); compiled once per dialect. Its parameters:
        :meth:`insert_args`."""
        return self._compiled_insert(dialect)[0]

    def insert_args(self, dialect: Dialect, event: Event) -> Any:
        """The parameters of :meth:`insert_sql` for ``event``, converted by the columns'
        types as SQLAlchemy would (in order, for a driver that takes them so)."""
        _, order, processors = self._compiled_insert(dialect)
        params = self.insert_params(event)
        for name, process in processors.items():
            params[name] = process(params[name])
        return tuple(params[name] for name in order) if order is not None else params

    def _compiled_insert(
        self, dialect: Dialect
    ) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        found = self._insert_sql.get(dialect.name)
        if found is None:
            compiled = _INSERT_EVENT.compile(dialect=dialect, column_keys=list(_INSERT_KEYS))
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            types = {key: audit_events.c[key].type.dialect_impl(dialect) for key in _INSERT_KEYS}
            processors = {
                key: process
                for key, impl in types.items()
                if (process := impl.bind_processor(dialect)) is not None
            }
            found = (str(compiled), order, processors)
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
        Gaps in seq follow the rule in the module docstring. The batch also adds the
        new events to the Merkle tree (the first batch under an algorithm builds that
        algorithm's tree over the whole chain, once), and every checkpoint, once
        committed, goes to the witness and the structlog stream (``audit.checkpoint``).

        Args:
            conn: a connection not inside a transaction.
            batch: events per batch and checkpoint (1..10000).
            max_batches: stop after this many batches (default: until caught up).
            gap_grace: seconds after which a missing seq counts as rolled back.

        Returns:
            The number of events linked into the chain.

        Raises:
            ValueError: no signing key, bad arguments, or ``conn`` is in a transaction.
            audit.witness.WitnessConflict: the witness holds a different checkpoint.
        """
        if not self._can_seal():
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
        if self._witness is not None:
            self._witness_newest(conn)
        total = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            with conn.begin():
                linked, checkpoint = self._seal_batch(conn, batch, gap_grace)
            batches += 1
            total += linked
            if checkpoint is not None:
                self._logger.info("audit.checkpoint", **checkpoint)
                self._to_witness(checkpoint)
            if linked < batch:
                break
        return total

    def _witness_newest(self, conn: Connection) -> None:
        """Give the witness the newest checkpoint again (a no-op when it has it): one whose
        copy failed after its commit gets there, and one it holds differently raises
        ``WitnessConflict`` before anything more is sealed."""
        with conn.begin():
            row = conn.execute(
                select(audit_checkpoints)
                .where(_k.root.is_not(None))
                .order_by(_k.position.desc())
                .limit(1)
            ).first()
        if row is not None:
            self._to_witness(self._statement(row))

    def _to_witness(self, statement: dict[str, Any]) -> None:
        # A witness that cannot be written (a share gone, a full disk) does not stop the
        # chain: it is logged, and the next seal sends the newest checkpoint again. One
        # that holds a different checkpoint raises (WitnessConflict): that is tampering.
        if self._witness is None:
            return
        try:
            self._witness.record(statement)
        except OSError as exc:
            self._logger.error(
                "audit.witness_failed",
                witness=self._witness.describe(),
                position=statement["position"],
                error=type(exc).__name__,
            )

    def _can_seal(self) -> bool:
        # Only the in-memory keys can say without asking a provider outside the box,
        # which is asked when there is something to sign.
        keys = self._keys
        return not isinstance(keys, LocalAuditKeys) or keys.signing_key_id() is not None

    def _seal_batch(
        self, conn: Connection, batch: int, gap_grace: float
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
            select(_e.seq, _e.event_id, _e.mac, _e.time, _e.alg, _e.body, _e.mac_key)
            .where(_e.seq > last_seq)
            .order_by(_e.seq)
            .limit(batch)
        ).all()
        now = datetime.now(UTC)
        grace = timedelta(seconds=gap_grace)
        links = []
        fresh = []
        expected = last_seq + 1
        for seq, event_id, mac, time, alg, body, mac_key in rows:
            if seq != expected and now - _utc(time) < grace:
                break  # the missing seq may still commit: wait for it
            position += 1
            head = chain_hash(head, position, event_id, mac, alg or DEFAULT_ALGORITHM)
            links.append(
                {"position": position, "event_seq": seq, "event_id": event_id, "hash": head.hex()}
            )
            fresh.append((position, event_id, body, mac, mac_key, alg))
            expected = seq + 1
        if not links:
            return 0, None
        key_id = self._keys.signing_key_id()
        if key_id is None:
            raise ValueError("sealing needs the signing key")
        conn.execute(insert(audit_chain), links)
        root = self._extend_tree(conn, self._algorithm, position, fresh).root().hex()
        head_hash = head.hex()
        message = checkpoint_message(
            position, head_hash, now, prev_signature, alg=self._algorithm, key=key_id, root=root
        )
        signature = self._keys.sign(key_id, message).hex()
        row = {
            "position": position,
            "head_hash": head_hash,
            "time": now,
            "signature": signature,
            "prev_signature": prev_signature,
            "alg": self._algorithm,
            "key_id": key_id,
            "root": root,
        }
        conn.execute(insert(audit_checkpoints), row)
        statement = {
            "format": STATEMENT_FORMAT,
            **{k: v for k, v in row.items() if k not in ("time", "key_id")},
            "key": key_id,
            "time": format_time(now),
            "public_key": public_key_hex(self._keys.public_key(key_id)),
        }
        return len(links), statement

    # -- the Merkle tree ---------------------------------------------------------------------
    def _tree_size(self, conn: Connection, alg: str) -> int:
        last = conn.execute(select(func.max(_t.idx)).where(_t.alg == alg, _t.level == 0)).scalar()
        return 0 if last is None else int(last) + 1

    def _extend_tree(
        self, conn: Connection, alg: str, upto: int, fresh: Sequence[tuple[Any, ...]] = ()
    ) -> merkle.Frontier:
        """Add chain positions up to ``upto`` to the stored tree of ``alg``; its frontier.

        ``fresh``: the rows just chained (position, event id, body, MAC, key, algorithm),
        used as they are when the tree reaches just below them; otherwise (the first seal
        under an algorithm, after an upgrade) the missing positions are read back.
        """
        h = hasher(alg)
        size = self._tree_size(conn, alg)
        want = merkle.Frontier.edge_nodes(size)
        nodes = _NodeReader(conn, alg).fetch(want)
        frontier = merkle.Frontier(h, size, [nodes[n] for n in want])
        if size > upto:
            raise RuntimeError(
                "the stored Merkle tree is longer than the audit chain (was the chain cut "
                "off?): run 'archive-vault audit verify'"
            )
        if size == upto:
            return frontier
        if fresh and size == upto - len(fresh):
            self._add_leaves(conn, alg, frontier, fresh)
            return frontier
        rows = conn.execute(
            select(_c.position, _c.event_id, _e.body, _e.mac, _e.mac_key, _e.alg)
            .select_from(audit_chain.outerjoin(audit_events, _e.seq == _c.event_seq))
            .where(_c.position > size, _c.position <= upto)
            .order_by(_c.position)
            .execution_options(yield_per=_STREAM_BATCH)
        )
        try:
            self._add_leaves(conn, alg, frontier, rows)
        finally:
            rows.close()
        if frontier.size != upto:
            raise RuntimeError("the audit chain is shorter than its tip says")
        return frontier

    def _add_leaves(self, conn: Connection, alg: str, frontier: merkle.Frontier, rows: Any) -> None:
        h = hasher(alg)
        pending: list[dict[str, Any]] = []
        for position, event_id, body, mac, mac_key, ev_alg in rows:
            if position != frontier.size + 1 or body is None:
                raise RuntimeError(
                    f"the audit chain lacks position {frontier.size + 1} or its event: "
                    "run 'archive-vault audit verify'"
                )
            leaf = merkle.leaf_hash(
                h,
                leaf_input(
                    alg,
                    position,
                    event_id,
                    body,
                    mac,
                    mac_key or LEGACY_KEY_ID,
                    ev_alg or DEFAULT_ALGORITHM,
                ),
            )
            for level, idx, value in frontier.append(leaf):
                pending.append({"alg": alg, "level": level, "idx": idx, "hash": value.hex()})
            if len(pending) >= _TREE_INSERT_BATCH:
                conn.execute(insert(audit_tree), pending)
                pending = []
        if pending:
            conn.execute(insert(audit_tree), pending)

    # -- proofs for third parties -----------------------------------------------------------
    def _statement(self, row: Any) -> dict[str, Any]:
        statement = statement_of(row)
        statement["public_key"] = public_key_hex(self._keys.public_key(row.key_id))
        return statement

    def prove_event(self, conn: Connection, event_id: str) -> dict[str, Any]:
        """The evidence bundle of one event: the event, its inclusion proof, the newest
        signed checkpoint covering it and the public key (``audit.bundle`` checks it).

        Raises:
            ProofError: no such event, or no checkpoint with a tree head covers it yet.
        """
        row = conn.execute(
            select(_e.body, _e.mac, _e.mac_key, _e.alg, _c.position)
            .select_from(audit_events.outerjoin(audit_chain, _c.event_seq == _e.seq))
            .where(_e.event_id == event_id)
        ).first()
        if row is None:
            raise ProofError(f"no audit event {event_id}", "event_not_found")
        if row.position is None:
            raise ProofError(
                f"audit event {event_id} is not sealed yet: run 'archive-vault audit seal'",
                "event_not_sealed",
            )
        cp = conn.execute(
            select(audit_checkpoints)
            .where(_k.root.is_not(None), _k.position >= row.position)
            .order_by(_k.position.desc())
            .limit(1)
        ).first()
        if cp is None:
            raise ProofError(
                f"no checkpoint with a tree head covers audit event {event_id} yet: "
                "run 'archive-vault audit seal'",
                "event_not_sealed",
            )
        alg = cp.alg
        h = hasher(alg)
        reader = _NodeReader(conn, alg)
        path = reader.run(lambda get: merkle.inclusion_proof(h, get, row.position - 1, cp.position))
        leaf = merkle.leaf_hash(
            h,
            leaf_input(
                alg,
                row.position,
                event_id,
                row.body,
                row.mac,
                row.mac_key or LEGACY_KEY_ID,
                row.alg or DEFAULT_ALGORITHM,
            ),
        )
        if not merkle.verify_inclusion(
            h, leaf, row.position - 1, cp.position, path, bytes.fromhex(cp.root)
        ):
            raise ProofError(
                "the stored Merkle tree does not match its checkpoint: run "
                "'archive-vault audit verify'",
                "tree_damaged",
            )
        return {
            "format": BUNDLE_FORMAT,
            "kind": "inclusion",
            "event": {
                "body": row.body,
                "mac": row.mac,
                "mac_key": row.mac_key or LEGACY_KEY_ID,
                "alg": row.alg or DEFAULT_ALGORITHM,
                "position": int(row.position),
            },
            "proof": {
                "leaf_index": int(row.position) - 1,
                "tree_size": int(cp.position),
                "path": [p.hex() for p in path],
            },
            "checkpoint": self._statement(cp),
        }

    def prove_consistency(self, conn: Connection, first: int, second: int) -> dict[str, Any]:
        """The consistency proof between the checkpoints at chain positions ``first`` and
        ``second``: the log of the first is a prefix of the log of the second.

        Raises:
            ProofError: no checkpoint with a tree head at either position, or of
                different algorithms, or ``first`` after ``second``.
        """
        rows = {}
        for position in (first, second):
            cp = conn.execute(
                select(audit_checkpoints).where(_k.position == position, _k.root.is_not(None))
            ).first()
            if cp is None:
                raise ProofError(
                    f"no checkpoint with a tree head at position {position} "
                    "(see 'archive-vault audit checkpoints')",
                    "checkpoint_not_found",
                )
            rows[position] = cp
        if first > second:
            raise ProofError("the first checkpoint must not come after the second", "bad_order")
        a, b = rows[first], rows[second]
        if a.alg != b.alg:
            raise ProofError(
                f"the checkpoints use different algorithms ({a.alg}, {b.alg})",
                "algorithm_mismatch",
            )
        h = hasher(a.alg)
        proof = _NodeReader(conn, a.alg).run(
            lambda get: merkle.consistency_proof(h, get, first, second)
        )
        if not merkle.verify_consistency(
            h, first, second, bytes.fromhex(a.root), bytes.fromhex(b.root), proof
        ):
            raise ProofError(
                "the stored Merkle tree does not match its checkpoints: run "
                "'archive-vault audit verify'",
                "tree_damaged",
            )
        return {
            "format": BUNDLE_FORMAT,
            "kind": "consistency",
            "first": self._statement(a),
            "second": self._statement(b),
            "proof": [p.hex() for p in proof],
        }

    def checkpoints(self, conn: Connection, *, limit: int = 20) -> list[dict[str, Any]]:
        """The newest checkpoints as statements, newest first."""
        rows = conn.execute(
            select(audit_checkpoints).order_by(_k.position.desc()).limit(min(limit, 500))
        ).all()
        return [statement_of(r) for r in rows]

    def verify(
        self,
        conn: Connection,
        *,
        progress: Callable[[int], None] | None = None,
        witness: Witness | None = None,
    ) -> VerifyReport:
        """Check the whole log; read-only, streaming, stops at the first problem.

        Every event's MAC under the key it names, the chain, every checkpoint's
        signature under the key it names and its tree head (recomputed from the events,
        not read from the stored tree). With ``witness``, also every checkpoint the
        witness holds against the database: one past the chain's end is a truncation.

        On PostgreSQL a REPEATABLE READ transaction gives one consistent view;
        READ COMMITTED also works while appends and seals go on. A transaction
        begun here is rolled back at the end.

        Args:
            conn: the connection to read through.
            progress: called with the number of events checked since its previous
                call (so ``tqdm.update`` fits), every 10,000 events and at the end.
            witness: the checkpoints kept outside the database, to compare.

        Raises:
            ValueError: no verify key.
        """
        if not self._can_verify:
            raise ValueError("verifying needs the checkpoint verify key")
        began = not conn.in_transaction()
        verifier = _Verifier(conn, self, progress, witness)
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
        mac_ok = self._stored_mac(row.body, row.mac_key, row.alg) == row.mac
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
            chain_hash(
                prev_hash, link.position, row.event_id, row.mac, row.alg or DEFAULT_ALGORITHM
            ).hex()
            == link.hash
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
                _signature_ok(self._keys, cover) if cover is not None and self._can_verify else None
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


def _signature_ok(keys: AuditKeys, checkpoint: Any) -> bool | None:
    """Whether a checkpoint's signature is its key's over its message (None: key unknown)."""
    key_id = checkpoint.key_id or LEGACY_KEY_ID
    try:
        public = keys.public_key(key_id)
    except UnknownAuditKey:
        return None
    message = checkpoint_message(
        checkpoint.position,
        checkpoint.head_hash,
        _utc(checkpoint.time),
        checkpoint.prev_signature,
        alg=checkpoint.alg,
        key=checkpoint.key_id,
        root=checkpoint.root,
    )
    try:
        public.verify(bytes.fromhex(checkpoint.signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


class _NodeReader:
    """Reads stored complete subtrees of one algorithm's tree, with a cache."""

    def __init__(self, conn: Connection, alg: str) -> None:
        self.conn = conn
        self.alg = alg
        self.cache: dict[tuple[int, int], bytes] = {}

    def fetch(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        missing = [n for n in wanted if n not in self.cache]
        if missing:
            # The algorithm in every term: SQLite then searches the primary key for each
            # (with it outside, from ten terms on, it scans the algorithm's whole tree).
            # Plain SQL text: building the expression costs more than running it.
            terms = " OR ".join(
                f"(alg = :alg AND level = :l{i} AND idx = :i{i})" for i in range(len(missing))
            )
            params: dict[str, Any] = {"alg": self.alg}
            for i, (lv, ix) in enumerate(missing):
                params[f"l{i}"], params[f"i{i}"] = lv, ix
            rows = self.conn.execute(
                text(f"SELECT level, idx, hash FROM audit_tree WHERE {terms}"),  # noqa: S608
                params,
            )
            for level, idx, value in rows:
                self.cache[(int(level), int(idx))] = bytes.fromhex(value)
        for n in wanted:
            if n not in self.cache:
                raise ProofError(
                    "the stored Merkle tree lacks a node: run 'archive-vault audit verify'",
                    "tree_damaged",
                )
        return self.cache

    def run(self, fn: Callable[[merkle.NodeSource], Any]) -> Any:
        """``fn(get)`` with every node it reads fetched in one query first: a dry run
        with stand-in hashes names the nodes (the proof's shape needs no hash values)."""
        wanted: list[tuple[int, int]] = []

        def record(level: int, idx: int) -> bytes:
            wanted.append((level, idx))
            return ZERO_HASH

        fn(record)
        for start in range(0, len(wanted), 200):
            self.fetch(wanted[start : start + 200])
        return fn(self.get)

    def get(self, level: int, idx: int) -> bytes:
        found = self.cache.get((level, idx))
        if found is None:
            found = self.fetch([(level, idx)])[(level, idx)]
        return found


_EVENT_COLUMNS = (
    _e.seq,
    _e.event_id,
    _e.mac,
    _e.body,
    _e.mac_key,
    _e.alg,
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
        log: AuditLog,
        progress: Callable[[int], None] | None,
        witness: Witness | None,
    ) -> None:
        self.conn = conn
        self.log = log
        self.keys = log.keys
        self.progress = progress
        self.witness = witness
        self.reported = 0
        self.events = 0
        self.sealed = 0
        self.unsealed = 0
        self.checkpoints = 0
        self.last_checkpoint: Any = None
        self.witnessed: int | None = None
        self.unwitnessed = 0
        self.last_witnessed: int | None = None
        self.frontiers: dict[str, merkle.Frontier] = {}

    def run(self) -> VerifyReport:
        try:
            self._check()
            if self.witness is not None:
                self._check_witness(self.witness)
        except _Problem as p:
            return self._report(p)
        self._progress(self.events)
        return self._report(None)

    def _progress(self, done: int) -> None:
        if self.progress is not None and done > self.reported:
            self.progress(done - self.reported)
            self.reported = done

    def _report(self, p: _Problem | None) -> VerifyReport:
        last = self.last_checkpoint
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
            last_checkpoint=int(last.position) if last is not None else None,
            last_checkpoint_time=_utc(last.time) if last is not None else None,
            witnessed=self.witnessed,
            unwitnessed=self.unwitnessed,
            last_witnessed=self.last_witnessed,
        )

    def _stream(self, stmt: Any) -> Any:
        return self.conn.execute(stmt.execution_options(yield_per=_STREAM_BATCH))

    def _check(self) -> None:
        # The algorithms of the trees the checkpoints sign: each is rebuilt as we go.
        for (alg,) in self.conn.execute(select(_k.alg).where(_k.root.is_not(None)).distinct()):
            self.frontiers[alg] = merkle.Frontier(hasher(check_algorithm(alg)))
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

    def _expected_macs(self, rows: Sequence[Any], body_at: int) -> list[str | None]:
        """The MAC each row's event should have, asked of the keys in groups (one round
        trip per key and algorithm for a provider outside the box); None: key unknown."""
        out: list[str | None] = [None] * len(rows)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, row in enumerate(rows):
            if row[body_at] is not None:
                key = (row[body_at + 1] or LEGACY_KEY_ID, row[body_at + 2] or DEFAULT_ALGORITHM)
                groups.setdefault(key, []).append(i)
        for (key_id, alg), idx in groups.items():
            try:
                macs = self.keys.macs(
                    key_id, check_algorithm(alg), [rows[i][body_at].encode("ascii") for i in idx]
                )
            except (UnknownAuditKey, ValueError):
                continue
            for i, value in zip(idx, macs, strict=True):
                out[i] = value
        return out

    def _mac_problem(
        self,
        seq: int,
        event_id: str,
        key_id: str | None,
        position: int | None,
        *,
        unchained: bool = False,
    ) -> _Problem:
        try:
            self.keys.macs(key_id or LEGACY_KEY_ID, DEFAULT_ALGORITHM, [])
        except UnknownAuditKey:
            return _Problem(
                "unknown_key",
                f"event seq {seq} names MAC key {key_id} that the key provider does not hold",
                seq=seq,
                event_id=event_id,
                position=position,
            )
        what = "unchained event" if unchained else "event"
        return _Problem(
            "mac_mismatch",
            f"{what} seq {seq} does not match its MAC",
            seq=seq,
            event_id=event_id,
            position=position,
        )

    def _check_chain_rows(self, chain: Any, checkpoints: Iterator[Row[Any]]) -> int:
        pack_position = _POSITION.pack
        hashers = {alg: hasher(alg) for alg in ("sha256", "sm3")}
        frontiers = list(self.frontiers.items())
        head = ZERO_HASH
        prev_signature: str | None = None
        checkpoint = next(checkpoints, None)
        # The position of the next checkpoint, as a plain int for the hot loop.
        at = checkpoint.position if checkpoint is not None else _NO_CHECKPOINT
        last_seq = 0
        rows = iter(chain)
        while True:
            chunk = list(islice(rows, _MAC_BATCH))
            if not chunk:
                break
            expected = self._expected_macs(chunk, 7)
            for (
                position, chain_seq, chain_event_id, stored,
                seq, event_id, mac, body, mac_key, alg,
                time, action, person_id, decision, outcome, record, client,
            ), want in zip(chunk, expected, strict=True):  # fmt: skip
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
                if want is None or not hmac.compare_digest(want, mac):
                    raise self._mac_problem(seq, event_id, mac_key, position)
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
                alg = alg or DEFAULT_ALGORITHM
                prev = head
                head = hashers[alg](
                    prev + pack_position(position) + event_id.encode("ascii") + mac.encode("ascii")
                )
                if head.hex() != stored or chain_event_id != event_id or seq <= last_seq:
                    self._chain_broken(prev, position, seq, event_id, stored, alg)
                for tree_alg, frontier in frontiers:
                    leaf_in = leaf_input(
                        tree_alg, position, event_id, body, mac, mac_key or LEGACY_KEY_ID, alg
                    )
                    frontier.push(hashers[tree_alg](b"\x00" + leaf_in))
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
        self, prev: bytes, position: int, seq: int, event_id: str, stored: str, alg: str
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
            or (
                other_id is not None
                and chain_hash(prev, position, other_id, mac, alg).hex() == stored
            )
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

        self._signature(checkpoint, problem)
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
        if checkpoint.root is not None:
            frontier = self.frontiers.get(checkpoint.alg)
            if frontier is None or frontier.root().hex() != checkpoint.root:
                raise problem(
                    "root_mismatch",
                    f"the Merkle tree head at position {position} differs from its signed "
                    "checkpoint",
                )
        self.checkpoints += 1
        self.last_checkpoint = checkpoint
        return str(checkpoint.signature)

    def _signature(self, checkpoint: Any, problem: Callable[[str, str], _Problem]) -> None:
        ok = _signature_ok(self.keys, checkpoint)
        if ok is None:
            raise problem(
                "unknown_key",
                f"checkpoint at position {checkpoint.position} names signing key "
                f"{checkpoint.key_id or LEGACY_KEY_ID} that the key provider does not hold",
            )
        if not ok:
            raise problem(
                "bad_signature", f"checkpoint at position {checkpoint.position} has a bad signature"
            )

    def _truncated(self, checkpoint: Row[Any], length: int) -> None:
        def problem(code: str, message: str) -> _Problem:
            return _Problem(code, message, position=checkpoint.position)

        self._signature(checkpoint, problem)
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
        mac_key: str | None,
        alg: str | None,
        *columns: Any,
        want: str | None = None,
        known: bool = False,
    ) -> None:
        """Check an unchained event: its MAC, then its indexed columns against the body."""
        if not known:
            want = self.log._stored_mac(body, mac_key, alg)
        if want is None or not hmac.compare_digest(want, mac):
            raise self._mac_problem(seq, event_id, mac_key, None, unchained=True)
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
            rows = iter(tail)
            while True:
                chunk = list(islice(rows, _MAC_BATCH))
                if not chunk:
                    break
                for row, want in zip(chunk, self._expected_macs(chunk, 3), strict=True):
                    self._check_event(*row, want=want, known=True)
                    self.events += 1
                    self.unsealed += 1
                    if self.events % _PROGRESS_EVERY == 0:
                        self._progress(self.events)
        finally:
            tail.close()

    # -- the witness ---------------------------------------------------------------------------
    def _check_witness(self, witness: Witness) -> None:
        kept = {
            int(r.position): r
            for r in self.conn.execute(select(audit_checkpoints).order_by(_k.position))
        }
        matched = 0
        seen: set[int] = set()
        where = witness.describe()
        entries = witness.read()
        newest = max((int(e.data["position"]) for e in entries if e.data is not None), default=0)
        for entry in entries:
            data = entry.data
            if data is None:
                raise _Problem(
                    "witness_unreadable",
                    f"the witness file {entry.name} in {where} is not a checkpoint statement",
                )
            position = int(data["position"])
            ok = _statement_signature_ok(self.keys, data)
            if ok is not True:
                raise _Problem(
                    "witness_bad_signature",
                    f"the witness's checkpoint at position {position} ({entry.name}) does "
                    f"not carry a valid signature of this vault's key {data.get('key')}",
                    position=position,
                )
            row = kept.get(position)
            if row is None:
                if position > self.sealed:
                    raise _Problem(
                        "truncated",
                        f"the chain in the database ends at position {self.sealed}, but the "
                        f"witness {where} holds signed checkpoints up to position {newest} "
                        f"(the first missing one, position {position}, made at "
                        f"{data.get('time')}): the events after position {self.sealed} were "
                        "removed together with their checkpoints",
                        position=self.sealed + 1,
                    )
                raise _Problem(
                    "witness_missing",
                    f"the witness holds a signed checkpoint at position {position} "
                    f"({entry.name}) that the database does not have",
                    position=position,
                )
            ours = statement_of(row)
            fields = ("alg", "head_hash", "key", "position", "prev_signature", "root",
                      "signature", "time")  # fmt: skip
            if any(ours.get(f) != data.get(f) for f in fields):
                raise _Problem(
                    "witness_mismatch",
                    f"the checkpoint at position {position} differs from its witness "
                    f"({entry.name} in {where})",
                    position=position,
                )
            if position not in seen:
                matched += 1
            seen.add(position)
            self.last_witnessed = max(position, self.last_witnessed or 0)
        self.witnessed = matched
        self.unwitnessed = sum(1 for p in kept if p not in seen)


def _statement_signature_ok(keys: AuditKeys, data: Mapping[str, Any]) -> bool | None:
    """Whether a witness's statement carries a valid signature of the key it names."""
    from audit.checkpoint import statement_message

    try:
        public = keys.public_key(str(data.get("key") or LEGACY_KEY_ID))
        message = statement_message(dict(data))
        public.verify(bytes.fromhex(str(data["signature"])), message)
    except UnknownAuditKey:
        return None
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


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
