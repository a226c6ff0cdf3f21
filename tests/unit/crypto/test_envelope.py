"""Record field encryption: round trips, binding to place, tamper detection, pinned vectors."""

import pytest

from vault.crypto import DataKey, DecryptionError, aad_for, decrypt_field, encrypt_field
from vault.crypto.envelope import _encrypt_field_with_nonce

PLACE = {"record_id": "rec-42", "field": "tax_id", "version": 3}
KAT_KEY = DataKey.from_bytes(bytes(range(32)))
KAT_NONCE = bytes(range(0xA0, 0xAC))
KAT_PLAINTEXT = b"client tax id 12-345"
KAT_CIPHERTEXT = bytes.fromhex(
    "01a0a1a2a3a4a5a6a7a8a9aaab857415482bbf22cb031da7ba635af1ec5d9f6d"
    "251594fa3ec1334b25fdb32fe9f352eab8"
)


def test_round_trip():
    dek = DataKey.generate()
    for plaintext in (b"", b"x", b"\x00" * 4096):
        ciphertext = encrypt_field(dek, plaintext, **PLACE)
        assert decrypt_field(dek, ciphertext, **PLACE) == plaintext


def test_layout_is_version_nonce_ciphertext_tag():
    ciphertext = encrypt_field(DataKey.generate(), b"abc", **PLACE)
    assert ciphertext[0] == 0x01
    assert len(ciphertext) == 1 + 12 + 3 + 16


def test_known_answer_encrypt():
    ciphertext = _encrypt_field_with_nonce(KAT_KEY, KAT_PLAINTEXT, KAT_NONCE, **PLACE)
    assert ciphertext.hex() == KAT_CIPHERTEXT.hex()


def test_known_answer_decrypt():
    assert decrypt_field(KAT_KEY, KAT_CIPHERTEXT, **PLACE) == KAT_PLAINTEXT


def test_aad_layout_is_pinned():
    expected = "01" + "00000006" + b"rec-42".hex() + "00000006" + b"tax_id".hex() + "0" * 15 + "3"
    assert aad_for("rec-42", "tax_id", 3).hex() == expected


def test_aad_is_unambiguous():
    assert aad_for("a", "bc", 1) != aad_for("ab", "c", 1)
    assert aad_for("1", "x", 23) != aad_for("12", "x", 3)


@pytest.mark.parametrize(
    "moved",
    [
        {"record_id": "rec-43"},
        {"field": "bank_account"},
        {"version": 4},
        {"record_id": "rec-4", "field": "2tax_id"},
    ],
)
def test_ciphertext_moved_to_another_place_fails(moved):
    dek = DataKey.generate()
    ciphertext = encrypt_field(dek, b"secret", **PLACE)
    with pytest.raises(DecryptionError):
        decrypt_field(dek, ciphertext, **{**PLACE, **moved})


def test_another_records_ciphertext_fails():
    dek = DataKey.generate()
    other = encrypt_field(dek, b"other record", **{**PLACE, "record_id": "rec-7"})
    with pytest.raises(DecryptionError):
        decrypt_field(dek, other, **PLACE)


def test_wrong_key_fails():
    ciphertext = encrypt_field(DataKey.generate(), b"secret", **PLACE)
    with pytest.raises(DecryptionError):
        decrypt_field(DataKey.generate(), ciphertext, **PLACE)


def test_any_single_byte_tamper_fails():
    dek = DataKey.generate()
    ciphertext = encrypt_field(dek, b"sensitive", **PLACE)
    for position in range(len(ciphertext)):
        tampered = bytearray(ciphertext)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            decrypt_field(dek, bytes(tampered), **PLACE)


def test_truncation_and_extension_fail():
    dek = DataKey.generate()
    ciphertext = encrypt_field(dek, b"sensitive", **PLACE)
    for length in range(len(ciphertext)):
        with pytest.raises(DecryptionError):
            decrypt_field(dek, ciphertext[:length], **PLACE)
    with pytest.raises(DecryptionError):
        decrypt_field(dek, ciphertext + b"\x00", **PLACE)


def test_nonce_is_fresh():
    dek = DataKey.generate()
    first = encrypt_field(dek, b"same", **PLACE)
    second = encrypt_field(dek, b"same", **PLACE)
    assert first != second
    assert first[1:13] != second[1:13]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"plaintext": "text"}, TypeError),
        ({"plaintext": bytearray(b"x")}, TypeError),
        ({"dek": bytes(32)}, TypeError),
        ({"record_id": 42}, TypeError),
        ({"record_id": ""}, ValueError),
        ({"field": ""}, ValueError),
        ({"version": True}, TypeError),
        ({"version": "3"}, TypeError),
        ({"version": -1}, ValueError),
        ({"version": 2**64}, ValueError),
    ],
)
def test_encrypt_checks_arguments(args, error):
    call = {"dek": DataKey.generate(), "plaintext": b"x", **PLACE, **args}
    with pytest.raises(error):
        encrypt_field(call.pop("dek"), call.pop("plaintext"), **call)


def test_decrypt_checks_argument_types():
    dek = DataKey.generate()
    with pytest.raises(TypeError):
        decrypt_field(dek, "01ab", **PLACE)
    with pytest.raises(TypeError):
        decrypt_field(bytes(32), KAT_CIPHERTEXT, **PLACE)
