"""Streaming AEAD for attachments: round trips, reorder/truncate/extend detection, flat memory."""

import hashlib
import io
import os
import tracemalloc

import pytest

from vault.crypto import DataKey, DecryptionError, decrypt_stream, decrypt_stream_to, encrypt_stream
from vault.crypto.streaming import HEADER_SIZE, _encrypt_stream

AAD = b"attachment:7"
SEG = 16
SEALED = SEG + 16

KAT_KEY = DataKey.from_bytes(bytes(range(32)))
KAT_SALT = bytes(range(0x40, 0x60))
KAT_PREFIX = bytes(range(0xE0, 0xE7))
KAT_PLAINTEXT = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"  # 16 + 16 + 14 bytes
KAT_STREAM = bytes.fromhex(
    "0100000010404142434445464748494a4b4c4d4e4f505152535455565758595a"
    "5b5c5d5e5fe0e1e2e3e4e5e63250a02ba705bf9d69b1c5a69c9c9100926299dc"
    "9bda10a5327636a4817af4c7d6e46fc484d5ca690a6f3c44f6c48cbee463ce8f"
    "4917b9d12e95f132b0ebd08f2fe1dd43b27b4ba4fa38517a4ac77fa9a2e26ccb"
    "6615e3b810aaa1aa1592"
)


def encrypt(dek, plaintext, aad=AAD, segment_size=SEG):
    out = io.BytesIO()
    assert encrypt_stream(dek, io.BytesIO(plaintext), out, aad=aad, segment_size=segment_size) == (
        len(plaintext)
    )
    return out.getvalue()


