"""A PKCS#11 hardware security module as the key provider (tested with SoftHSM2).

The key-encryption keys (KEKs) are AES-256 secret-key objects generated inside the token,
``SENSITIVE`` and not ``EXTRACTABLE``: they never leave it. Their labels are
``<key label>.1``, ``<key label>.2``...; the highest is active, and a rotation generates
the next one (old ones stay, so every data key they wrap still opens). The vault's key id
for ``<key label>.N`` is ``pkcs11:<key label>.N``.

Wrapped-key blob (AES-256-GCM computed inside the token under the KEK the key id names):
    0x01 (format, 1 byte) || nonce (12 bytes) || encrypted DEK (32) || tag (16)
AAD = 0x01 || len(key_id) || key_id || context: a wrapped key opens only under its own
KEK and for the place it was wrapped for; anything else is one ``DecryptionError``.

The PIN is given to the constructor (read from an environment variable or a file by the
caller) and never appears in a message, a log or a ``repr``. The token is opened lazily
in each process (a PKCS#11 session does not survive a fork), and a token that cannot be
opened or answers with a device error raises ``KeyProviderUnavailable``.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

import pkcs11
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_named_curve_parameters

from vault.crypto.audit_keys import ChainedAuditKeys
from vault.crypto.errors import (
    AuditKeyUnknown,
    DecryptionError,
    KeyProviderUnavailable,
    KeyringError,
)
from vault.crypto.external import ExternalProvider
from vault.crypto.providers import (
    KEY_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    DataKey,
    LocalKeyring,
    WrappedKey,
)

_FORMAT = 0x01


_BLOB_SIZE = 1 + NONCE_SIZE + KEY_SIZE + TAG_SIZE


# Failures of the token itself (not of one decryption): the provider is unavailable.
_DEVICE_ERRORS: tuple[type[Exception], ...] = (
    p11.DeviceError,
    p11.DeviceMemory,
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.SessionClosed,
    p11.SessionHandleInvalid,
    p11.UserNotLoggedIn,
    p11.PinIncorrect,
    p11.PinLocked,
    p11.PinExpired,
    p11.NoSuchToken,
)


class Pkcs11Provider(ExternalProvider):
    """`KeyProvider` whose KEKs are non-extractable AES keys in a PKCS#11 token."""

    name = "pkcs11"
    prefix = "pkcs11:"

    def __init__(
        self,
        *,
        module: str,
        token_label: str,
        pin: str,
        key_label: str,
        keyfile: LocalKeyring | None,
    ) -> None:
        super().__init__(keyfile)
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key_label):
            raise ValueError("the PKCS#11 key label must be 1..64 of A-Z a-z 0-9 _ . -")
        self._module = module
        self._token_label = token_label
        self.__pin = pin
        self._key_label = key_label
        self._lock = threading.RLock()
        self._pid = -1
        self._session: Any = None
        self._keys: dict[str, Any] = {}  # key id -> the token's key object

    def __repr__(self) -> str:
        return f"Pkcs11Provider(token={self._token_label!r}, key_label={self._key_label!r})"

    def audit_keys(self) -> ChainedAuditKeys:
        """The audit keys: the token's own (``HsmAuditKeys``), and the key file's before them."""
        return ChainedAuditKeys(HsmAuditKeys(self), self._keyfile)

    # -- the token ---------------------------------------------------------------------------
    def _unavailable(self, exc: BaseException | None = None) -> KeyProviderUnavailable:
        why = f" ({type(exc).__name__})" if exc is not None else ""
        return KeyProviderUnavailable(
            f"the PKCS#11 token {self._token_label!r} cannot be used{why}"
        )

    def _open(self) -> Any:
        """The session of this process, opened (and logged in) on first use."""
        if self._session is not None and self._pid == os.getpid():
            return self._session
        self._session, self._keys = None, {}
        try:
            lib = pkcs11.lib(self._module)
            try:
                token = lib.get_token(token_label=self._token_label)
            except p11.NoSuchToken:
                # Some modules (SoftHSM2) list their tokens only when initialised: a token
                # made or plugged in since is found after one re-initialisation.
                lib.reinitialize()
                token = lib.get_token(token_label=self._token_label)
            try:
                session = token.open(user_pin=self.__pin, rw=True)
            except p11.UserAlreadyLoggedIn:
                # PKCS#11 logs in per process: another session of ours already did.
                session = token.open(rw=True)
        except (p11.PKCS11Error, OSError, RuntimeError) as exc:
            raise self._unavailable(exc) from None
        self._session, self._pid = session, os.getpid()
        return session

    def _reset(self) -> None:
        session, self._session, self._keys = self._session, None, {}
        if session is not None:
            with contextlib.suppress(Exception):  # the session is gone either way
                session.close()

    def _load_keys(self) -> dict[str, Any]:
        session = self._open()
        found: dict[str, Any] = {}
        try:
            for obj in session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
            ):
                label = obj.label
                if _number(self._key_label, label):
                    found[self.prefix + label] = obj
        except _DEVICE_ERRORS as exc:
            self._reset()
            raise self._unavailable(exc) from None
        self._keys = found
        return found

    def _key(self, key_id: str) -> Any | None:
        with self._lock:
            keys = self._keys if self._session is not None else self._load_keys()
            if key_id not in keys:
                keys = self._load_keys()  # another process may have rotated
            return keys.get(key_id)

    def _order(self, key_id: str) -> int:
        return _number(self._key_label, key_id.removeprefix(self.prefix))

    # -- the provider ------------------------------------------------------------------------
    @property
    def active_key_id(self) -> str:
        """The KEK with the highest number: ``pkcs11:<key label>.N``."""
        with self._lock:
            keys = self._keys if self._session is not None and self._keys else self._load_keys()
            if not keys:
                raise KeyProviderUnavailable(
                    f"the PKCS#11 token {self._token_label!r} holds no key labelled "
                    f"{self._key_label}.N; create one with `archive-vault init`"
                )
            return max(keys, key=self._order)

    def _key_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._load_keys(), key=self._order)

    def ensure_key(self) -> str:
        """Generate the first KEK if the token holds none; return the active key id."""
        with self._lock:
            if not self._load_keys():
                return self.rotate()
            return self.active_key_id

    def next_key_id(self) -> str:
        """The id the next :meth:`rotate` will give (announced in the audit log first)."""
        with self._lock:
            n = max(map(self._order, self._load_keys()), default=0) + 1
        return f"{self.prefix}{self._key_label}.{n}"

    def rotate(self, expected: str | None = None) -> str:
        """Generate a new non-extractable KEK in the token and make it active; old ones stay.

        ``expected``: the id announced by :meth:`next_key_id`; refused if taken since.
        """
        with self._lock:
            keys = self._load_keys()
            n = max(map(self._order, keys), default=0) + 1
            label = f"{self._key_label}.{n}"
            if expected is not None and expected != f"{self.prefix}{label}":
                raise KeyringError(f"the next key is no longer {expected}: rotate again")
            try:
                self._open().generate_key(
                    KeyType.AES,
                    KEY_SIZE * 8,
                    label=label,
                    store=True,
                    template={
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.ENCRYPT: True,
                        Attribute.DECRYPT: True,
                        Attribute.WRAP: False,
                        Attribute.UNWRAP: False,
                    },
                )
            except _DEVICE_ERRORS as exc:
                self._reset()
                raise self._unavailable(exc) from None
            self._load_keys()
            return self.prefix + label

    def _wrap(self, dek: DataKey, context: bytes) -> WrappedKey:
        key_id = self.active_key_id
        key = self._key(key_id)
        if key is None:
            raise self._unavailable()
        nonce = os.urandom(NONCE_SIZE)
        with self._lock:
            try:
                sealed = key.encrypt(
                    dek.material,
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=GCMParams(nonce, _aad(key_id, context)),
                )
            except _DEVICE_ERRORS as exc:
                self._reset()
                raise self._unavailable(exc) from None
            except p11.PKCS11Error as exc:
                raise self._unavailable(exc) from None
        return WrappedKey(key_id, bytes([_FORMAT]) + nonce + bytes(sealed))

    def _unwrap(self, wrapped: WrappedKey, context: bytes) -> DataKey:
        blob = wrapped.blob
        if len(blob) != _BLOB_SIZE or blob[0] != _FORMAT:
            raise DecryptionError() from None
        key = self._key(wrapped.key_id)
        if key is None:
            raise DecryptionError() from None
        nonce, sealed = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
        with self._lock:
            try:
                material = key.decrypt(
                    sealed,
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=GCMParams(nonce, _aad(wrapped.key_id, context)),
                )
            except _DEVICE_ERRORS as exc:
                self._reset()
                raise self._unavailable(exc) from None
            except p11.PKCS11Error:
                # SoftHSM reports a failed tag check as a generic error; so is any other.
                raise DecryptionError() from None
        if len(material) != KEY_SIZE:
            raise DecryptionError() from None
        return DataKey(bytes(material))


