"""The algorithm suites a vault encrypts and indexes with, and the SM4-GCM cipher.

Two suites, chosen at ``archive-vault init --algorithms`` (setting ``VAULT_ALGORITHMS``):

    standard (default)  AES-256-GCM for record content, fields and attachment segments;
                        HMAC-SHA-256 for blind indexes and the audit log
    sm                  SM4-GCM (GB/T 32907 block cipher, GCM mode, 16-byte tag) for the
                        same; HMAC-SM3 (GB/T 32905) for blind indexes and the audit log

The suite only says how *new* ciphertext is made. Every ciphertext names its cipher in
its first byte (``FORMAT_*`` below, the same byte in the envelope and the stream header),
and is decrypted by what it says, never by the current setting, so one vault can hold both
while it moves from one suite to the other.

SM4 takes a 128-bit key while a data key is 256 bits: the SM4 key of a data key is
HKDF-SM3(ikm=data key, salt=none, info=context, length=16), where the context names
the use (a field, a stream), so no national-suite key is ever derived with SHA-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.crypto._util import require_bytes

AES_256_GCM = "aes-256-gcm"
SM4_GCM = "sm4-gcm"

# The first byte of every field ciphertext and attachment stream: which cipher made it.
FORMAT_AES_256_GCM = 0x01
FORMAT_SM4_GCM = 0x02
FORMATS = {AES_256_GCM: FORMAT_AES_256_GCM, SM4_GCM: FORMAT_SM4_GCM}
CIPHER_OF_FORMAT = {byte: name for name, byte in FORMATS.items()}

SM4_KEY_SIZE = 16
_NONCE_SIZE = 12
_TAG_SIZE = 16


class Aead(Protocol):
    """What the envelope and the stream need of a cipher (AESGCM's interface)."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class SM4GCM:
    """SM4 in GCM mode with the interface of ``AESGCM`` (ciphertext || 16-byte tag).

    ``cryptography`` offers SM4-GCM only through ``Cipher``; this gives it the AEAD shape.
    ``decrypt`` raises ``cryptography.exceptions.InvalidTag`` on any failure.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(require_bytes("key", key)) != SM4_KEY_SIZE:
            raise ValueError(f"an SM4 key is {SM4_KEY_SIZE} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "SM4GCM(<key>)"

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Encrypt and authenticate; returns ciphertext || tag."""
        if len(require_bytes("nonce", nonce)) != _NONCE_SIZE:
            raise ValueError(f"nonce must be {_NONCE_SIZE} bytes")
        enc = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        if associated_data:
            enc.authenticate_additional_data(associated_data)
        sealed = enc.update(data) + enc.finalize()
        return sealed + enc.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Authenticate and decrypt ciphertext || tag; InvalidTag on any failure."""
        if len(nonce) != _NONCE_SIZE or len(data) < _TAG_SIZE:
            raise InvalidTag()
        body, tag = data[:-_TAG_SIZE], data[-_TAG_SIZE:]
        dec = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, tag)).decryptor()
        if associated_data:
            dec.authenticate_additional_data(associated_data)
        return dec.update(body) + dec.finalize()


def derive_sm4_key(material: bytes, *, salt: bytes | None, info: bytes) -> bytes:
    """The 16-byte SM4 key of a 32-byte data key for one use (HKDF-SM3)."""
    return HKDF(algorithm=hashes.SM3(), length=SM4_KEY_SIZE, salt=salt, info=info).derive(material)


def aead_for(cipher: str, material: bytes, *, salt: bytes | None, info: bytes) -> Aead:
    """The AEAD of ``cipher`` under a data key; AES-256 uses the key itself, SM4 derives one."""
    if cipher == AES_256_GCM:
        return AESGCM(material)
    if cipher == SM4_GCM:
        return SM4GCM(derive_sm4_key(material, salt=salt, info=info))
    raise ValueError(f"unknown cipher {cipher!r}")


@dataclass(frozen=True)
class Suite:
    """One algorithm suite: the cipher of new ciphertext and the hash of every MAC."""

    name: str
    cipher: str
    mac_hash: str  # "sha256" | "sm3": blind indexes and, through AuditLog, the audit log

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        """The ``cryptography`` hash of this suite's MACs."""
        return HASHES[self.mac_hash]


HASHES: dict[str, hashes.HashAlgorithm] = {"sha256": hashes.SHA256(), "sm3": hashes.SM3()}
STANDARD = Suite("standard", AES_256_GCM, "sha256")
SM = Suite("sm", SM4_GCM, "sm3")
SUITES = {s.name: s for s in (STANDARD, SM)}


def suite(name: str) -> Suite:
    """The suite called ``name`` ("standard" or "sm"); ValueError for any other name."""
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(f"unknown algorithms {name!r} (standard or sm)") from None
