"""The bytes a checkpoint signature covers, and the leaf of an event in the Merkle tree.

Kept apart from the database code so that a third party's verifier
(``python -m audit verify-bundle``) needs nothing else.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from audit.events import format_time
from audit.hashing import hasher

__all__ = ["checkpoint_message", "leaf_input", "statement_message"]

_CHECKPOINT_DOMAIN = b"archive-vault/audit-checkpoint/v1\n"
_CHECKPOINT_DOMAIN_V2 = b"archive-vault/audit-checkpoint/v2\n"
_LEAF_DOMAIN = b"archive-vault/audit-leaf/v1\n"
_LEAF_PREFIX = _LEAF_DOMAIN.decode("ascii")
# Strings JSON writes as they are (no escapes): the fast path of leaf_input.
_SAFE = re.compile(r"[A-Za-z0-9_.:/-]*\Z")


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def checkpoint_message(
    position: int,
    head_hash: str,
    time: datetime,
    prev_signature: str | None,
    *,
    alg: str | None = None,
    key: str | None = None,
    root: str | None = None,
) -> bytes:
    """Return the bytes a checkpoint signature covers.

    Version 1 (checkpoints from before the Merkle tree, ``root`` None):
    ``archive-vault/audit-checkpoint/v1\\n`` followed by the JSON object
    ``{"head_hash":..,"position":..,"prev_signature":..,"time":..}``.
    Version 2 adds ``alg`` (the tree's hash), ``key`` (the signing key's id) and
    ``root`` (the Merkle tree head over the first ``position`` events) under the prefix
    ``archive-vault/audit-checkpoint/v2\\n``. Sorted keys, no spaces, time as canonical
    UTC text, prev_signature null for the first.
    """
    body: dict[str, Any] = {
        "head_hash": head_hash,
        "position": position,
        "prev_signature": prev_signature,
        "time": format_time(time),
    }
    if root is None:
        return _CHECKPOINT_DOMAIN + _json(body)
    body.update(alg=alg, key=key, root=root)
    return _CHECKPOINT_DOMAIN_V2 + _json(body)


def statement_message(statement: dict[str, Any]) -> bytes:
    """:func:`checkpoint_message` of a checkpoint given as a JSON object (bundle, witness)."""
    return checkpoint_message(
        int(statement["position"]),
        str(statement["head_hash"]),
        datetime.fromisoformat(str(statement["time"])),
        statement["prev_signature"],
        alg=statement.get("alg"),
        key=statement.get("key"),
        root=statement.get("root"),
    )


def leaf_input(
    tree_alg: str, position: int, event_id: str, body: str, mac: str, mac_key: str, alg: str
) -> bytes:
    """The leaf of the event at chain ``position`` in the tree of algorithm ``tree_alg``.

    ``archive-vault/audit-leaf/v1\\n`` + JSON ``{"alg", "body_hash", "event_id", "mac",
    "mac_key", "position"}``: ``body_hash`` is the tree hash of the event's canonical
    JSON, so whoever holds the event can check it belongs to the tree without the MAC key.
    """
    body_hash = hasher(tree_alg)(body.encode("ascii")).hex()
    if _SAFE.match(f"{alg}{event_id}{mac}{mac_key}"):
        # The same bytes as the JSON below, without its cost (verify makes one per event).
        return (
            f'{_LEAF_PREFIX}{{"alg":"{alg}","body_hash":"{body_hash}","event_id":"{event_id}",'
            f'"mac":"{mac}","mac_key":"{mac_key}","position":{int(position)}}}'
        ).encode("ascii")
    return _LEAF_DOMAIN + _json(
        {
            "alg": alg,
            "body_hash": body_hash,
            "event_id": event_id,
            "mac": mac,
            "mac_key": mac_key,
            "position": position,
        }
    )
