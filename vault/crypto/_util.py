"""Small helpers shared by the crypto modules (not public API)."""

from __future__ import annotations

from typing import Protocol

from cryptography.exceptions import InvalidTag


class _Opens(Protocol):
    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


def aead_open(aead: _Opens, nonce: bytes, data: bytes, aad: bytes) -> bytes | None:
    """Decrypt and authenticate, returning None instead of raising.

    Callers raise `DecryptionError` outside any `except` block, so the error
    carries neither a cause nor a context that could reveal why it failed.
    """
    try:
        return aead.decrypt(nonce, data, aad)
    except InvalidTag:
        return None


def require_bytes(name: str, value: object) -> bytes:
    """Return value if it is `bytes`, else raise TypeError naming the argument."""
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return value


def require_text(name: str, value: object) -> str:
    """Return value if it is a non-empty `str`, else raise TypeError or ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value
