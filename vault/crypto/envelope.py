"""Record field encryption: AEAD under the record's data key, bound to its place.

Ciphertext layout:
    format      1 byte: 0x01 AES-256-GCM under the data key itself,
                        0x02 SM4-GCM under HKDF-SM3(data key, info=b"archive-vault field
                        sm4 v2", 16 bytes) (``vault.crypto.suites``)
    nonce       12 bytes, random per encryption
    ciphertext  len(plaintext) bytes
    tag         16 bytes (GCM)

The format byte names the cipher, and decryption goes by it (never by the vault's
current setting), so fields of both kinds open side by side.

AAD = aad_for(record_id, field, version, format), which starts with the same format byte:
    format                            1 byte (0x01 or 0x02)
    len(record_id) || record_id       4-byte big-endian length, then UTF-8
    len(field) || field               4-byte big-endian length, then UTF-8
    version                           8-byte big-endian unsigned integer
so a ciphertext copied to another record, field or version fails to decrypt.
"""

from __future__ import annotations

import os
import struct

from vault.crypto import suites
from vault.crypto._util import aead_open, require_bytes, require_text
from vault.crypto.errors import DecryptionError
from vault.crypto.providers import NONCE_SIZE, TAG_SIZE, DataKey, require_data_key

FORMAT_V1 = suites.FORMAT_AES_256_GCM
FORMAT_SM4 = suites.FORMAT_SM4_GCM
_SM4_INFO = b"archive-vault field sm4 v2"
OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE
_MAX_VERSION = 2**64 - 1


def aad_for(record_id: str, field: str, version: int, fmt: int = FORMAT_V1) -> bytes:
    """Encode (record id, field, version) unambiguously as associated data (layout above)."""
    rid = require_text("record_id", record_id).encode()
    name = require_text("field", field).encode()
    if not isinstance(version, int) or isinstance(version, bool):
        raise TypeError(f"version must be int, not {type(version).__name__}")
    if not 0 <= version <= _MAX_VERSION:
        raise ValueError("version must be between 0 and 2**64 - 1")
    return (
        bytes([fmt])
        + struct.pack(">I", len(rid))
        + rid
        + struct.pack(">I", len(name))
        + name
        + struct.pack(">Q", version)
    )


def encrypt_field(
    dek: DataKey,
    plaintext: bytes,
    *,
    record_id: str,
    field: str,
    version: int,
    cipher: str = suites.AES_256_GCM,
) -> bytes:
    """Encrypt one field value with a fresh random nonce (layout in the module docstring).

    ``cipher``: ``suites.AES_256_GCM`` (default) or ``suites.SM4_GCM`` (``v.suite.cipher``).
    """
    return _encrypt_field_with_nonce(
        dek,
        plaintext,
        os.urandom(NONCE_SIZE),
        record_id=record_id,
        field=field,
        version=version,
        cipher=cipher,
    )


def _encrypt_field_with_nonce(
    dek: DataKey,
    plaintext: bytes,
    nonce: bytes,
    *,
    record_id: str,
    field: str,
    version: int,
    cipher: str = suites.AES_256_GCM,
) -> bytes:
    """Encrypt with a caller-chosen nonce: known-answer tests only, never reuse a nonce."""
    require_data_key(dek)
    require_bytes("plaintext", plaintext)
    if len(require_bytes("nonce", nonce)) != NONCE_SIZE:
        raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
    fmt = suites.FORMATS.get(cipher)
    if fmt is None:
        raise ValueError(f"unknown cipher {cipher!r}")
    aad = aad_for(record_id, field, version, fmt)
    return bytes([fmt]) + nonce + _aead(fmt, dek).encrypt(nonce, plaintext, aad)


def _aead(fmt: int, dek: DataKey) -> suites.Aead:
    return suites.aead_for(suites.CIPHER_OF_FORMAT[fmt], dek.material, salt=None, info=_SM4_INFO)


def cipher_of(ciphertext: bytes) -> str | None:
    """The cipher a field ciphertext names in its first byte (None: not one of ours)."""
    return suites.CIPHER_OF_FORMAT.get(ciphertext[0]) if ciphertext else None


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
    aad_for(record_id, field, version)  # malformed arguments raise, whatever the ciphertext
    plaintext = None
    if len(ciphertext) >= OVERHEAD and ciphertext[0] in suites.CIPHER_OF_FORMAT:
        fmt = ciphertext[0]
        aad = aad_for(record_id, field, version, fmt)
        nonce, sealed = ciphertext[1 : 1 + NONCE_SIZE], ciphertext[1 + NONCE_SIZE :]
        plaintext = aead_open(_aead(fmt, dek), nonce, sealed, aad)
    if plaintext is None:
        raise DecryptionError() from None
    return plaintext
