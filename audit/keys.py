"""Where the audit log's keys are: the MAC key and the checkpoint signing key, by version.

The log never holds key bytes of its own choosing: it asks an :class:`AuditKeys` for
MACs and signatures by *key id* (``file:1``, ``pkcs11:vault-kek-audit.2``,
``transit:vault-kek-audit:v3``...). Every event stores the id of the MAC key it was
made under and every checkpoint the id of its signing key, so after a rotation the
old events and checkpoints still verify. A key provider outside the box (an HSM, a
Transit server) computes the MACs and signatures itself; the key never reaches the
vault. Signatures are Ed25519 everywhere, so a third party needs only the public key.

:class:`LocalAuditKeys` holds keys in memory (the key file, tests, the benches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NoReturn, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.hashing import mac as _mac

__all__ = [
    "LEGACY_KEY_ID",
    "MIN_MAC_KEY_LENGTH",
    "AuditKeys",
    "LocalAuditKeys",
    "UnknownAuditKey",
    "public_key_hex",
]

# The key id of events and checkpoints written before keys had versions.
LEGACY_KEY_ID = "file:1"
MIN_MAC_KEY_LENGTH = 32


class UnknownAuditKey(LookupError):
    """An event or checkpoint names a key the key provider does not hold (its id only)."""


@runtime_checkable
class AuditKeys(Protocol):
    """The audit keys of one vault, old versions included."""

    def mac_key_id(self) -> str:
        """The id of the MAC key new events are made under."""
        ...

    def macs(self, key_id: str, algorithm: str, messages: Sequence[bytes]) -> list[str]:
        """HMAC (hex) of each message under key ``key_id``; UnknownAuditKey if not held."""
        ...

    def signing_key_id(self) -> str | None:
        """The id of the key new checkpoints are signed with (None: this copy cannot sign)."""
        ...

    def sign(self, key_id: str, message: bytes) -> bytes:
        """The Ed25519 signature of ``message`` under ``key_id``."""
        ...

    def public_key(self, key_id: str) -> Ed25519PublicKey:
        """The public key of signing key ``key_id``; UnknownAuditKey if not known."""
        ...


def public_key_hex(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key as hex (the form bundles and witness files carry)."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


class LocalAuditKeys:
    """Audit keys held in memory, by id; the highest-numbered given as active."""

    __slots__ = ("_mac_active", "_macs", "_public", "_sign_active", "_signing")

    def __init__(
        self,
        macs: Mapping[str, bytes],
        *,
        signing: Mapping[str, Ed25519PrivateKey] | None = None,
        public: Mapping[str, Ed25519PublicKey] | None = None,
        mac_active: str | None = None,
        sign_active: str | None = None,
    ) -> None:
        if not macs:
            raise ValueError("at least one MAC key is needed")
        for secret in macs.values():
            if not isinstance(secret, bytes):
                raise TypeError("mac_key must be bytes")
            if len(secret) < MIN_MAC_KEY_LENGTH:
                raise ValueError(f"mac_key must be at least {MIN_MAC_KEY_LENGTH} bytes")
        signing = dict(signing or {})
        for private in signing.values():
            if not isinstance(private, Ed25519PrivateKey):
                raise TypeError("signing_key must be an Ed25519PrivateKey")
        pub = dict(public or {})
        for key_id, pk in pub.items():
            if not isinstance(pk, Ed25519PublicKey):
                raise TypeError("verify_key must be an Ed25519PublicKey")
            if key_id in signing and public_key_hex(pk) != public_key_hex(
                signing[key_id].public_key()
            ):
                raise ValueError("verify_key does not match signing_key")
        for key_id, private in signing.items():
            pub[key_id] = private.public_key()
        self._macs = dict(macs)
        self._signing = signing
        self._public = pub
        self._mac_active = mac_active or max(self._macs, key=_order)
        self._sign_active = sign_active or (max(signing, key=_order) if signing else None)
        if self._mac_active not in self._macs:
            raise ValueError("the active MAC key id names no key")

    def __repr__(self) -> str:
        return f"LocalAuditKeys(mac={self._mac_active!r}, signing={self._sign_active!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("LocalAuditKeys holds key material and cannot be pickled")

    def mac_key_id(self) -> str:
        return self._mac_active

    def macs(self, key_id: str, algorithm: str, messages: Sequence[bytes]) -> list[str]:
        key = self._macs.get(key_id)
        if key is None:
            raise UnknownAuditKey(key_id)
        return [_mac(key, m, algorithm) for m in messages]

    def signing_key_id(self) -> str | None:
        return self._sign_active

    def sign(self, key_id: str, message: bytes) -> bytes:
        key = self._signing.get(key_id)
        if key is None:
            raise UnknownAuditKey(key_id)
        return key.sign(message)

    def public_key(self, key_id: str) -> Ed25519PublicKey:
        key = self._public.get(key_id)
        if key is None:
            raise UnknownAuditKey(key_id)
        return key

    def can_verify(self) -> bool:
        return bool(self._public)


def _order(key_id: str) -> tuple[int, str]:
    """Sort ids by their trailing number (``file:10`` after ``file:9``)."""
    digits = ""
    for ch in reversed(key_id):
        if not ch.isdigit():
            break
        digits = ch + digits
    return (int(digits) if digits else 0, key_id)
