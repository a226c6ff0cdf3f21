"""Data keys, wrapped keys, the `KeyProvider` protocol and the local keyring file."""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hmac
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.crypto._util import aead_open, require_bytes, require_text
from vault.crypto.audit_keys import KeyfileAuditKeys
from vault.crypto.errors import DecryptionError, KeyringError

KEY_SIZE = 32


NONCE_SIZE = 12


TAG_SIZE = 16


SECRET_PURPOSES = ("audit-mac", "blind-index")


class DataKey:
    """A 256-bit data key (DEK); it cannot be printed or pickled.

    `material` / `raw()` expose the bytes for use by `vault.crypto` only.
    """

    __slots__ = ("_material",)

    def __init__(self, material: bytes) -> None:
        require_bytes("material", material)
        if len(material) != KEY_SIZE:
            raise ValueError(f"a data key is {KEY_SIZE} bytes, not {len(material)}")
        self._material = material

    @classmethod
    def generate(cls) -> DataKey:
        """Return a fresh random 256-bit data key."""
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def from_bytes(cls, material: bytes) -> DataKey:
        """Return the data key with the given 32 bytes."""
        return cls(material)

    @property
    def material(self) -> bytes:
        """The raw key bytes (crypto code only)."""
        return self._material

    def raw(self) -> bytes:
        """Return the raw key bytes (crypto code only)."""
        return self._material

    def __repr__(self) -> str:
        return "DataKey(<secret>)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataKey):
            return NotImplemented
        return hmac.compare_digest(self._material, other._material)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        raise TypeError("DataKey cannot be pickled")


def require_data_key(dek: object) -> DataKey:
    """Return dek if it is a DataKey, else raise TypeError (internal check)."""
    if not isinstance(dek, DataKey):
        raise TypeError(f"dek must be a DataKey, not {type(dek).__name__}")
    return dek


_WRAPPED_KEY_FORMAT = 0x01


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under the key-encryption key (KEK) named by `key_id`.

    `to_bytes()` layout (format version 1):
        0x01        format version, 1 byte
        n           length of key_id in UTF-8 bytes, 1 byte (1..255)
        key_id      n bytes, UTF-8
        blob        the rest: the provider's wrapped key
    """

    key_id: str
    blob: bytes

    def __post_init__(self) -> None:
        require_text("key_id", self.key_id)
        require_bytes("blob", self.blob)
        if len(self.key_id.encode()) > 255:
            raise ValueError("key_id is longer than 255 UTF-8 bytes")

    def to_bytes(self) -> bytes:
        """Serialize to the self-describing layout above."""
        kid = self.key_id.encode()
        return bytes([_WRAPPED_KEY_FORMAT, len(kid)]) + kid + self.blob

    @classmethod
    def from_bytes(cls, data: bytes) -> WrappedKey:
        """Parse `to_bytes()` output; raises DecryptionError on anything malformed."""
        require_bytes("data", data)
        parsed = _parse_wrapped_key(data)
        if parsed is None:
            raise DecryptionError() from None
        return parsed


def _parse_wrapped_key(data: bytes) -> WrappedKey | None:
    if len(data) < 2 or data[0] != _WRAPPED_KEY_FORMAT or data[1] == 0:
        return None
    end = 2 + data[1]
    if len(data) < end:
        return None
    try:
        return WrappedKey(data[2:end].decode(), data[end:])
    except ValueError:  # UnicodeDecodeError is a ValueError
        return None


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps data keys under key-encryption keys (KEKs) and holds long-lived secrets."""

    @property
    def active_key_id(self) -> str:
        """Id of the KEK that `wrap` uses now."""
        ...

    def wrap(self, dek: DataKey, context: bytes) -> WrappedKey:
        """Encrypt dek under the active KEK, bound to context (e.g. b"record:42")."""
        ...

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> DataKey:
        """Decrypt a wrapped key; DecryptionError on any failure (wrong context, key id...)."""
        ...

    def secret(self, purpose: str) -> bytes:
        """Return the stable 32-byte secret for purpose ("audit-mac", "blind-index")."""
        ...

    def signing_key(self) -> Ed25519PrivateKey:
        """Return the Ed25519 key that signs audit checkpoints."""
        ...

    def verify_key(self) -> Ed25519PublicKey:
        """Return the public half of `signing_key()`."""
        ...

    def key_ids(self) -> list[str]:
        """Return the ids of every KEK known, oldest first."""
        ...


_KEYRING_FORMAT = "archive-vault keyring"


_KEYRING_VERSION = 1


_MAX_KEYRING_SIZE = 1 << 20


_LOCAL_ID = re.compile(r"local-([1-9][0-9]{0,8})")


_WRAP_FORMAT = 0x01


_WRAPPED_BLOB_SIZE = 1 + NONCE_SIZE + KEY_SIZE + TAG_SIZE


