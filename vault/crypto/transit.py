"""OpenBao / HashiCorp Vault Transit as the key provider (through ``hvac``).

The key-encryption key is a Transit key (``aes256-gcm96``, ``derived``, not exportable):
a data key is sent to Transit to be encrypted, and Transit returns a ciphertext
``vault:vN:...`` that names the key version. The vault's key id for version N of the
Transit key ``K`` is ``transit:K:vN``; the blob is the ciphertext (ASCII).

The context a data key is bound to (``record:42``...) is the key-derivation context:
Transit derives a key per context, so a wrapped key opens only for its own place and a
wrong context fails (one ``DecryptionError``). A rotation is Transit's ``rotate``, and a
re-wrap is Transit's ``rewrap``, inside OpenBao (the data key never comes back).

The token is given to the constructor (from an environment variable or a file) and never
appears in a message or a ``repr``. An unreachable server, a refused token or a sealed
server raise ``KeyProviderUnavailable`` naming only the server's address.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import hvac
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hvac import exceptions as hv

from vault.crypto.audit_keys import ChainedAuditKeys
from vault.crypto.errors import (
    AuditKeyUnknown,
    DecryptionError,
    KeyProviderUnavailable,
    KeyringError,
)
from vault.crypto.external import ExternalProvider
from vault.crypto.providers import KEY_SIZE, DataKey, LocalKeyring, WrappedKey

T = TypeVar("T")


_CHUNK = 200


_CIPHERTEXT = re.compile(r"vault:v([1-9][0-9]{0,8}):[A-Za-z0-9+/=]+")


class TransitProvider(ExternalProvider):
    """`KeyProvider` whose KEK is a Transit key of an OpenBao or HashiCorp Vault server."""

    name = "transit"
    prefix = "transit:"

    def __init__(
        self,
        *,
        url: str,
        token: str,
        key: str,
        keyfile: LocalKeyring | None,
        mount: str = "transit",
        timeout: float = 5.0,
    ) -> None:
        super().__init__(keyfile)
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key):
            raise ValueError("the Transit key name must be 1..64 of A-Z a-z 0-9 _ . -")
        self._url = url
        self._key = key
        self._mount = mount
        self.__client = hvac.Client(url=url, token=token, timeout=timeout)
        self._latest = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TransitProvider(url={self._url!r}, key={self._key!r})"

    @property
    def _adapter(self) -> Any:
        return self.__client.adapter

    def audit_keys(self) -> ChainedAuditKeys:
        """The audit keys: Transit's own (``TransitAuditKeys``), and the key file's before."""
        return ChainedAuditKeys(TransitAuditKeys(self), self._keyfile)

    def _call(self, fn: Callable[[], T], *, decrypting: bool = False) -> T:
        try:
            return fn()
        except hv.InvalidRequest:
            if decrypting:
                raise DecryptionError() from None
            raise self._unavailable("refused the request") from None
        except (hv.Forbidden, hv.Unauthorized):
            raise self._unavailable("refused the vault's token") from None
        except hv.InvalidPath:
            raise self._unavailable(f"has no Transit key {self._key!r}") from None
        except (hv.VaultError, requests.RequestException, ValueError, KeyError) as exc:
            raise self._unavailable(f"cannot be used ({type(exc).__name__})") from None

    def _unavailable(self, why: str) -> KeyProviderUnavailable:
        return KeyProviderUnavailable(f"the Transit server at {self._url} {why}")

    @property
    def _transit(self) -> Any:
        return self.__client.secrets.transit

    def _read_latest(self) -> int:
        data = self._call(lambda: self._transit.read_key(self._key, mount_point=self._mount))
        latest = int(data["data"]["latest_version"])
        with self._lock:
            self._latest = max(self._latest, latest)
        return latest

    def _id(self, version: int) -> str:
        return f"{self.prefix}{self._key}:v{version}"

    @property
    def active_key_id(self) -> str:
        """``transit:<key>:vN`` for the Transit key's latest version (read once, then cached)."""
        latest = self._latest or self._read_latest()
        return self._id(latest)

    def _key_ids(self) -> list[str]:
        data = self._call(lambda: self._transit.read_key(self._key, mount_point=self._mount))
        return [self._id(int(v)) for v in sorted(data["data"]["keys"], key=int)]

    def ensure_key(self) -> str:
        """Enable the Transit engine and create the key if missing; return the active key id.

        A key that is there already is only read: a token whose policy allows Transit's
        paths for this key alone (no ``sys/mounts``, no key creation) is enough then."""
        try:
            return self._id(self._read_latest())
        except KeyProviderUnavailable:
            pass
        mounts = self._call(lambda: self.__client.sys.list_mounted_secrets_engines())
        listed = mounts.get("data", mounts)
        if f"{self._mount.strip('/')}/" not in listed:
            self._call(lambda: self.__client.sys.enable_secrets_engine("transit", path=self._mount))
        self._call(
            lambda: self._transit.create_key(
                self._key,
                key_type="aes256-gcm96",
                derived=True,
                exportable=False,
                allow_plaintext_backup=False,
                mount_point=self._mount,
            )
        )
        return self._id(self._read_latest())

    def next_key_id(self) -> str:
        """The id the next :meth:`rotate` will give (announced in the audit log first)."""
        return self._id(self._read_latest() + 1)

    def rotate(self, expected: str | None = None) -> str:
        """Rotate the Transit key (a new version, old ones kept) and return its key id.

        ``expected``: the id announced by :meth:`next_key_id`; refused if taken since.
        """
        if expected is not None and expected != self.next_key_id():
            raise KeyringError(f"the next key is no longer {expected}: rotate again")
        self._call(lambda: self._transit.rotate_key(self._key, mount_point=self._mount))
        return self._id(self._read_latest())

    def _wrap(self, dek: DataKey, context: bytes) -> WrappedKey:
        reply = self._call(
            lambda: self._transit.encrypt_data(
                self._key,
                plaintext=_b64(dek.material),
                context=_b64(context),
                mount_point=self._mount,
            )
        )
        return self._wrapped(reply)

    def _wrapped(self, reply: Any) -> WrappedKey:
        ciphertext = str(reply["data"]["ciphertext"])
        match = _CIPHERTEXT.fullmatch(ciphertext)
        if match is None:
            raise self._unavailable("answered with an unexpected ciphertext")
        version = int(match.group(1))
        with self._lock:
            self._latest = max(self._latest, version)
        return WrappedKey(self._id(version), ciphertext.encode("ascii"))

    def _ciphertext(self, wrapped: WrappedKey) -> str:
        """The blob as a Transit ciphertext whose version is the one the key id names."""
        try:
            ciphertext = wrapped.blob.decode("ascii")
        except UnicodeDecodeError:
            raise DecryptionError() from None
        match = _CIPHERTEXT.fullmatch(ciphertext)
        if match is None or self._id(int(match.group(1))) != wrapped.key_id:
            raise DecryptionError() from None
        return ciphertext

    def _unwrap(self, wrapped: WrappedKey, context: bytes) -> DataKey:
        ciphertext = self._ciphertext(wrapped)
        reply = self._call(
            lambda: self._transit.decrypt_data(
                self._key, ciphertext=ciphertext, context=_b64(context), mount_point=self._mount
            ),
            decrypting=True,
        )
        try:
            material = base64.b64decode(reply["data"]["plaintext"], validate=True)
        except (binascii.Error, KeyError, TypeError, ValueError):
            raise DecryptionError() from None
        if len(material) != KEY_SIZE:
            raise DecryptionError() from None
        return DataKey(material)

    def _rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        ciphertext = self._ciphertext(wrapped)
        reply = self._call(
            lambda: self._transit.rewrap_data(
                self._key, ciphertext=ciphertext, context=_b64(context), mount_point=self._mount
            ),
            decrypting=True,
        )
        return self._wrapped(reply)

    def rewrap_many(self, items: Sequence[tuple[WrappedKey, bytes]]) -> list[WrappedKey | None]:
        """Rewrap many data keys in two requests: Transit's batch ``rewrap`` for its own
        ciphertexts, batch ``encrypt`` for those unwrapped from the key file (migration).
        ``None`` for a key that cannot be unwrapped."""
        out: list[WrappedKey | None] = [None] * len(items)
        own: list[tuple[int, dict[str, str]]] = []
        fresh: list[tuple[int, dict[str, str]]] = []
        for i, (wrapped, context) in enumerate(items):
            try:
                if self.owns(wrapped.key_id):
                    ciphertext = self._ciphertext(wrapped)
                    own.append((i, {"ciphertext": ciphertext, "context": _b64(context)}))
                else:
                    dek = self.unwrap(wrapped, context)
                    fresh.append((i, {"plaintext": _b64(dek.material), "context": _b64(context)}))
            except DecryptionError:
                continue
        # OpenBao refuses JSON with too many strings: a request carries at most _CHUNK keys.
        for start in range(0, len(own), _CHUNK):
            part = own[start : start + _CHUNK]
            reply = self._call(
                lambda part=part: self._transit.rewrap_data(  # type: ignore[misc]
                    self._key,
                    ciphertext=None,
                    batch_input=[item for _, item in part],
                    mount_point=self._mount,
                )
            )
            for (i, _), result in zip(part, reply["data"]["batch_results"], strict=True):
                if not result.get("error"):
                    out[i] = self._wrapped({"data": result})
        for start in range(0, len(fresh), _CHUNK):
            part = fresh[start : start + _CHUNK]
            reply = self._call(
                lambda part=part: self._transit.encrypt_data(  # type: ignore[misc]
                    self._key, batch_input=[item for _, item in part], mount_point=self._mount
                )
            )
            for (i, _), result in zip(part, reply["data"]["batch_results"], strict=True):
                if result.get("error"):
                    raise self._unavailable("refused to encrypt a data key")
                out[i] = self._wrapped({"data": result})
        return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- the audit log's keys in Transit ---------------------------------------------------------