def decrypt(dek, stream, aad=AAD):
    return b"".join(decrypt_stream(dek, io.BytesIO(stream), aad=aad))


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG])
def test_round_trip(size):
    dek = DataKey.generate()
    plaintext = os.urandom(size)
    stream = encrypt(dek, plaintext)
    segments = max(1, -(-size // SEG))
    assert len(stream) == HEADER_SIZE + size + 16 * segments
    assert decrypt(dek, stream) == plaintext
    out = io.BytesIO()
    assert decrypt_stream_to(dek, io.BytesIO(stream), out, aad=AAD) == size
    assert out.getvalue() == plaintext


def test_yields_one_plaintext_segment_at_a_time():
    dek = DataKey.generate()
    segments = list(decrypt_stream(dek, io.BytesIO(encrypt(dek, bytes(2 * SEG + 3))), aad=AAD))
    assert [len(s) for s in segments] == [SEG, SEG, 3]


def test_default_segment_size_round_trip():
    dek = DataKey.generate()
    plaintext = os.urandom((1 << 20) + 5)
    stream = encrypt(dek, plaintext, segment_size=1 << 20)
    assert int.from_bytes(stream[1:5], "big") == 1 << 20
    assert decrypt(dek, stream) == plaintext


class Trickle(io.RawIOBase):
    """A source that returns at most 5 bytes per read, like a slow pipe."""

    def __init__(self, data):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, size=-1):
        return self._data.read(min(size, 5) if size >= 0 else 5)


def test_short_reads_are_not_taken_for_the_end():
    dek = DataKey.generate()
    plaintext = os.urandom(3 * SEG + 7)
    out = io.BytesIO()
    encrypt_stream(dek, Trickle(plaintext), out, aad=AAD, segment_size=SEG)
    assert out.getvalue() == encrypt_with_same_randomness(dek, plaintext, out.getvalue())
    assert b"".join(decrypt_stream(dek, Trickle(out.getvalue()), aad=AAD)) == plaintext


def encrypt_with_same_randomness(dek, plaintext, stream):
    out = io.BytesIO()
    salt, prefix = stream[5:37], stream[37:44]
    _encrypt_stream(
        dek, io.BytesIO(plaintext), out, aad=AAD, segment_size=SEG, salt=salt, nonce_prefix=prefix
    )
    return out.getvalue()


def test_known_answer_encrypt():
    out = io.BytesIO()
    _encrypt_stream(
        KAT_KEY,
        io.BytesIO(KAT_PLAINTEXT),
        out,
        aad=AAD,
        segment_size=SEG,
        salt=KAT_SALT,
        nonce_prefix=KAT_PREFIX,
    )
    assert out.getvalue().hex() == KAT_STREAM.hex()


def test_known_answer_decrypt():
    assert decrypt(KAT_KEY, KAT_STREAM) == KAT_PLAINTEXT


def test_encryptions_are_randomized():
    dek = DataKey.generate()
    assert encrypt(dek, b"same") != encrypt(dek, b"same")


def split(stream):
    body = stream[HEADER_SIZE:]
    return stream[:HEADER_SIZE], [body[i : i + SEALED] for i in range(0, len(body), SEALED)]


@pytest.fixture
def dek():
    return DataKey.generate()


@pytest.fixture
def three_segments(dek):
    return encrypt(dek, os.urandom(3 * SEG))


def test_dropping_last_segment_fails(dek, three_segments):
    header, segments = split(three_segments)
    with pytest.raises(DecryptionError):
        decrypt(dek, header + b"".join(segments[:-1]))


def test_any_truncation_fails(dek):
    stream = encrypt(dek, os.urandom(2 * SEG + 5))
    for length in range(len(stream)):
        with pytest.raises(DecryptionError):
            decrypt(dek, stream[:length])


def test_empty_stream_without_its_segment_fails(dek):
    with pytest.raises(DecryptionError):
        decrypt(dek, encrypt(dek, b"")[:HEADER_SIZE])


def test_swapping_segments_fails(dek, three_segments):
    header, (first, second, third) = split(three_segments)
    with pytest.raises(DecryptionError):
        decrypt(dek, header + second + first + third)


def test_segment_from_another_stream_fails(dek, three_segments):
    header, segments = split(three_segments)
    _, others = split(encrypt(dek, os.urandom(3 * SEG)))
    with pytest.raises(DecryptionError):
        decrypt(dek, header + segments[0] + others[1] + segments[2])


@pytest.mark.parametrize(
    "extra", [b"\x00", os.urandom(SEALED), None], ids=["one_byte", "random_segment", "a_copy"]
)
def test_appended_data_fails(dek, three_segments, extra):
    _, segments = split(three_segments)
    extra = segments[-1] if extra is None else extra
    with pytest.raises(DecryptionError):
        decrypt(dek, three_segments + extra)


def test_any_single_byte_tamper_fails(dek):
    stream = encrypt(dek, os.urandom(2 * SEG + 5))
    for position in range(len(stream)):
        tampered = bytearray(stream)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            decrypt(dek, bytes(tampered))


def test_header_segment_size_rewrite_fails(dek, three_segments):
    tampered = three_segments[:1] + (2 * SEG).to_bytes(4, "big") + three_segments[5:]
    with pytest.raises(DecryptionError):
        decrypt(dek, tampered)
    absurd = three_segments[:1] + (2**32 - 1).to_bytes(4, "big") + three_segments[5:]
    with pytest.raises(DecryptionError):
        decrypt(dek, absurd)


def test_wrong_aad_or_key_fails(dek, three_segments):
    with pytest.raises(DecryptionError):
        decrypt(dek, three_segments, aad=b"attachment:8")
    with pytest.raises(DecryptionError):
        decrypt(DataKey.generate(), three_segments)


def test_arguments_are_checked(dek):
    with pytest.raises(TypeError):
        encrypt_stream(dek, io.BytesIO(b""), io.BytesIO(), aad="attachment:7")
    with pytest.raises(TypeError):
        encrypt_stream(bytes(32), io.BytesIO(b""), io.BytesIO(), aad=AAD)
    for bad in (0, -1, (1 << 24) + 1):
        with pytest.raises(ValueError):
            encrypt_stream(dek, io.BytesIO(b""), io.BytesIO(), aad=AAD, segment_size=bad)
    with pytest.raises(TypeError):
        decrypt_stream(dek, io.BytesIO(b""), aad=None)


class GeneratedSource:
    """A file-like source producing `size` random bytes on the fly, hashing what it hands out."""

    def __init__(self, size):
        self.remaining = size
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        chunk = os.urandom(min(size, self.remaining))
        self.remaining -= len(chunk)
        self.digest.update(chunk)
        return chunk


class HashingSink:
    def __init__(self):
        self.digest = hashlib.sha256()

    def write(self, data):
        self.digest.update(data)
        return len(data)


def test_memory_stays_flat_for_64_mib(tmp_path):
    size = 64 << 20
    dek = DataKey.generate()
    source, sink = GeneratedSource(size), HashingSink()
    tracemalloc.start()
    try:
        with open(tmp_path / "blob", "wb") as dst:
            assert encrypt_stream(dek, source, dst, aad=AAD) == size
        with open(tmp_path / "blob", "rb") as src:
            assert decrypt_stream_to(dek, src, sink, aad=AAD) == size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.digest.digest() == source.digest.digest()
    assert peak < 8 << 20, f"peak {peak / (1 << 20):.1f} MiB"