@dataclass(frozen=True, repr=False, eq=False)
class _KeyringState:
    """Everything read from one version of the keyring file (replaced whole, never mutated)."""

    active: str
    keks: Mapping[str, bytes]
    aeads: Mapping[str, AESGCM]
    secrets: Mapping[str, bytes]
    signing: Ed25519PrivateKey
    # Audit key versions (1: secrets["audit-mac"] and signing; 2.. from "audit_keys").
    audit: Mapping[int, tuple[bytes, Ed25519PrivateKey]]


class LocalKeyring:
    """`KeyProvider` backed by one JSON file of mode 0600.

    File (JSON, key bytes base64): {"format": "archive-vault keyring", "version": 1,
    "active": "local-2", "keks": {"local-1": ..., "local-2": ...},
    "secrets": {"audit-mac": ..., "blind-index": ...}, "signing_key": <Ed25519 raw>,
    "audit_keys": {"2": {"mac": ..., "signing_key": ...}, ...}} (audit key versions from
    the first ``audit rotate-keys`` on; version 1 is ``audit-mac`` and ``signing_key``).

    Wrapped-key blob layout (AES-256-GCM under the KEK named by `WrappedKey.key_id`):
        0x01 (format version, 1 byte) || nonce (12 bytes) || encrypted DEK (32) || tag (16)
    AAD = 0x01 || len(key_id) (1 byte) || key_id (UTF-8) || context, so a wrapped key
    only unwraps under its own KEK id and for the place (context) it was wrapped for.
    """

    def __init__(self, path: Path, state: _KeyringState) -> None:
        """Use `create` or `load`."""
        self._path = path
        self._state = state

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> LocalKeyring:
        """Create a new keyring file (0600, parent dir 0700 if created); refuse if it exists."""
        target = Path(path)
        if target.exists() or target.is_symlink():
            raise KeyringError(f"keyring file {target} already exists; refusing to overwrite it")
        if not target.parent.exists():
            target.parent.mkdir(mode=0o700, parents=True)
            target.parent.chmod(0o700)
        document = {
            "format": _KEYRING_FORMAT,
            "version": _KEYRING_VERSION,
            "active": "local-1",
            "keks": {"local-1": _b64(AESGCM.generate_key(bit_length=256))},
            "secrets": {p: _b64(secrets.token_bytes(KEY_SIZE)) for p in SECRET_PURPOSES},
            "signing_key": _b64(Ed25519PrivateKey.generate().private_bytes_raw()),
        }
        payload = _dump(document)
        _write_atomic(target, payload, overwrite=False)
        return cls(target, _parse(payload, target))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LocalKeyring:
        """Load a keyring file; KeyringError if missing, group/other-accessible or corrupt."""
        target = Path(path)
        return cls(target, _parse(_read(target), target))

    @property
    def path(self) -> Path:
        """Location of the keyring file."""
        return self._path

    @property
    def active_key_id(self) -> str:
        """Id of the KEK that `wrap` uses now."""
        return self._state.active

    def key_ids(self) -> list[str]:
        """Return the ids of every KEK known, oldest first."""
        return sorted(self._state.keks, key=_id_order)

    def wrap(self, dek: DataKey, context: bytes) -> WrappedKey:
        """Encrypt dek under the active KEK with AES-256-GCM, bound to context."""
        require_data_key(dek)
        _check_context(context)
        state = self._state
        nonce = os.urandom(NONCE_SIZE)
        sealed = state.aeads[state.active].encrypt(
            nonce, dek.material, _wrap_aad(state.active, context)
        )
        return WrappedKey(state.active, bytes([_WRAP_FORMAT]) + nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> DataKey:
        """Decrypt a wrapped key; DecryptionError on any failure (wrong context, key id...)."""
        if not isinstance(wrapped, WrappedKey):
            raise TypeError(f"wrapped must be a WrappedKey, not {type(wrapped).__name__}")
        _check_context(context)
        aead = self._aead_for(wrapped.key_id)
        blob = wrapped.blob
        material = None
        if aead is not None and len(blob) == _WRAPPED_BLOB_SIZE and blob[0] == _WRAP_FORMAT:
            nonce, sealed = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
            material = aead_open(aead, nonce, sealed, _wrap_aad(wrapped.key_id, context))
        if material is None:
            raise DecryptionError() from None
        return DataKey(material)

    def rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        """Unwrap and wrap again under the active KEK (key rotation; content untouched)."""
        return self.wrap(self.unwrap(wrapped, context), context)

    def next_key_id(self) -> str:
        """The id the next :meth:`rotate` will give its KEK (read from the file on disk)."""
        with _locked(self._path):
            current = _parse(_read(self._path), self._path)
        return _next_id(current)

    def rotate(self, expected: str | None = None) -> str:
        """Add a new KEK, make it active, persist atomically and return its id.

        Runs under an exclusive lock on "<keyring>.lock" and starts from the file on
        disk, so concurrent rotations never drop a KEK. Old KEKs are kept.

        Args:
            expected: the id announced beforehand (:meth:`next_key_id`, whose audit event
                has committed); if another rotation took it meanwhile, nothing changes.

        Raises:
            KeyringError: ``expected`` is no longer the next id.
        """
        with _locked(self._path):
            current = _parse(_read(self._path), self._path)
            new_id = _next_id(current)
            if expected is not None and new_id != expected:
                raise KeyringError(f"key {expected} was taken by another rotation; rotate again")
            document = _document(current)
            document["keks"][new_id] = _b64(AESGCM.generate_key(bit_length=256))
            document["active"] = new_id
            payload = _dump(document)
            _write_atomic(self._path, payload, overwrite=True)
            self._state = _parse(payload, self._path)
        return new_id

    def retire(self, key_id: str) -> None:
        """Remove a KEK that is not active from the keyring file, for ever.

        Whatever is still wrapped under it can never be unwrapped again: the caller
        checks that nothing is (``vault.keys.retirement``). Runs under the keyring's
        lock, from the file on disk, like :meth:`rotate`.
        """
        with _locked(self._path):
            current = _parse(_read(self._path), self._path)
            if key_id not in current.keks:
                raise KeyringError(f"no key {key_id!r} in the keyring")
            if key_id == current.active:
                raise KeyringError("the active key cannot be retired")
            document = _document(current)
            del document["keks"][key_id]
            payload = _dump(document)
            _write_atomic(self._path, payload, overwrite=True)
            self._state = _parse(payload, self._path)

    def reload(self) -> None:
        """Re-read the keyring file (e.g. after another process rotated it)."""
        self._state = _parse(_read(self._path), self._path)

    def secret(self, purpose: str) -> bytes:
        """Return the stable 32-byte secret for purpose ("audit-mac", "blind-index")."""
        try:
            return self._state.secrets[purpose]
        except KeyError:
            raise ValueError(f"unknown secret purpose {purpose!r}") from None

    def signing_key(self) -> Ed25519PrivateKey:
        """Return the Ed25519 key that signs audit checkpoints."""
        return self._state.signing

    def verify_key(self) -> Ed25519PublicKey:
        """Return the public half of `signing_key()`."""
        return self._state.signing.public_key()

    def audit_versions(self) -> Mapping[int, tuple[bytes, Ed25519PrivateKey]]:
        """The audit log's (MAC key, signing key) by version: 1 is the file's first pair."""
        return self._state.audit

    def audit_keys(self) -> KeyfileAuditKeys:
        """The audit keys of this file, by version (``audit.keys.AuditKeys``)."""
        return KeyfileAuditKeys(self)

    def rotate_audit_keys(self) -> str:
        """Add a new audit MAC key and signing key and make them active; old ones stay, so
        events and checkpoints made under them still verify. Returns ``file:N``."""
        with _locked(self._path):
            current = _parse(_read(self._path), self._path)
            n = max(current.audit) + 1
            document = _document(current)
            document.setdefault("audit_keys", {})[str(n)] = {
                "mac": _b64(secrets.token_bytes(KEY_SIZE)),
                "signing_key": _b64(Ed25519PrivateKey.generate().private_bytes_raw()),
            }
            payload = _dump(document)
            _write_atomic(self._path, payload, overwrite=True)
            self._state = _parse(payload, self._path)
        return f"file:{n}"

    def _aead_for(self, key_id: str) -> AESGCM | None:
        aead = self._state.aeads.get(key_id)
        # A newer local id than we know means another process rotated: read the file once.
        if aead is None and _local_number(key_id) > max(map(_local_number, self._state.keks)):
            with contextlib.suppress(KeyringError):
                self.reload()
            aead = self._state.aeads.get(key_id)
        return aead

    def __repr__(self) -> str:
        return f"LocalKeyring(path={str(self._path)!r}, active_key_id={self.active_key_id!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("LocalKeyring cannot be pickled")


def _check_context(context: bytes) -> None:
    require_bytes("context", context)
    if not context:
        raise ValueError("context must not be empty; bind the key to its place")


def _wrap_aad(key_id: str, context: bytes) -> bytes:
    kid = key_id.encode()
    return bytes([_WRAP_FORMAT, len(kid)]) + kid + context


def _local_number(key_id: str) -> int:
    match = _LOCAL_ID.fullmatch(key_id)
    return int(match.group(1)) if match else 0


def _id_order(key_id: str) -> tuple[int, str]:
    return (_local_number(key_id), key_id)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, size: int) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if len(data) == size else None


