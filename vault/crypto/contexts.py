"""Where each data key and each ciphertext is bound: the associated data of every place.

A wrapped key unwraps only for the context it was wrapped for, and a ciphertext opens
only under its own associated data, so a key or a ciphertext copied to another record,
client or person opens nothing.
"""

from __future__ import annotations


def client_context(client_id: int) -> bytes:
    """Associated data binding a client's wrapped key to that client."""
    return f"client:{client_id}".encode()


def record_context(record_id: int) -> bytes:
    """Associated data binding a record's wrapped key to that record."""
    return f"record:{record_id}".encode()


def attachment_aad(record_id: int, attachment_id: int) -> bytes:
    """Associated data binding an attachment's stream to its record and slot."""
    return f"attachment:{record_id}:{attachment_id}".encode()


def totp_context(person_id: int) -> bytes:
    """Associated data binding a person's sealed second-factor secret to that person."""
    return f"totp:{person_id}".encode()
