"""Blob stores for encrypted attachment bytes: a local folder, PostgreSQL rows, or S3.

Every store holds only ciphertext (the streaming format of ``vault.crypto.streaming``,
decrypted by ``vault.access`` alone) under a random key, and keeps the same promises:
a blob appears under its key only once its writer's block completes (a half-written
blob is never readable, so ``blobs migrate`` can be killed and run again), reading is a
stream (memory stays flat for any size), and a key that is not 32 hex digits is not found.

- ``local``: a 0700 folder on this machine (``VAULT_BLOB_DIR``): the SQLite default.
- ``postgresql``: rows of ``blob_segments`` in the vault's own database, one row per
  ~segment, written in one transaction and read one row at a time: the default on
  PostgreSQL, so that app processes share nothing but the database and the key provider.
- ``s3``: an S3-compatible bucket (``VAULT_S3_*``; credentials the way boto3 finds them),
  written with a multipart upload that only appears when completed.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from sqlalchemy import Engine, delete, exists, insert, select

from vault.crypto.providers import TAG_SIZE
from vault.crypto.streaming import SEGMENT_SIZE
from vault.errors import InvalidInput, NotFound
from vault.models import Attachment, BlobSegment

STORES = ("local", "postgresql", "s3")
ROW_SIZE = SEGMENT_SIZE + TAG_SIZE  # one sealed segment a row (the header rides on the first)
PART_SIZE = 8 << 20  # S3 multipart parts (at least 5 MiB but the last)


def new_key() -> str:
    """A fresh random blob key (reveals nothing about the record)."""
    return secrets.token_hex(16)


def _checked(key: str) -> str:
    if len(key) != 32 or not all(c in "0123456789abcdef" for c in key):
        raise NotFound("no such blob")
    return key


class BlobStore(Protocol):
    """What the vault asks of a blob store."""

    name: str

    def new_key(self) -> str: ...
    def writer(self, key: str) -> AbstractContextManager[IO[bytes]]: ...
    def open(self, key: str) -> IO[bytes]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


class LocalBlobStore:
    """Opaque ciphertext blobs by key, written atomically, in a 0700 directory."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def new_key(self) -> str:
        return new_key()

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)[:2] / key

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        """Write a blob; it appears under ``key`` only if the block completes."""
        path = self._path(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove a blob, and any partial write of it left by a killed process, if present."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        path.with_suffix(".part").unlink(missing_ok=True)


class _RowWriter(io.RawIOBase):
    """Buffers one row's worth of ciphertext, then inserts it (flat memory)."""

    def __init__(self, conn: Any, key: str) -> None:
        self._conn, self._key, self._seq = conn, key, 0
        self._buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._buf += view
        while len(self._buf) >= ROW_SIZE:
            self._insert(bytes(self._buf[:ROW_SIZE]))
            del self._buf[:ROW_SIZE]
        return len(view)

    def finish(self) -> None:
        if self._buf or not self._seq:
            self._insert(bytes(self._buf))
            self._buf.clear()

    def _insert(self, chunk: bytes) -> None:
        self._conn.execute(
            insert(BlobSegment).values(blob_key=self._key, seq=self._seq, data=chunk)
        )
        self._seq += 1


class _RowReader(io.RawIOBase):
    """Reads a blob's rows in order, one short query per row, holding one row at a time
    (no connection or transaction stays open while a response streams)."""

    def __init__(self, engine: Engine, key: str, first: bytes) -> None:
        self._engine, self._key = engine, key
        self._seq, self._row, self._pos, self._done = 0, first, 0, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._pos >= len(self._row) and not self._done:
            self._next_row()
        n = min(len(view), len(self._row) - self._pos)
        view[:n] = self._row[self._pos : self._pos + n]
        self._pos += n
        return n

    def _next_row(self) -> None:
        self._seq += 1
        with self._engine.connect() as conn:
            row = conn.scalar(
                select(BlobSegment.data).where(
                    BlobSegment.blob_key == self._key, BlobSegment.seq == self._seq
                )
            )
        if row is None:
            self._done, self._row, self._pos = True, b"", 0
        else:
            self._row, self._pos = bytes(row), 0


class PostgresBlobStore:
    """Ciphertext as rows of ``blob_segments`` in the vault's database."""

    name = "postgresql"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def new_key(self) -> str:
        return new_key()

    @contextmanager
    def writer(self, key: str) -> Iterator[IO[bytes]]:
        """Rows in a transaction of their own, committed when the block completes."""
        _checked(key)
        with self.engine.begin() as conn:
            conn.execute(delete(BlobSegment).where(BlobSegment.blob_key == key))
            out = _RowWriter(conn, key)
            buffered = io.BufferedWriter(out, buffer_size=1 << 16)
            yield buffered
            buffered.flush()
            out.finish()

    def open(self, key: str) -> IO[bytes]:
        _checked(key)
        with self.engine.connect() as conn:
            first = conn.scalar(
                select(BlobSegment.data).where(BlobSegment.blob_key == key, BlobSegment.seq == 0)
            )
        if first is None:
            raise NotFound("no such blob")
        return io.BufferedReader(_RowReader(self.engine, key, bytes(first)), 1 << 16)

    def exists(self, key: str) -> bool:
        _checked(key)
        with self.engine.connect() as conn:
            return bool(
                conn.scalar(
                    select(exists().where(BlobSegment.blob_key == key, BlobSegment.seq == 0))
                )
            )

    def delete(self, key: str) -> None:
        _checked(key)
        with self.engine.begin() as conn:
            conn.execute(delete(BlobSegment).where(BlobSegment.blob_key == key))


class _PartWriter(io.RawIOBase):
    """An S3 multipart upload, a part at a time; a small blob is one PUT at the end."""

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._s3, self._bucket, self._key = store.client, store.bucket, store.object_key(key)
        self._buf = bytearray()
        self._upload: str | None = None
        self._parts: list[dict[str, Any]] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._buf += view
        while len(self._buf) >= PART_SIZE:
            self._part(bytes(self._buf[:PART_SIZE]))
            del self._buf[:PART_SIZE]
        return len(view)

    def _part(self, chunk: bytes) -> None:
        if self._upload is None:
            self._upload = self._s3.create_multipart_upload(Bucket=self._bucket, Key=self._key)[
                "UploadId"
            ]
        number = len(self._parts) + 1
        got = self._s3.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload,
            PartNumber=number,
            Body=chunk,
        )
        self._parts.append({"PartNumber": number, "ETag": got["ETag"]})

    def finish(self) -> None:
        if self._upload is None:
            self._s3.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buf))
            return
        if self._buf:
            self._part(bytes(self._buf))
        self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload,
            MultipartUpload={"Parts": self._parts},
        )

    def abort(self) -> None:
        if self._upload is not None:
            self._s3.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload
            )