def _dump(document: dict[str, object]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def _document(state: _KeyringState) -> dict[str, Any]:
    return {
        "format": _KEYRING_FORMAT,
        "version": _KEYRING_VERSION,
        "active": state.active,
        "keks": {kid: _b64(key) for kid, key in state.keks.items()},
        "secrets": {p: _b64(s) for p, s in state.secrets.items()},
        "signing_key": _b64(state.signing.private_bytes_raw()),
        **(
            {
                "audit_keys": {
                    str(n): {"mac": _b64(m), "signing_key": _b64(k.private_bytes_raw())}
                    for n, (m, k) in state.audit.items()
                    if n != 1
                }
            }
            if len(state.audit) > 1
            else {}
        ),
    }


def _read(path: Path) -> bytes:
    """Read the keyring file, refusing anything but a regular file of mode 0600 or stricter."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise KeyringError(
            f"keyring file {path} not found; create one with `archive-vault init`"
        ) from None
    except OSError as exc:
        raise KeyringError(f"cannot open keyring file {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyringError(f"keyring {path} is not a regular file")
        if info.st_mode & 0o077:
            mode = stat.S_IMODE(info.st_mode)
            raise KeyringError(
                f"keyring file {path} is accessible by group or others (mode {mode:04o}); "
                f"restrict it with: chmod 600 {path}"
            )
        with open(fd, "rb", closefd=False) as file:
            data = file.read(_MAX_KEYRING_SIZE + 1)
    except OSError as exc:
        raise KeyringError(f"cannot read keyring file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > _MAX_KEYRING_SIZE:
        raise KeyringError(f"keyring {path} is corrupt (larger than 1 MiB)")
    return data


def _parse(payload: bytes, path: Path) -> _KeyringState:
    """Validate the keyring document; KeyringError (without key bytes in it) if corrupt."""
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    if (
        not isinstance(doc, dict)
        or doc.get("format") != _KEYRING_FORMAT
        or doc.get("version") != _KEYRING_VERSION
    ):
        _corrupt(path, f"not an {_KEYRING_FORMAT} of version {_KEYRING_VERSION}")
    raw_keks, raw_secrets = doc.get("keks"), doc.get("secrets")
    if not isinstance(raw_keks, dict) or not raw_keks or not isinstance(raw_secrets, dict):
        _corrupt(path, "no key-encryption keys or secrets")
    keks: dict[str, bytes] = {}
    for kid, value in raw_keks.items():
        key = _unb64(value, KEY_SIZE)
        if key is None or not kid or len(kid.encode()) > 255:
            _corrupt(path, f"bad key-encryption key {kid!r}")
        keks[kid] = key
    if doc.get("active") not in keks:
        _corrupt(path, "the active key id names no key")
    found: dict[str, bytes] = {}
    for purpose in SECRET_PURPOSES:
        value = _unb64(raw_secrets.get(purpose), KEY_SIZE)
        if value is None:
            _corrupt(path, f"missing or bad secret {purpose!r}")
        found[purpose] = value
    signing = _unb64(doc.get("signing_key"), KEY_SIZE)
    if signing is None:
        _corrupt(path, "missing or bad signing key")
    audit: dict[int, tuple[bytes, Ed25519PrivateKey]] = {}
    raw_audit = doc.get("audit_keys", {})
    if not isinstance(raw_audit, dict):
        _corrupt(path, "bad audit keys")
    for number, pair in raw_audit.items():
        mac = _unb64(pair.get("mac"), KEY_SIZE) if isinstance(pair, dict) else None
        key = _unb64(pair.get("signing_key"), KEY_SIZE) if isinstance(pair, dict) else None
        if mac is None or key is None or not number.isdigit() or int(number) < 2:
            _corrupt(path, f"bad audit key version {number!r}")
        audit[int(number)] = (mac, Ed25519PrivateKey.from_private_bytes(key))
    signing_key = Ed25519PrivateKey.from_private_bytes(signing)
    audit[1] = (found["audit-mac"], signing_key)
    return _KeyringState(
        active=doc["active"],
        keks=keks,
        aeads={kid: AESGCM(key) for kid, key in keks.items()},
        secrets=found,
        signing=signing_key,
        audit=audit,
    )


def _next_id(state: _KeyringState) -> str:
    return f"local-{max(map(_local_number, state.keks), default=0) + 1}"


def _corrupt(path: Path, why: str) -> NoReturn:
    raise KeyringError(f"keyring {path} is corrupt ({why}); restore it from a backup")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on "<keyring>.lock" (the keyring itself is replaced, not edited)."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_atomic(path: Path, payload: bytes, *, overwrite: bool) -> None:
    """Write a 0600 temp file in the same dir, fsync, then move it into place and fsync the dir.

    With overwrite=False the move is a hard link, which fails if path exists.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeyringError(
                    f"keyring file {path} already exists; refusing to overwrite it"
                ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
