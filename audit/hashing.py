"""The hash algorithms of the audit log: ``sha256`` (default) and ``sm3`` (GB/T 32905).

An algorithm names the hash of an event's MAC (HMAC-SHA-256 or HMAC-SM3), of its chain
link and of the Merkle tree a checkpoint signs. Every event and checkpoint stores the
name of its own, so one log can hold both (a vault moving to the national algorithms).
Both come from OpenSSL through :mod:`hashlib` / :mod:`hmac`; nothing here needs a key
provider, a database or the vault.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

__all__ = ["ALGORITHMS", "DEFAULT_ALGORITHM", "check_algorithm", "hasher", "mac"]

DEFAULT_ALGORITHM = "sha256"
ALGORITHMS = ("sha256", "sm3")


def check_algorithm(name: object) -> str:
    """``name`` if it is a known algorithm, else ValueError."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown audit hash algorithm {name!r} (sha256 or sm3)")
    return str(name)


def _sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


_HASHERS: dict[str, Callable[[bytes], bytes]] = {"sha256": _sha256, "sm3": _sm3}


def hasher(name: str) -> Callable[[bytes], bytes]:
    """The one-shot hash function ``data -> 32-byte digest`` of algorithm ``name``."""
    return _HASHERS[check_algorithm(name)]


def mac(key: bytes, data: bytes, name: str) -> str:
    """HMAC of ``data`` under ``key`` with the algorithm's hash, as lower-case hex."""
    return hmac.digest(key, data, check_algorithm(name)).hex()