class S3BlobStore:
    """Ciphertext as objects of an S3-compatible bucket."""

    name = "s3"

    def __init__(
        self, bucket: str, *, endpoint_url: str = "", region: str = "", prefix: str = ""
    ) -> None:
        import boto3

        if not bucket:
            raise InvalidInput(
                "the s3 blob store needs VAULT_S3_BUCKET", code="blob_store_settings"
            )
        self.bucket, self.prefix = bucket, prefix
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None
        )

    def object_key(self, key: str) -> str:
        return f"{self.prefix}{_checked(key)[:2]}/{key}"

    def new_key(self) -> str:
        return new_key()

    @contextmanager
    def writer(self, key: str) -> Iterator[IO[bytes]]:
        out = _PartWriter(self, key)
        buffered = io.BufferedWriter(out, buffer_size=1 << 16)
        try:
            yield buffered
            buffered.flush()
            out.finish()
        except BaseException:
            out.abort()
            raise

    def open(self, key: str) -> IO[bytes]:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except self.client.exceptions.NoSuchKey:
            raise NotFound("no such blob") from None
        return got["Body"]  # botocore's StreamingBody

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))


class WithLocalFallback:
    """A shared store that still reads the blobs a deployment kept in its local folder
    before it moved to the shared one (until ``blobs migrate`` has copied them over)."""

    def __init__(self, primary: BlobStore, local: LocalBlobStore) -> None:
        self.primary, self.local, self.name = primary, local, primary.name

    def new_key(self) -> str:
        return new_key()

    def writer(self, key: str) -> AbstractContextManager[IO[bytes]]:
        return self.primary.writer(key)

    def open(self, key: str) -> IO[bytes]:
        try:
            return self.primary.open(key)
        except NotFound:
            return self.local.open(key)

    def exists(self, key: str) -> bool:
        return self.primary.exists(key)

    def delete(self, key: str) -> None:
        self.primary.delete(key)
        self.local.delete(key)


def open_store(config: Any, engine: Engine, name: str | None = None) -> BlobStore:
    """The blob store ``name`` (default: the configured one) built from the settings.

    The configured shared store also reads the local folder when one holds blobs (a
    deployment that ran on the local folder before): run ``blobs migrate`` to move them.
    """
    if name is None:
        store = open_store(config, engine, config.blob_backend)
        local = Path(config.blobs)
        if store.name != "local" and local.is_dir() and any(local.iterdir()):
            return WithLocalFallback(store, LocalBlobStore(local))
        return store
    if name == "local":
        return LocalBlobStore(config.blobs)
    if name == "postgresql":
        if engine.dialect.name != "postgresql":
            raise InvalidInput(
                "the postgresql blob store needs a PostgreSQL database", code="blob_store_settings"
            )
        return PostgresBlobStore(engine)
    if name == "s3":
        return S3BlobStore(
            config.s3_bucket,
            endpoint_url=config.s3_endpoint_url,
            region=config.s3_region,
            prefix=config.s3_prefix,
        )
    raise InvalidInput(
        f"unknown blob store {name!r} (local, postgresql or s3)", code="blob_store_settings"
    )


def copy_blob(source: BlobStore, target: BlobStore, key: str) -> int:
    """Copy one blob's ciphertext as it is (nothing is decrypted); its size in bytes."""
    size = 0
    with source.open(key) as src, target.writer(key) as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
            size += len(chunk)
    return size


def attachment_keys(
    engine: Engine, *, after: int = 0, batch: int = 500
) -> Iterator[tuple[int, str]]:
    """(attachment id, blob key) of every attachment, in id order, a batch at a time."""
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Attachment.id, Attachment.blob_key)
                .where(Attachment.id > after)
                .order_by(Attachment.id)
                .limit(batch)
            ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]
