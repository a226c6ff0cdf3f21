"""Checking an evidence bundle with nothing but this package: no database, no vault.

``archive-vault audit prove`` writes two kinds of bundle (JSON, ``format``
``archive-vault/audit-evidence/v1``):

- ``inclusion``: one event (its canonical JSON ``body``, its ``mac``, the MAC key's id
  and the algorithm, its chain ``position``), the RFC 9162 audit path from its leaf to
  the tree head of a checkpoint, and that checkpoint with its Ed25519 signature and
  public key. It shows that the event is in the log the vault signed, as it is, without
  showing any other event;
- ``consistency``: two checkpoints and the RFC 9162 consistency proof that the log of
  the first is a prefix of the log of the second (nothing was removed or changed in
  between).

:func:`verify_bundle` checks either. Give the public key you trust (from the vault's
operator, a witness file, an earlier bundle): without it the bundle's own key is used,
which shows integrity but not who signed. The MAC needs the vault's secret key and is
not checked here; the tree covers it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from audit import merkle
from audit.checkpoint import leaf_input, statement_message
from audit.events import Event, canonical_json
from audit.hashing import check_algorithm, hasher
from audit.keys import public_key_hex

__all__ = ["BUNDLE_FORMAT", "BundleResult", "load_public_key", "verify_bundle"]

BUNDLE_FORMAT = "archive-vault/audit-evidence/v1"
_MAX_PATH = 64


@dataclass
class BundleResult:
    """``ok`` and why: ``problem`` a stable code, ``lines`` what was shown."""

    ok: bool
    problem: str | None = None
    message: str = ""
    lines: list[str] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM or from 64 hex digits; ValueError otherwise."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        key = load_pem_public_key(text)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.decode("ascii")))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not an Ed25519 public key (PEM or 64 hex digits)") from None


def _hex(value: object, what: str, size: int = 32) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raise _Refused("malformed", f"{what} is not hex") from None
    if len(raw) != size:
        raise _Refused("malformed", f"{what} is not {size} bytes")
    return raw


def _statement(
    st: object, trusted: Sequence[Ed25519PublicKey], what: str, lines: list[str]
) -> tuple[dict[str, Any], str]:
    if not isinstance(st, dict):
        raise _Refused("malformed", f"no {what}")
    if st.get("root") is None:
        raise _Refused("malformed", f"the {what} signs no tree head")
    try:
        alg = check_algorithm(st.get("alg"))
        message = statement_message(st)
    except (KeyError, TypeError, ValueError):
        raise _Refused("malformed", f"the {what} is malformed") from None
    embedded = st.get("public_key")
    if trusted:
        known = {public_key_hex(k): k for k in trusted}
        if embedded is not None and str(embedded) not in known:
            raise _Refused(
                "wrong_key", f"the {what} names a different public key than the one(s) given"
            )
        key = known[str(embedded)] if embedded is not None else trusted[0]
    else:
        key = Ed25519PublicKey.from_public_bytes(_hex(embedded, "the public key"))
    try:
        key.verify(_hex(st.get("signature"), "the signature", 64), message)
    except InvalidSignature:
        raise _Refused("bad_signature", f"the {what}'s signature does not verify") from None
    lines.append(
        f"{what}: position {st['position']}, made {st['time']}, {alg}, signed by key "
        f"{st.get('key')} ({public_key_hex(key)[:16]}...)"
    )
    return st, alg


def _inclusion(doc: dict[str, Any], trusted: Sequence[Ed25519PublicKey], lines: list[str]) -> None:
    st, alg = _statement(doc.get("checkpoint"), trusted, "checkpoint", lines)
    ev, proof = doc.get("event"), doc.get("proof")
    if not isinstance(ev, dict) or not isinstance(proof, dict):
        raise _Refused("malformed", "no event or no proof")
    body = ev.get("body")
    if not isinstance(body, str) or not body.isascii():
        raise _Refused("malformed", "the event has no canonical body")
    try:
        event = Event.from_canonical(body)
    except ValueError:
        raise _Refused("malformed", "the event is not a canonical audit event") from None
    if canonical_json(event) != body.encode("ascii"):
        raise _Refused("malformed", "the event is not in canonical form")
    try:
        position = int(ev["position"])
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [_hex(p, "a proof hash") for p in proof["path"]]
        leaf_in = leaf_input(
            alg,
            position,
            event.id,
            body,
            str(ev["mac"]),
            str(ev["mac_key"]),
            check_algorithm(ev["alg"]),
        )
    except (KeyError, TypeError, ValueError):
        raise _Refused("malformed", "the event or its proof is malformed") from None
    if len(path) > _MAX_PATH or index != position - 1 or size != int(st["position"]):
        raise _Refused("proof_mismatch", "the proof does not belong to this event and checkpoint")
    h = hasher(alg)
    if not merkle.verify_inclusion(
        h, merkle.leaf_hash(h, leaf_in), index, size, path, _hex(st["root"], "the tree head")
    ):
        raise _Refused(
            "proof_mismatch", "the event is not in the tree the checkpoint signs (proof fails)"
        )
    lines.append(
        f"event {event.id}: {event.action} at {event.time.isoformat()}, decision "
        f"{event.decision}, outcome {event.outcome}, chain position {position}"
    )
    lines.append(f"inclusion proof: {len(path)} hashes, leaf {index} of {size}")


def _consistency(
    doc: dict[str, Any], trusted: Sequence[Ed25519PublicKey], lines: list[str]
) -> None:
    first, alg1 = _statement(doc.get("first"), trusted, "first checkpoint", lines)
    second, alg2 = _statement(doc.get("second"), trusted, "second checkpoint", lines)
    if alg1 != alg2:
        raise _Refused("malformed", "the checkpoints use different algorithms")
    raw = doc.get("proof")
    if not isinstance(raw, list) or len(raw) > _MAX_PATH:
        raise _Refused("malformed", "no consistency proof")
    proof = [_hex(p, "a proof hash") for p in raw]
    m, n = int(first["position"]), int(second["position"])
    if not merkle.verify_consistency(
        hasher(alg1),
        m,
        n,
        _hex(first["root"], "the first tree head"),
        _hex(second["root"], "the second tree head"),
        proof,
    ):
        raise _Refused(
            "proof_mismatch",
            f"the log of {n} events does not extend the log of {m} events (proof fails)",
        )
    lines.append(f"consistency proof: {len(proof)} hashes, {m} events are a prefix of {n}")


def verify_bundle(
    data: bytes, key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None
) -> BundleResult:
    """Check an evidence bundle (its bytes) against the trusted public key(s) (a proof
    across a key rotation names two); never raises for a bad bundle."""
    lines: list[str] = []
    trusted = [] if key is None else [key] if isinstance(key, Ed25519PublicKey) else list(key)
    try:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _Refused("malformed", "not a JSON document") from None
        if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
            raise _Refused("malformed", f"not an {BUNDLE_FORMAT} bundle")
        if doc.get("kind") == "inclusion":
            _inclusion(doc, trusted, lines)
        elif doc.get("kind") == "consistency":
            _consistency(doc, trusted, lines)
        else:
            raise _Refused("malformed", "unknown kind of bundle")
    except _Refused as r:
        return BundleResult(False, r.problem, r.message, lines)
    if not trusted:
        lines.append(
            "checked against the public key in the bundle: compare it with the vault's "
            "published key, or pass --key"
        )
    return BundleResult(True, None, "ok", lines)
