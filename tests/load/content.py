"""What the load run's attachments hold (imported by the world and by locust's mix alike;
nothing of the vault, so locust's process stays light)."""

from __future__ import annotations

# Each reader's record has an attachment of this size (one sealed segment) in the blob
# store under test: its download reads the store from whichever app server answers.
ATTACHMENT_SIZE = 48 * 1024


def attachment_bytes(record_id: int) -> bytes:
    """The attachment of a record: ``ATTACHMENT_SIZE`` bytes the download must give back."""
    line = f"scanned page of record {record_id}\n".encode()
    return (line * (ATTACHMENT_SIZE // len(line) + 1))[:ATTACHMENT_SIZE]
