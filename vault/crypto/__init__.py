"""Envelope encryption, key providers, streaming encryption and blind indexes.

Imports only the standard library and `cryptography`.
"""

from vault.crypto.blind_index import blind_index, normalize
from vault.crypto.envelope import aad_for, decrypt_field, encrypt_field
from vault.crypto.errors import (
    CryptoError,
    DecryptionError,
    KeyProviderUnavailable,
    KeyringError,
)
from vault.crypto.providers import DataKey, KeyProvider, LocalKeyring, WrappedKey
from vault.crypto.streaming import (
    SEGMENT_SIZE,
    decrypt_stream,
    decrypt_stream_to,
    encrypt_stream,
)

__all__ = [
    "SEGMENT_SIZE",
    "CryptoError",
    "DataKey",
    "DecryptionError",
    "KeyProvider",
    "KeyProviderUnavailable",
    "KeyringError",
    "LocalKeyring",
    "WrappedKey",
    "aad_for",
    "blind_index",
    "decrypt_field",
    "decrypt_stream",
    "decrypt_stream_to",
    "encrypt_field",
    "encrypt_stream",
    "normalize",
]
