"""The audit log's keys as each key provider keeps them (the protocol ``audit.keys.AuditKeys``;
``vault.runtime`` hands them to the log, turning ``AuditKeyUnknown`` into its error).

- the key file: version 1 is the file's ``audit-mac`` secret and ``signing_key``; each
  ``archive-vault audit rotate-keys`` adds a version (``file:2``...) to the file;
- a PKCS#11 token: an HMAC key (``CKM_SHA256_HMAC``) and an Ed25519 key pair
  (``CKM_EDDSA``) generated inside the token, non-extractable (``vault.crypto.hsm``);
- OpenBao / Vault Transit: the server's ``hmac`` and ``sign`` endpoints over two Transit
  keys (``vault.crypto.transit``).

A provider outside the box starts with the key file's audit keys (a vault moved to it
keeps verifying the events made before) and holds its own from the first rotation (or
``init``) on: :class:`ChainedAuditKeys` sends each key id to whoever owns it. No key
byte of a provider outside the box ever reaches the vault; the key file's keys are in
the key file, and nothing here puts a key in a message.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vault.crypto.errors import AuditKeyUnknown

if TYPE_CHECKING:
    from vault.crypto.providers import LocalKeyring

FILE_PREFIX = "file:"
_HASHES = {"sha256": "sha256", "sm3": "sm3"}


def _mac(key: bytes, data: bytes, algorithm: str) -> str:
    """HMAC-SHA-256 or HMAC-SM3 (OpenSSL's) of ``data``, as hex."""
    return hmac.digest(key, data, _HASHES[algorithm]).hex()


class ProviderAuditKeys(Protocol):
    """The audit keys a provider outside the box holds itself (maybe none yet)."""

    prefix: str

    def latest(self) -> tuple[str, str] | None:
        """(MAC key id, signing key id) of the newest version, None if none yet."""
        ...

    def macs(self, key_id: str, algorithm: str, messages: Sequence[bytes]) -> list[str]: ...

    def sign(self, key_id: str, message: bytes) -> bytes: ...

    def public_key(self, key_id: str) -> Ed25519PublicKey: ...

    def rotate(self) -> tuple[str, str]: ...


def _number(key_id: str, prefix: str) -> int | None:
    tail = key_id.removeprefix(prefix)
    if tail == key_id or not tail.isdigit() or tail.startswith("0"):
        return None
    return int(tail)


class KeyfileAuditKeys:
    """The key file's audit keys, read from the keyring as it stands (a rotation shows)."""

    def __init__(self, keyring: LocalKeyring) -> None:
        self._keyring = keyring
        self._seen: object = None
        self._active = 1

    def _versions(self) -> Mapping[int, tuple[bytes, Ed25519PrivateKey]]:
        versions = self._keyring.audit_versions()
        if versions is not self._seen:  # a new keyring state: another rotation
            self._seen, self._active = versions, max(versions)
        return versions

    def __repr__(self) -> str:
        return f"KeyfileAuditKeys(active={self.mac_key_id()!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("audit keys cannot be pickled")

    def _version(self, key_id: str) -> int:
        n = _number(key_id, FILE_PREFIX)
        if n is None:
            raise AuditKeyUnknown(key_id)
        if n not in self._versions():
            self._keyring.reload()  # another process may have rotated
            if n not in self._versions():
                raise AuditKeyUnknown(key_id)
        return n

    def mac_key_id(self) -> str:
        self._versions()
        return f"{FILE_PREFIX}{self._active}"

    def signing_key_id(self) -> str:
        return self.mac_key_id()

    def macs(self, key_id: str, algorithm: str, messages: Sequence[bytes]) -> list[str]:
        key = self._versions()[self._version(key_id)][0]
        return [_mac(key, m, algorithm) for m in messages]

    def sign(self, key_id: str, message: bytes) -> bytes:
        return self._versions()[self._version(key_id)][1].sign(message)

    def public_key(self, key_id: str) -> Ed25519PublicKey:
        return self._versions()[self._version(key_id)][1].public_key()

    def rotate(self) -> str:
        """Add a new MAC key and signing key to the key file and make them active."""
        return self._keyring.rotate_audit_keys()


class ChainedAuditKeys:
    """A provider's own audit keys, and the key file's for what was made before them."""

    def __init__(self, own: ProviderAuditKeys, keyfile: LocalKeyring | None) -> None:
        self._own = own
        self._file = KeyfileAuditKeys(keyfile) if keyfile is not None else None

    def __repr__(self) -> str:
        return f"ChainedAuditKeys(own={self._own.prefix!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("audit keys cannot be pickled")

    def _active(self) -> tuple[str, str]:
        latest = self._own.latest()
        if latest is not None:
            return latest
        if self._file is None:
            raise AuditKeyUnknown("no audit keys yet: run 'archive-vault audit rotate-keys'")
        return self._file.mac_key_id(), self._file.signing_key_id()

    def _owner(self, key_id: str) -> ProviderAuditKeys | KeyfileAuditKeys:
        if key_id.startswith(self._own.prefix):
            return self._own
        if self._file is not None and key_id.startswith(FILE_PREFIX):
            return self._file
        raise AuditKeyUnknown(key_id)

    def mac_key_id(self) -> str:
        return self._active()[0]

    def signing_key_id(self) -> str:
        return self._active()[1]

    def macs(self, key_id: str, algorithm: str, messages: Sequence[bytes]) -> list[str]:
        return self._owner(key_id).macs(key_id, algorithm, messages)

    def sign(self, key_id: str, message: bytes) -> bytes:
        return self._owner(key_id).sign(key_id, message)

    def public_key(self, key_id: str) -> Ed25519PublicKey:
        return self._owner(key_id).public_key(key_id)

    def rotate(self) -> str:
        """New audit keys inside the provider; returns the new MAC key's id."""
        return self._own.rotate()[0]

    def ensure(self) -> str:
        """Make the provider's first audit keys if it holds none; the active MAC key's id."""
        latest = self._own.latest()
        return latest[0] if latest is not None else self.rotate()
