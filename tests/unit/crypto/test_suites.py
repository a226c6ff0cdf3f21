"""The national suite: published known answers for SM4 and SM3, and ciphertexts that name
their cipher (fields and streams of both suites open side by side, by what they say)."""

from __future__ import annotations

import io

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vault.crypto import DataKey, DecryptionError, blind_index, suites
from vault.crypto.envelope import cipher_of, decrypt_field, encrypt_field
from vault.crypto.streaming import decrypt_stream_to, encrypt_stream

# GB/T 32907-2016 Appendix A, example 1: key = plaintext.
SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_CIPHERTEXT = bytes.fromhex("681edf34d206965e86b3e94f536e4246")
# GB/T 32907-2016 Appendix A, example 2: the same block encrypted 1,000,000 times.
SM4_MILLION = bytes.fromhex("595298c7c6fd271f0402f804c33d3f66")

# RFC 8998 Appendix A.1: SM4-GCM.
GCM_IV = bytes.fromhex("00001234567800000000abcd")
GCM_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_PLAIN = bytes.fromhex(
    "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
    "eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa"
)
GCM_CIPHER = bytes.fromhex(
    "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
    "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
)
GCM_TAG = bytes.fromhex("83de3541e4c2b58177e065a9bf7b62ec")

# GB/T 32905-2016 Appendix A: SM3("abc") and SM3 of "abcd" repeated 16 times.
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM3_ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm4_block_known_answers() -> None:
    enc = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    assert enc.update(SM4_KEY) + enc.finalize() == SM4_CIPHERTEXT
    block = SM4_KEY
    enc = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    for _ in range(1_000_000):
        block = enc.update(block)
    assert block == SM4_MILLION


def test_sm4_gcm_known_answer_and_tamper() -> None:
    aead = suites.SM4GCM(SM4_KEY)
    assert aead.encrypt(GCM_IV, GCM_PLAIN, GCM_AAD) == GCM_CIPHER + GCM_TAG
    assert aead.decrypt(GCM_IV, GCM_CIPHER + GCM_TAG, GCM_AAD) == GCM_PLAIN
    flipped = bytearray(GCM_CIPHER + GCM_TAG)
    flipped[5] ^= 1
    for nonce, data, aad in (
        (GCM_IV, bytes(flipped), GCM_AAD),
        (GCM_IV, GCM_CIPHER + GCM_TAG, b"other"),
        (bytes(12), GCM_CIPHER + GCM_TAG, GCM_AAD),
        (GCM_IV, GCM_TAG[:8], GCM_AAD),
    ):
        with pytest.raises(InvalidTag):
            aead.decrypt(nonce, data, aad)
    assert "0123" not in repr(aead)


def test_sm3_known_answers() -> None:
    for message, expected in ((b"abc", SM3_ABC), (b"abcd" * 16, SM3_ABCD16)):
        digest = hashes.Hash(hashes.SM3())
        digest.update(message)
        assert digest.finalize().hex() == expected


def test_fields_name_their_cipher_and_open_by_it() -> None:
    dek = DataKey.generate()
    place = {"record_id": "7", "field": "content", "version": 1}
    aes = encrypt_field(dek, b"secret", **place)
    sm4 = encrypt_field(dek, b"secret", cipher=suites.SM4_GCM, **place)
    assert (aes[0], sm4[0]) == (0x01, 0x02)
    assert (cipher_of(aes), cipher_of(sm4)) == (suites.AES_256_GCM, suites.SM4_GCM)
    assert decrypt_field(dek, aes, **place) == decrypt_field(dek, sm4, **place) == b"secret"
    # The format byte is bound into the AAD: relabelling a ciphertext opens nothing.
    for forged in (bytes([0x02]) + aes[1:], bytes([0x01]) + sm4[1:], bytes([0x03]) + sm4[1:]):
        with pytest.raises(DecryptionError):
            decrypt_field(dek, forged, **place)
    with pytest.raises(DecryptionError):
        decrypt_field(dek, sm4, record_id="8", field="content", version=1)
    with pytest.raises(ValueError, match="unknown cipher"):
        encrypt_field(dek, b"x", cipher="des", **place)


def test_streams_name_their_cipher_and_open_by_it() -> None:
    dek = DataKey.generate()
    data = bytes(range(256)) * 50
    out = {}
    for cipher in (suites.AES_256_GCM, suites.SM4_GCM):
        sealed = io.BytesIO()
        encrypt_stream(
            dek, io.BytesIO(data), sealed, aad=b"attachment:1:2", segment_size=1000, cipher=cipher
        )
        out[cipher] = sealed.getvalue()
        back = io.BytesIO()
        assert decrypt_stream_to(dek, io.BytesIO(out[cipher]), back, aad=b"attachment:1:2") > 0
        assert back.getvalue() == data
    assert out[suites.SM4_GCM][0] == 0x02 and out[suites.AES_256_GCM][0] == 0x01
    relabelled = bytes([0x01]) + out[suites.SM4_GCM][1:]
    tampered = bytearray(out[suites.SM4_GCM])
    tampered[-3] ^= 1
    for bad in (relabelled, bytes(tampered), out[suites.SM4_GCM][:-1000]):
        with pytest.raises(DecryptionError):
            decrypt_stream_to(dek, io.BytesIO(bad), io.BytesIO(), aad=b"attachment:1:2")


def test_blind_index_under_sm3_differs_and_is_hmac_sm3() -> None:
    from cryptography.hazmat.primitives import hmac

    key = bytes(range(32))
    sm3 = blind_index(key, "91 3100-00", purpose="client.tax_id", hash_name="sm3")
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(b"client.tax_id\x0091310000")
    assert sm3 == mac.finalize().hex() and len(sm3) == 64
    assert sm3 != blind_index(key, "91310000", purpose="client.tax_id")
    with pytest.raises(ValueError, match="unknown hash"):
        blind_index(key, "x", purpose="p", hash_name="md5")


def test_suites() -> None:
    assert suites.suite("sm") == suites.SM and suites.SM.cipher == suites.SM4_GCM
    assert suites.STANDARD.mac_hash == "sha256" and suites.SM.mac_hash == "sm3"
    with pytest.raises(ValueError, match="standard or sm"):
        suites.suite("gost")


def test_every_encryption_outside_crypto_follows_the_vault_suite() -> None:
    """A service that encrypts names ``cipher=v.suite.cipher``: none falls back to AES."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "vault"
    calls = []
    for path in root.rglob("*.py"):
        if "crypto" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                "encrypt_field",
                "encrypt_stream",
            ):
                cipher = next((k.value for k in node.keywords if k.arg == "cipher"), None)
                calls.append((path.name, node.lineno, ast.unparse(cipher) if cipher else None))
    assert len(calls) >= 5
    assert [c for c in calls if c[2] != "v.suite.cipher"] == []
