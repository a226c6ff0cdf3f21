"""What the key providers outside the box (a PKCS#11 HSM, OpenBao / Vault Transit) share.

Such a provider wraps every new data key under a key-encryption key (KEK) that never
leaves it; the vault holds only wrapped keys and key ids (``pkcs11:...``, ``transit:...``).

It still reads the local key file for two things (part 1 of "keys outside the box"):
- the long-lived secrets (``secret("audit-mac")``, ``secret("blind-index")``) and the
  audit signing key, which part 2 moves into the provider;
- the data keys still wrapped under the key file's KEKs (``local-N``), so that a vault
  moved to the provider with ``archive-vault keys migrate`` keeps reading them until
  every one is re-wrapped under the provider.
"""

from __future__ import annotations

from typing import NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vault.crypto.errors import DecryptionError, KeyringError
from vault.crypto.providers import DataKey, LocalKeyring, WrappedKey, require_data_key


class ExternalProvider:
    """Base of the providers whose KEKs live outside the vault; see the module docstring.

    Subclasses set ``name`` and ``prefix`` (every key id they make starts with it) and
    implement ``_wrap``, ``_unwrap``, ``_key_ids`` and ``active_key_id``; ``_rewrap``
    defaults to unwrap-then-wrap.
    """

    name = "external"
    prefix = "external:"

    def __init__(self, keyfile: LocalKeyring | None) -> None:
        self._keyfile = keyfile

    # -- what subclasses provide ---------------------------------------------------------
    @property
    def active_key_id(self) -> str:
        """Id of the KEK that `wrap` uses now."""
        raise NotImplementedError

    def _wrap(self, dek: DataKey, context: bytes) -> WrappedKey:
        raise NotImplementedError

    def _unwrap(self, wrapped: WrappedKey, context: bytes) -> DataKey:
        raise NotImplementedError

    def _rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        return self._wrap(self._unwrap(wrapped, context), context)

    def _key_ids(self) -> list[str]:
        raise NotImplementedError

    # -- the KeyProvider protocol -------------------------------------------------------------
    def owns(self, key_id: str) -> bool:
        """Whether ``key_id`` names one of this provider's KEKs."""
        return key_id.startswith(self.prefix)

    def wrap(self, dek: DataKey, context: bytes) -> WrappedKey:
        """Encrypt dek under the provider's active KEK, bound to context."""
        require_data_key(dek)
        _check_context(context)
        return self._wrap(dek, context)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> DataKey:
        """Decrypt a wrapped key (the provider's, or the key file's); DecryptionError if not."""
        if not isinstance(wrapped, WrappedKey):
            raise TypeError(f"wrapped must be a WrappedKey, not {type(wrapped).__name__}")
        _check_context(context)
        if self.owns(wrapped.key_id):
            return self._unwrap(wrapped, context)
        if self._keyfile is not None:
            return self._keyfile.unwrap(wrapped, context)
        raise DecryptionError() from None

    def rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        """Wrap a stored data key again under the active KEK (inside the provider if it can)."""
        if not isinstance(wrapped, WrappedKey):
            raise TypeError(f"wrapped must be a WrappedKey, not {type(wrapped).__name__}")
        _check_context(context)
        if self.owns(wrapped.key_id):
            return self._rewrap(wrapped, context)
        return self._wrap(self.unwrap(wrapped, context), context)

    def key_ids(self) -> list[str]:
        """The key file's KEK ids (data keys not yet migrated), then the provider's."""
        local = self._keyfile.key_ids() if self._keyfile is not None else []
        return local + self._key_ids()

    def secret(self, purpose: str) -> bytes:
        """The stable secret for purpose, from the local key file (part 2 moves it here)."""
        return self._secrets().secret(purpose)

    def signing_key(self) -> Ed25519PrivateKey:
        """The audit signing key, from the local key file (part 2 moves it here)."""
        return self._secrets().signing_key()

    def verify_key(self) -> Ed25519PublicKey:
        """The public half of `signing_key()`."""
        return self._secrets().verify_key()

    def _secrets(self) -> LocalKeyring:
        if self._keyfile is None:
            raise KeyringError("no local key file for the vault's secrets")
        return self._keyfile

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} cannot be pickled")


def _check_context(context: bytes) -> None:
    if not isinstance(context, bytes):
        raise TypeError(f"context must be bytes, not {type(context).__name__}")
    if not context:
        raise ValueError("context must not be empty; bind the key to its place")
