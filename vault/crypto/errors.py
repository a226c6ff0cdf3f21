"""Errors raised by the crypto package.

Every failure to decrypt, unwrap or authenticate is collapsed into one
`DecryptionError` whose message is always "decryption failed", so that an
attacker learns nothing from which check failed.
"""

from __future__ import annotations

DECRYPTION_FAILED = "decryption failed"


class CryptoError(Exception):
    """Base class of every error raised by `vault.crypto`."""


class DecryptionError(CryptoError):
    """Any failure to decrypt, unwrap or authenticate; reveals nothing about why."""

    def __init__(self) -> None:
        super().__init__(DECRYPTION_FAILED)

    def __reduce__(self) -> tuple[type[DecryptionError], tuple[()]]:
        return (type(self), ())


class KeyringError(CryptoError):
    """The keyring file is missing, unreadable, too permissive or corrupt."""


class KeyProviderUnavailable(CryptoError):
    """The key provider (HSM, OpenBao) cannot be reached or refused the vault's credentials.

    The message names the provider and what failed, never a PIN, token or key.
    """


class AuditKeyUnknown(CryptoError, LookupError):
    """An audit key id the provider does not hold (the message is the id, never a key)."""
