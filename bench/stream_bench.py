"""Attachments: upload and download throughput against raw AES-GCM, and memory for a large file.

Run ``.venv/bin/python bench/stream_bench.py [--size-mib 256] [--large]``. In one run:

- raw AES-GCM: ``AESGCM.encrypt``/``decrypt`` of 1 MiB segments in memory, the ceiling;
- vault streaming: ``encrypt_stream``/``decrypt_stream`` from and to memory;
- attachment upload: ``records.attach`` (streaming AEAD into the blob store on disk,
  fsync, audit, commit) and download: ``access.consult_attachment`` (decide, audit,
  then decrypt segment by segment), on SQLite, as the vault's services do them.

Prints MB/s for each and upload/download as a share of raw AES-GCM (DESIGN section 8:
>= 40 %). Then, in a fresh process each, the peak resident memory growth of uploading
and of downloading one file of ``--size-mib`` (``--large``: 1 GiB), which must not
depend on the file's size (1 GiB file: <= 32 MiB).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as common
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from vault import access
from vault.archive import records
from vault.caller import Caller
from vault.crypto import SEGMENT_SIZE, DataKey, decrypt_stream, encrypt_stream
from vault.models import Person
from vault.runtime import Vault
from vault.uow import unit_of_work

MIB = 1 << 20


class Source(io.RawIOBase):
    """``size`` bytes of one repeated random block, read without ever holding them all."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = os.urandom(MIB)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left, MIB)
        buffer[:n] = self.block[:n]
        self.left -= n
        return n


class Sink(io.RawIOBase):
    """Counts what is written and keeps none of it."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        self.size += len(data)
        return len(data)


def _rate(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def _raw(size: int) -> tuple[float, float]:
    """MB/s of raw AES-256-GCM over 1 MiB segments, encrypt then decrypt."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    block, nonce, aad = os.urandom(SEGMENT_SIZE), os.urandom(12), b"header"
    segments = size // SEGMENT_SIZE
    start = time.perf_counter()
    for _ in range(segments):
        sealed = aead.encrypt(nonce, block, aad)
    enc = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(segments):
        aead.decrypt(nonce, sealed, aad)
    return _rate(size, enc), _rate(size, time.perf_counter() - start)


def _streaming(size: int) -> tuple[float, float]:
    """MB/s of vault.crypto's streaming AEAD, memory to memory."""
    dek = DataKey.generate()
    start = time.perf_counter()
    encrypt_stream(dek, Source(size), Sink(), aad=b"bench")
    enc = time.perf_counter() - start
    sealed = io.BytesIO()
    encrypt_stream(dek, Source(size), sealed, aad=b"bench")
    sealed.seek(0)
    start = time.perf_counter()
    for _ in decrypt_stream(dek, sealed, aad=b"bench"):
        pass
    return _rate(size, enc), _rate(size, time.perf_counter() - start)


