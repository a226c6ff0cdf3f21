"""Record field encryption: AES-256-GCM under the record's data key, bound to its place.

Ciphertext layout (format version 1):
    0x01        format version, 1 byte
    nonce       12 bytes, random per encryption
    ciphertext  len(plaintext) bytes
    tag         16 bytes (GCM)

AAD = aad_for(record_id, field, version), which starts with the same format byte:
    0x01                              format version, 1 byte
    len(record_id) || record_id       4-byte big-endian length, then UTF-8
    len(field) || field               4-byte big-endian length, then UTF-8
    version                           8-byte big-endian unsigned integer
so a ciphertext copied to another record, field or version fails to decrypt.
"""

from __future__ import annotations

import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.crypto._util import aead_open, require_bytes, require_text
from vault.crypto.errors import DecryptionError
from vault.crypto.providers import NONCE_SIZE, TAG_SIZE, DataKey, require_data_key

FORMAT_V1 = 0x01
OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE
_MAX_VERSION = 2**64 - 1


def aad_for(record_id: str, field: str, version: int) -> bytes:
    """Encode (record id, field, version) unambiguously as associated data (layout above)."""
    rid = require_text("record_id", record_id).encode()
    name = require_text("field", field).encode()
    if not isinstance(version, int) or isinstance(version, bool):
        raise TypeError(f"version must be int, not {type(version).__name__}")
    if not 0 <= version <= _MAX_VERSION:
        raise ValueError("version must be between 0 and 2**64 - 1")
    return (
        bytes([FORMAT_V1])
        + struct.pack(">I", len(rid))
        + rid
        + struct.pack(">I", len(name))
        + name
        + struct.pack(">Q", version)
    )


def encrypt_field(
    dek: DataKey, plaintext: bytes, *, record_id: str, field: str, version: int
) -> bytes:
    """Encrypt one field value with a fresh random nonce (layout in the module docstring)."""
    return _encrypt_field_with_nonce(
        dek, plaintext, os.urandom(NONCE_SIZE), record_id=record_id, field=field, version=version
    )


def _encrypt_field_with_nonce(
    dek: DataKey, plaintext: bytes, nonce: bytes, *, record_id: str, field: str, version: int
) -> bytes:
    """Encrypt with a caller-chosen nonce: known-answer tests only, never reuse a nonce."""
    require_data_key(dek)
    require_bytes("plaintext", plaintext)
    if len(require_bytes("nonce", nonce)) != NONCE_SIZE:
        raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
    aad = aad_for(record_id, field, version)
    return bytes([FORMAT_V1]) + nonce + AESGCM(dek.material).encrypt(nonce, plaintext, aad)


def decrypt_field(
    dek: DataKey, ciphertext: bytes, *, record_id: str, field: str, version: int
) -> bytes:
    """Decrypt one field value.

    Raises:
        DecryptionError: wrong key, wrong place (record id, field, version), truncated,
            tampered or unknown format; the error says nothing more.
        TypeError, ValueError: malformed arguments (a programming error).
    """
    require_data_key(dek)
    require_bytes("ciphertext", ciphertext)
    aad = aad_for(record_id, field, version)
    plaintext = None
    if len(ciphertext) >= OVERHEAD and ciphertext[0] == FORMAT_V1:
        nonce, sealed = ciphertext[1 : 1 + NONCE_SIZE], ciphertext[1 + NONCE_SIZE :]
        plaintext = aead_open(AESGCM(dek.material), nonce, sealed, aad)
    if plaintext is None:
        raise DecryptionError() from None
    return plaintext