class TransitAuditKeys:
    """The audit MAC key and signing key as two Transit keys: ``<key>-audit-mac``
    (its ``hmac`` endpoint, HMAC-SHA-256) and ``<key>-audit-sign`` (``ed25519``, its
    ``sign`` endpoint). Key ids ``transit:<name>:vN`` name the Transit key and version;
    the server computes every MAC and signature (MACs in batches), the public keys are
    read from it. Transit has no HMAC-SM3: the ``sm3`` profile needs the key file.
    """

    def __init__(self, provider: TransitProvider) -> None:
        self._p = provider
        self._mac = f"{provider._key}-audit-mac"
        self._sign = f"{provider._key}-audit-sign"
        self.prefix = f"{provider.prefix}{provider._key}-audit-"
        self._latest: tuple[str, str] | None = None
        self._publics: dict[str, Ed25519PublicKey] = {}

    def __repr__(self) -> str:
        return f"TransitAuditKeys(key={self._p._key!r})"

    def _id(self, name: str, version: int) -> str:
        return f"{self._p.prefix}{name}:v{version}"

    def _parse(self, key_id: str, name: str) -> int:
        head, _, version = key_id.rpartition(":v")
        if head != f"{self._p.prefix}{name}" or not version.isdigit():
            raise AuditKeyUnknown(key_id)
        return int(version)

    def _versions(self, name: str) -> dict[str, Any] | None:
        try:
            data = self._p._transit.read_key(name, mount_point=self._p._mount)
        except hv.InvalidPath:
            return None
        except (hv.VaultError, requests.RequestException) as exc:
            raise self._p._unavailable(f"cannot be used ({type(exc).__name__})") from None
        return dict(data["data"])

    def latest(self) -> tuple[str, str] | None:
        if self._latest is None:
            mac, sign = self._versions(self._mac), self._versions(self._sign)
            if mac is None or sign is None:
                return None
            self._latest = (
                self._id(self._mac, int(mac["latest_version"])),
                self._id(self._sign, int(sign["latest_version"])),
            )
        return self._latest

    def macs(self, key_id: str, algorithm: str, messages: Sequence[bytes]) -> list[str]:
        if algorithm != "sha256":
            raise ValueError("Transit computes HMAC-SHA-256 here, not HMAC-SM3")
        version = self._parse(key_id, self._mac)
        out: list[str] = []
        adapter = self._p._adapter
        for start in range(0, len(messages), _CHUNK):
            batch = [{"input": _b64(m)} for m in messages[start : start + _CHUNK]]
            path = f"/v1/{self._p._mount}/hmac/{self._mac}/sha2-256"
            body = {"key_version": version, "batch_input": batch}
            reply: Any = self._p._call(partial(adapter.post, path, json=body))
            for item in reply["data"]["batch_results"]:
                if item.get("error") or not item.get("hmac"):
                    raise AuditKeyUnknown(key_id)
                out.append(_unprefix(item["hmac"]).hex())
        return out

    def sign(self, key_id: str, message: bytes) -> bytes:
        version = self._parse(key_id, self._sign)
        reply = self._p._call(
            lambda: self._p._transit.sign_data(
                self._sign, hash_input=_b64(message), key_version=version,
                mount_point=self._p._mount,
            )
        )  # fmt: skip
        return _unprefix(reply["data"]["signature"])

    def public_key(self, key_id: str) -> Ed25519PublicKey:
        found = self._publics.get(key_id)
        if found is None:
            version = self._parse(key_id, self._sign)
            data = self._versions(self._sign)
            entry = (data or {}).get("keys", {}).get(str(version))
            if not isinstance(entry, dict) or not entry.get("public_key"):
                raise AuditKeyUnknown(key_id)
            found = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry["public_key"]))
            self._publics[key_id] = found
        return found

    def rotate(self) -> tuple[str, str]:
        """Create the two Transit keys (first time) or rotate both to a new version."""
        transit, mount = self._p._transit, self._p._mount
        for name, key_type in ((self._mac, "aes256-gcm96"), (self._sign, "ed25519")):
            if self._versions(name) is None:
                create = partial(
                    transit.create_key,
                    name,
                    key_type=key_type,
                    exportable=False,
                    allow_plaintext_backup=False,
                    mount_point=mount,
                )
                self._p._call(create)
            else:
                self._p._call(partial(transit.rotate_key, name, mount_point=mount))
        self._latest = None
        latest = self.latest()
        if latest is None:
            raise self._p._unavailable("did not create the audit keys")
        return latest


def _unprefix(value: str) -> bytes:
    """The bytes of a Transit ``vault:vN:<base64>`` value."""
    try:
        return base64.b64decode(value.split(":", 2)[2], validate=True)
    except (IndexError, binascii.Error, ValueError):
        raise KeyringError("Transit returned a malformed value") from None
