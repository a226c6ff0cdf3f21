"""Keys as a capability: who may unwrap what.

A key provider can unwrap every data key it ever wrapped. Only the choke point
(``vault.access``) is handed an :class:`Unsealer`, the object that unwraps the data
keys of records and clients. Everything else sees the provider through a
:class:`WrapOnly` view: it wraps new data keys, re-wraps old ones inside the provider
(rotation: the data key never leaves it), reads the secrets the audit log and the
blind index need, and opens only the one kind of sealed secret that is not archive
content: a person's own second-factor (TOTP) secret, bound to ``totp:<person id>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vault import metrics
from vault.crypto.errors import DecryptionError
from vault.crypto.providers import DataKey, KeyProvider, WrappedKey

# Contexts a WrapOnly view may open: never a record's or a client's data key.
OWN_SECRET_CONTEXTS = (b"totp:",)


class WrapOnly:
    """A key provider for every module but the choke point: wrap, never unwrap content keys."""

    __slots__ = ("__provider",)

    def __init__(self, provider: KeyProvider) -> None:
        self.__provider = provider

    def __repr__(self) -> str:
        return "WrapOnly(<key provider>)"

    @property
    def active_key_id(self) -> str:
        """Id of the KEK that :meth:`wrap` uses now."""
        return self.__provider.active_key_id

    def key_ids(self) -> list[str]:
        """Ids of every KEK the provider knows, oldest first."""
        return self.__provider.key_ids()

    def wrap(self, dek: DataKey, context: bytes) -> WrappedKey:
        """Wrap a fresh data key under the active KEK, bound to ``context``."""
        with metrics.key_provider(self.__provider, "wrap"):
            return self.__provider.wrap(dek, context)

    def rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        """Wrap a stored data key again under the active KEK; the key stays in the provider."""
        provider = self.__provider
        rewrap = getattr(provider, "rewrap", None)
        with metrics.key_provider(provider, "rewrap"):
            if rewrap is not None:
                return rewrap(wrapped, context)
            return provider.wrap(provider.unwrap(wrapped, context), context)

    def rewrap_many(self, items: Sequence[tuple[WrappedKey, bytes]]) -> list[WrappedKey | None]:
        """:meth:`rewrap` of each (wrapped key, context), in one round trip where the
        provider can (Transit's batch); ``None`` for a key that cannot be unwrapped."""
        many = getattr(self.__provider, "rewrap_many", None)
        if many is not None:
            return list(many(items))
        out: list[WrappedKey | None] = []
        for wrapped, context in items:
            try:
                out.append(self.rewrap(wrapped, context))
            except DecryptionError:
                out.append(None)
        return out

    def unwrap_own_secret(self, wrapped: WrappedKey, context: bytes) -> DataKey:
        """Open a person's own sealed second-factor secret; any other context is refused."""
        if not context.startswith(OWN_SECRET_CONTEXTS):
            raise DecryptionError()
        with metrics.key_provider(self.__provider, "unwrap"):
            return self.__provider.unwrap(wrapped, context)

    def secret(self, purpose: str) -> bytes:
        """The provider's stable secret for ``purpose`` ("audit-mac", "blind-index")."""
        return self.__provider.secret(purpose)

    def signing_key(self) -> Ed25519PrivateKey:
        """The key that signs audit checkpoints."""
        return self.__provider.signing_key()

    def verify_key(self) -> Ed25519PublicKey:
        """The public half of :meth:`signing_key`."""
        return self.__provider.verify_key()

    @property
    def retires(self) -> bool:
        """Whether the vault itself removes this provider's old KEKs (the local key file)."""
        return callable(getattr(self.__provider, "retire", None))

    def retire(self, key_id: str) -> None:
        """Remove a KEK that no data key needs any more; only for providers that rotate."""
        retire = getattr(self.__provider, "retire", None)
        if retire is None:
            raise NotImplementedError("this key provider retires its keys itself")
        retire(key_id)

    @property
    def rotates(self) -> bool:
        """Whether the vault itself rotates this provider's KEKs (the local key file)."""
        return callable(getattr(self.__provider, "rotate", None))

    def next_key_id(self) -> str:
        """The id the next :meth:`rotate` will give; only for providers that :attr:`rotates`."""
        peek = getattr(self.__provider, "next_key_id", None)
        if peek is None:
            raise NotImplementedError("this key provider rotates its keys itself")
        return str(peek())

    def rotate(self, expected: str | None = None) -> str:
        """Add a KEK and make it active; only for providers that :attr:`rotates`.

        ``expected``: the id announced by :meth:`next_key_id` (refused if taken since).
        """
        rotate = getattr(self.__provider, "rotate", None)
        if rotate is None:
            raise NotImplementedError("this key provider rotates its keys itself")
        return str(rotate() if expected is None else rotate(expected))


class Unsealer:
    """The capability to unwrap data keys of records and clients: the choke point's alone."""

    __slots__ = ("__provider",)

    def __init__(self, provider: KeyProvider) -> None:
        self.__provider = provider

    def __repr__(self) -> str:
        return "Unsealer(<key provider>)"

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> DataKey:
        """Unwrap a data key; DecryptionError on any failure."""
        with metrics.key_provider(self.__provider, "unwrap"):
            return self.__provider.unwrap(wrapped, context)


def split(provider: KeyProvider) -> tuple[WrapOnly, Unsealer]:
    """The two views of one provider: the wrap-only one for all, the unsealer for one."""
    return WrapOnly(provider), Unsealer(provider)