def _aad(key_id: str, context: bytes) -> bytes:
    kid = key_id.encode()
    return bytes([_FORMAT, len(kid)]) + kid + context


def _number(key_label: str, label: str) -> int:
    """N for ``<key label>.N``, else 0."""
    head, dot, tail = label.rpartition(".")
    if head != key_label or not dot or not tail.isdigit() or tail.startswith("0"):
        return 0
    return int(tail)


# -- the audit log's keys inside the token ---------------------------------------------------
_ED25519_OID = "1.3.101.112"
_AUDIT_CACHE_S = 30.0


class HsmAuditKeys:
    """The audit MAC key (``CKM_SHA256_HMAC``) and signing key (Ed25519, ``CKM_EDDSA``) of
    a PKCS#11 token: generated inside it, sensitive and not extractable.

    Version N is the secret key and the key pair labelled ``<key label>-audit.N``; its key
    id (for both) is ``pkcs11:<key label>-audit.N``. The token computes every MAC and
    signature; only the public key is read out. The token offers HMAC-SHA-256, not
    HMAC-SM3: the ``sm3`` profile needs the key file or another token.
    """

    def __init__(self, provider: Pkcs11Provider) -> None:
        self._p = provider
        self._base = f"{provider._key_label}-audit"
        self.prefix = f"{provider.prefix}{self._base}."
        self._found: dict[int, tuple[Any, Any, Ed25519PublicKey]] = {}
        self._read_at = -1.0
        self._pid = -1

    def __repr__(self) -> str:
        return f"HsmAuditKeys(label={self._base!r})"

    def _guard(self, fn: Any) -> Any:
        with self._p._lock:
            try:
                return fn()
            except _DEVICE_ERRORS as exc:
                self._p._reset()
                self._found = {}
                raise self._p._unavailable(exc) from None
            except p11.PKCS11Error as exc:
                raise self._p._unavailable(exc) from None

    def _load(self, *, fresh: bool = False) -> dict[int, tuple[Any, Any, Ed25519PublicKey]]:
        now = time.monotonic()
        if not fresh and self._pid == os.getpid() and now - self._read_at < _AUDIT_CACHE_S:
            return self._found

        def read() -> dict[int, tuple[Any, Any, Ed25519PublicKey]]:
            session = self._p._open()
            parts: dict[int, dict[str, Any]] = {}
            for cls, kind in (
                (ObjectClass.SECRET_KEY, "mac"),
                (ObjectClass.PRIVATE_KEY, "sign"),
                (ObjectClass.PUBLIC_KEY, "public"),
            ):
                for obj in session.get_objects({Attribute.CLASS: cls}):
                    n = _number(self._base, obj.label)
                    if n:
                        parts.setdefault(n, {})[kind] = obj
            found = {}
            for n, got in parts.items():
                if len(got) == 3:
                    found[n] = (got["mac"], got["sign"], _ed25519(got["public"]))
            return found

        self._found = self._guard(read)
        self._read_at, self._pid = now, os.getpid()
        return self._found

    def _get(self, key_id: str) -> tuple[Any, Any, Ed25519PublicKey]:
        n = _number(self._base, key_id.removeprefix(self._p.prefix))
        if not key_id.startswith(self.prefix) or not n:
            raise AuditKeyUnknown(key_id)
        found = self._load()
        if n not in found:
            found = self._load(fresh=True)
        if n not in found:
            raise AuditKeyUnknown(key_id)
        return found[n]

    def latest(self) -> tuple[str, str] | None:
        found = self._load()
        if not found:
            return None
        key_id = f"{self.prefix}{max(found)}"
        return key_id, key_id

    def macs(self, key_id: str, algorithm: str, messages: Sequence[bytes]) -> list[str]:
        if algorithm != "sha256":
            raise ValueError("the PKCS#11 token computes HMAC-SHA-256 only, not HMAC-SM3")
        secret = self._get(key_id)[0]
        return self._guard(
            lambda: [bytes(secret.sign(m, mechanism=Mechanism.SHA256_HMAC)).hex() for m in messages]
        )

    def sign(self, key_id: str, message: bytes) -> bytes:
        private = self._get(key_id)[1]
        return bytes(self._guard(lambda: private.sign(message, mechanism=Mechanism.EDDSA)))

    def public_key(self, key_id: str) -> Ed25519PublicKey:
        return self._get(key_id)[2]

    def rotate(self) -> tuple[str, str]:
        """Generate version N+1 (an HMAC key and an Ed25519 key pair) inside the token."""

        def generate() -> int:
            session = self._p._open()
            n = max(self._load(fresh=True), default=0) + 1
            label = f"{self._base}.{n}"
            private = {
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
            }
            session.generate_key(
                KeyType.GENERIC_SECRET,
                256,
                label=label,
                store=True,
                template={**private, Attribute.VERIFY: True},
            )
            params = session.create_domain_parameters(
                KeyType.EC_EDWARDS,
                {Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)},
                local=True,
            )
            params.generate_keypair(
                label=label,
                store=True,
                private_template=private,
                public_template={Attribute.TOKEN: True, Attribute.VERIFY: True},
            )
            return n

        n = self._guard(generate)
        self._load(fresh=True)
        key_id = f"{self.prefix}{n}"
        return key_id, key_id


def _ed25519(public: Any) -> Ed25519PublicKey:
    point = bytes(public[Attribute.EC_POINT])
    if len(point) == 34 and point[0] == 0x04 and point[1] == 32:
        point = point[2:]  # a DER OCTET STRING around the 32 bytes
    return Ed25519PublicKey.from_public_bytes(point)
