"""Blind index: a keyed hash of a sensitive value for exact-match lookup without plaintext.

index = hex(HMAC-H(key, purpose (UTF-8) || 0x00 || normalize(value) (UTF-8)))

with H = SHA-256 (the default suite) or SM3 (the national suite, ``vault.crypto.suites``);
both give 64 hex characters.

The purpose (e.g. "tax-id", "bank-account") keeps the indexes of different fields apart.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from vault.crypto._util import require_bytes, require_text

MIN_KEY_SIZE = 32
# Hyphen-like characters that people type inside tax ids and account numbers.
_HYPHENS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")


def normalize(value: str) -> str:
    """Return value in NFKC, casefolded, without whitespace, hyphens or invisible format chars."""
    if not isinstance(value, str):
        raise TypeError(f"value must be str, not {type(value).__name__}")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return "".join(
        ch
        for ch in folded
        if not (ch.isspace() or ch in _HYPHENS or unicodedata.category(ch) == "Cf")
    )


def blind_index(key: bytes, value: str, *, purpose: str, hash_name: str = "sha256") -> str:
    """Return the 64-hex-char blind index of value for purpose under key.

    Raises:
        TypeError: key is not bytes, value or purpose not str.
        ValueError: key shorter than 32 bytes, empty purpose or one containing NUL,
            a value that normalizes to nothing (it would match every empty value), or a
            hash_name other than "sha256" and "sm3".
    """
    if hash_name not in ("sha256", "sm3"):
        raise ValueError(f"unknown hash {hash_name!r}")
    if len(require_bytes("key", key)) < MIN_KEY_SIZE:
        raise ValueError(f"key must be at least {MIN_KEY_SIZE} bytes")
    if "\x00" in require_text("purpose", purpose):
        raise ValueError("purpose must not contain NUL")
    canonical = normalize(value)
    if not canonical:
        raise ValueError("value is empty after normalization")
    message = purpose.encode() + b"\x00" + canonical.encode()
    if hash_name == "sm3":
        mac = crypto_hmac.HMAC(key, hashes.SM3())
        mac.update(message)
        return mac.finalize().hex()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
