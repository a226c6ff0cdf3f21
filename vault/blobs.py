"""The blob store for encrypted attachment bytes: a local directory by default."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from vault.errors import NotFound


class BlobStore:
    """Opaque ciphertext blobs by key, written atomically, in a 0700 directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def new_key(self) -> str:
        """A fresh random blob key (reveals nothing about the record)."""
        return secrets.token_hex(16)

    def _path(self, key: str) -> Path:
        if len(key) != 32 or not all(c in "0123456789abcdef" for c in key):
            raise NotFound("no such blob")
        return self.root / key[:2] / key

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        """Write a blob; it appears under ``key`` only if the block completes."""
        path = self._path(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        """Open a blob for reading."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFound("no such blob") from None

    def delete(self, key: str) -> None:
        """Remove a blob, and any partial write of it left by a killed process, if present."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        path.with_suffix(".part").unlink(missing_ok=True)