def _disk(tmp: Path, size: int) -> tuple[float, float]:
    """MB/s of the disk under the blob store: write 1 MiB blocks and fsync, then read back."""
    path, block = tmp / "disk.bin", os.urandom(MIB)
    start = time.perf_counter()
    with path.open("wb") as fh:
        for _ in range(size // MIB):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    write = time.perf_counter() - start
    start = time.perf_counter()
    with path.open("rb") as fh:
        while fh.read(MIB):
            pass
    read = time.perf_counter() - start
    path.unlink()
    return _rate(size, write), _rate(size, read)


def _vault(tmp: Path) -> tuple[Vault, int, int, int]:
    """A vault on SQLite with one record; its id, its depositor's and a custodian's."""
    v = common.open_vault(tmp / "var", f"sqlite:///{tmp / 'vault.db'}")
    staff = common.staff(v, 1, 1, tokens_for=0)
    depositor = staff.employees[0].id
    with unit_of_work(v) as db:
        client = records.create_client(
            v, db, Caller.operator(), code="BENCH", name="Bench Ltd", tier="general"
        )
        deposit = records.Deposit(
            client_id=client.id, section="credit", title="Scans", content=b"index of scans"
        )
        record = records.deposit(v, db, _as(db, depositor), deposit)
    return v, record.id, depositor, staff.custodians[0].id


def _as(db: Session, person_id: int) -> Caller:
    person = db.get(Person, person_id)
    assert person is not None
    return Caller(person=person)


def _upload(v: Vault, record_id: int, depositor: int, size: int) -> int:
    with unit_of_work(v) as db:
        att = records.attach(
            v, db, _as(db, depositor), record_id, filename="scan.bin",
            content_type="application/octet-stream", stream=Source(size),
        )  # fmt: skip
        assert att.size == size
        return att.id


def _download(v: Vault, record_id: int, attachment_id: int, custodian: int) -> int:
    with unit_of_work(v) as db:
        got = access.consult_attachment(
            v, db, _as(db, custodian), record_id, attachment_id, "bench: reading the scans"
        )
        return sum(len(chunk) for chunk in got.chunks)


def _attachment(tmp: Path, size: int) -> tuple[float, float]:
    """MB/s of an attachment upload and download through the vault's services."""
    v, record_id, depositor, custodian = _vault(tmp)
    try:
        start = time.perf_counter()
        attachment_id = _upload(v, record_id, depositor, size)
        up = time.perf_counter() - start
        start = time.perf_counter()
        assert _download(v, record_id, attachment_id, custodian) == size
        down = time.perf_counter() - start
    finally:
        v.close()
    return _rate(size, up), _rate(size, down)


def _peak_rss_growth(size: int, direction: str) -> float:
    """MiB of peak RSS added by one upload or download (run in a fresh process)."""
    with tempfile.TemporaryDirectory() as tmp:
        v, record_id, depositor, custodian = _vault(Path(tmp))
        try:
            if direction == "upload":
                _upload(v, record_id, depositor, MIB)  # warm: first-use allocations
                before = _reset_peak()
                _upload(v, record_id, depositor, size)
            else:
                attachment_id = _upload(v, record_id, depositor, size)
                _download(v, record_id, _upload(v, record_id, depositor, MIB), custodian)
                before = _reset_peak()
                assert _download(v, record_id, attachment_id, custodian) == size
            return (_peak_kib() - before) / 1024
        finally:
            v.close()


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no VmHWM in /proc/self/status")


def _reset_peak() -> int:
    """Reset the peak RSS to the current RSS (Linux), and return it in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _peak_kib()


def main() -> None:
    """Measure throughput here, memory in child processes, and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--large", action="store_true", help="1 GiB for the memory check")
    parser.add_argument("--child", choices=("upload", "download"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    common.quiet()
    size = args.size_mib * MIB
    big = (1024 if args.large else args.size_mib) * MIB
    if args.child:
        print(f"{_peak_rss_growth(big, args.child):.1f}")
        return
    raw_enc, raw_dec = _raw(size)
    st_enc, st_dec = _streaming(size)
    with tempfile.TemporaryDirectory() as tmp:
        disk_write, disk_read = _disk(Path(tmp), size)
        up, down = _attachment(Path(tmp), size)
    growth = {}
    for direction in ("upload", "download"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                direction,
                "--size-mib",
                str(args.size_mib),
                *(["--large"] if args.large else []),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        growth[direction] = float(out.strip().splitlines()[-1])
    print(f"stream bench: {args.size_mib} MiB, segments of {SEGMENT_SIZE // MIB} MiB")
    print(f"  raw AES-256-GCM            encrypt {raw_enc:8.0f} MB/s   decrypt {raw_dec:8.0f} MB/s")
    print(
        f"  vault streaming AEAD       encrypt {st_enc:8.0f} MB/s   decrypt {st_dec:8.0f} MB/s  "
        f"({st_enc / raw_enc:.0%} / {st_dec / raw_dec:.0%} of raw)"
    )
    print(
        f"  disk (write+fsync / read)  write   {disk_write:8.0f} MB/s   "
        f"read     {disk_read:8.0f} MB/s"
    )
    print(
        f"  attachment (SQLite, disk)  upload  {up:8.0f} MB/s   download {down:8.0f} MB/s  "
        f"({up / raw_enc:.0%} / {down / raw_dec:.0%} of raw AES-GCM, target >= 40 %; "
        f"{up / disk_write:.0%} / {down / disk_read:.0%} of the disk)"
    )
    print(
        f"  peak RSS growth, {big // MIB} MiB file: upload {growth['upload']:.1f} MiB, "
        f"download {growth['download']:.1f} MiB  (target <= 32 MiB for 1 GiB)"
    )


if __name__ == "__main__":
    main()
