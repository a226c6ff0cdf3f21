"""Attachments: segmented streaming AEAD in the manner of Tink's AES-GCM-HKDF streaming AEAD.

Memory stays flat for any file size: at most two segments are held at a time.

Stream layout:
    header      format (1 byte) || segment_size (4 bytes BE) || salt (32 bytes)
                || nonce_prefix (7 bytes)                                  = 44 bytes
    segments    segment 0 .. n-1, each AEAD ciphertext || tag (16 bytes); every
                segment but the last holds exactly segment_size plaintext bytes, the last
                0..segment_size (an empty input gives one empty last segment)

    format 0x01     AES-256-GCM; file key HKDF-SHA256(ikm=dek, salt=salt,
                    info=b"archive-vault stream v1" || aad, length=32)
    format 0x02     SM4-GCM; file key HKDF-SM3(ikm=dek, salt=salt,
                    info=b"archive-vault stream sm4 v2" || aad, length=16)
    segment nonce   nonce_prefix (7) || segment index (4 bytes BE)
                    || last flag (1 byte: 0x01 for the last segment, else 0x00)
    segment AAD     the 44-byte header

The index and last flag in each nonce make reordering, truncation and extension fail.
The format byte names the cipher and decryption goes by it (``vault.crypto.suites``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import IO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.crypto import suites
from vault.crypto._util import aead_open, require_bytes
from vault.crypto.errors import DecryptionError
from vault.crypto.providers import KEY_SIZE, TAG_SIZE, DataKey, require_data_key

FORMAT_V1 = 0x01
SEGMENT_SIZE = 1 << 20
MAX_SEGMENT_SIZE = 1 << 24
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
HEADER_SIZE = 1 + 4 + SALT_SIZE + NONCE_PREFIX_SIZE
_INFO = b"archive-vault stream v1"
_SM4_INFO = b"archive-vault stream sm4 v2"
_MAX_INDEX = 2**32 - 1


def encrypt_stream(
    dek: DataKey,
    src: IO[bytes],
    dst: IO[bytes],
    *,
    aad: bytes,
    segment_size: int = SEGMENT_SIZE,
    cipher: str = suites.AES_256_GCM,
) -> int:
    """Encrypt src to dst segment by segment; return the number of plaintext bytes read.

    ``cipher``: ``suites.AES_256_GCM`` (default) or ``suites.SM4_GCM``.
    """
    return _encrypt_stream(
        dek,
        src,
        dst,
        aad=aad,
        segment_size=segment_size,
        salt=os.urandom(SALT_SIZE),
        nonce_prefix=os.urandom(NONCE_PREFIX_SIZE),
        cipher=cipher,
    )


def _encrypt_stream(
    dek: DataKey,
    src: IO[bytes],
    dst: IO[bytes],
    *,
    aad: bytes,
    segment_size: int,
    salt: bytes,
    nonce_prefix: bytes,
    cipher: str = suites.AES_256_GCM,
) -> int:
    """Encrypt with caller-chosen salt and nonce prefix: known-answer tests only."""
    require_data_key(dek)
    require_bytes("aad", aad)
    if not isinstance(segment_size, int) or not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment_size must be an int between 1 and {MAX_SEGMENT_SIZE}")
    if len(require_bytes("salt", salt)) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes")
    if len(require_bytes("nonce_prefix", nonce_prefix)) != NONCE_PREFIX_SIZE:
        raise ValueError(f"nonce_prefix must be {NONCE_PREFIX_SIZE} bytes")
    fmt = suites.FORMATS.get(cipher)
    if fmt is None:
        raise ValueError(f"unknown cipher {cipher!r}")
    header = bytes([fmt]) + struct.pack(">I", segment_size) + salt + nonce_prefix
    aead = _segment_aead(fmt, dek, salt, aad)
    dst.write(header)
    total, index = 0, 0
    current = _read_up_to(src, segment_size)
    while True:
        # Read ahead: a segment is the last one only if nothing follows it.
        following = _read_up_to(src, segment_size) if len(current) == segment_size else b""
        last = not following
        if index > _MAX_INDEX:
            raise ValueError("stream too long for this segment size")
        dst.write(aead.encrypt(_nonce(nonce_prefix, index, last), current, header))
        total += len(current)
        if last:
            return total
        current, index = following, index + 1


def decrypt_stream(dek: DataKey, src: IO[bytes], *, aad: bytes) -> Iterator[bytes]:
    """Yield the plaintext of src segment by segment, each one authenticated before it is yielded.

    Raises (while iterating):
        DecryptionError: wrong key or aad, tampered header or segment, reordered,
            truncated or extended stream. Segments yielded before the error were
            authentic, but the stream as a whole is not: discard everything on error.
    """
    require_data_key(dek)
    require_bytes("aad", aad)
    return _decrypt_segments(dek, src, aad)


def decrypt_stream_to(dek: DataKey, src: IO[bytes], dst: IO[bytes], *, aad: bytes) -> int:
    """Decrypt src into dst and return the plaintext size; on DecryptionError discard dst."""
    total = 0
    for segment in decrypt_stream(dek, src, aad=aad):
        dst.write(segment)
        total += len(segment)
    return total


def _decrypt_segments(dek: DataKey, src: IO[bytes], aad: bytes) -> Iterator[bytes]:
    header = _read_up_to(src, HEADER_SIZE)
    segment_size = struct.unpack(">I", header[1:5])[0] if len(header) == HEADER_SIZE else 0
    fmt = header[0] if header else 0
    if fmt not in suites.CIPHER_OF_FORMAT or not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise DecryptionError() from None
    salt, nonce_prefix = header[5 : 5 + SALT_SIZE], header[5 + SALT_SIZE :]
    aead = _segment_aead(fmt, dek, salt, aad)
    sealed_size = segment_size + TAG_SIZE
    index = 0
    current = _read_up_to(src, sealed_size)
    while True:
        following = _read_up_to(src, sealed_size) if len(current) == sealed_size else b""
        last = not following
        plaintext = None
        if index <= _MAX_INDEX:
            plaintext = aead_open(aead, _nonce(nonce_prefix, index, last), current, header)
        if plaintext is None:
            raise DecryptionError() from None
        yield plaintext
        if last:
            return
        current, index = following, index + 1


def _segment_aead(fmt: int, dek: DataKey, salt: bytes, aad: bytes) -> suites.Aead:
    if fmt == suites.FORMAT_SM4_GCM:
        return suites.SM4GCM(suites.derive_sm4_key(dek.material, salt=salt, info=_SM4_INFO + aad))
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=_INFO + aad)
    return AESGCM(hkdf.derive(dek.material))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _read_up_to(src: IO[bytes], size: int) -> bytes:
    """Read size bytes, fewer only at end of stream (file objects may return short reads)."""
    chunks: list[bytes] = []
    missing = size
    while missing:
        chunk = src.read(missing)
        if chunk is None:  # a non-blocking raw stream with no data yet: never guess EOF
            raise BlockingIOError("source stream returned no data (non-blocking)")
        if not chunk:
            break
        chunks.append(chunk)
        missing -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
