"""Envelope encryption, key providers, streaming encryption and blind indexes.

Imports only the standard library and `cryptography`.
"""

from vault.crypto.envelope import aad_for, decrypt_field, encrypt_field
from vault.crypto.errors import CryptoError, DecryptionError, KeyringError
from vault.crypto.keys import DataKey, KeyProvider, LocalKeyring, WrappedKey

__all__ = [
    "CryptoError",
    "DataKey",
    "DecryptionError",
    "KeyProvider",
    "KeyringError",
    "LocalKeyring",
    "WrappedKey",
    "aad_for",
    "decrypt_field",
    "encrypt_field",
]
