"""Every decryption failure is one DecryptionError that says "decryption failed" and no more."""

import io
import pickle

import pytest

from vault.crypto import (
    CryptoError,
    DataKey,
    DecryptionError,
    KeyringError,
    LocalKeyring,
    WrappedKey,
    decrypt_field,
    decrypt_stream,
    encrypt_field,
    encrypt_stream,
)

PLACE = {"record_id": "rec-1", "field": "content", "version": 1}


def failing_field(tmp_path):
    dek = DataKey.generate()
    ciphertext = encrypt_field(dek, b"x", **PLACE)
    decrypt_field(dek, ciphertext, **{**PLACE, "version": 2})


def failing_unwrap(tmp_path):
    keyring = LocalKeyring.create(tmp_path / "keyring.json")
    keyring.unwrap(keyring.wrap(DataKey.generate(), b"record:1"), b"record:2")


def failing_unknown_key_id(tmp_path):
    LocalKeyring.create(tmp_path / "keyring.json").unwrap(WrappedKey("x", b"y"), b"record:1")


def failing_wrapped_key_parse(tmp_path):
    WrappedKey.from_bytes(b"\x07garbage")


def failing_stream(tmp_path):
    dek, out = DataKey.generate(), io.BytesIO()
    encrypt_stream(dek, io.BytesIO(b"data"), out, aad=b"a")
    list(decrypt_stream(dek, io.BytesIO(out.getvalue()), aad=b"b"))


def failing_stream_header(tmp_path):
    list(decrypt_stream(DataKey.generate(), io.BytesIO(b"\x09"), aad=b"a"))


@pytest.mark.parametrize(
    "fail",
    [
        failing_field,
        failing_unwrap,
        failing_unknown_key_id,
        failing_wrapped_key_parse,
        failing_stream,
        failing_stream_header,
    ],
)
def test_failure_reveals_nothing(tmp_path, fail):
    with pytest.raises(DecryptionError) as info:
        fail(tmp_path)
    error = info.value
    assert type(error) is DecryptionError
    assert str(error) == "decryption failed"
    assert error.args == ("decryption failed",)
    assert error.__cause__ is None
    assert error.__context__ is None
    assert error.__suppress_context__


def test_hierarchy_and_pickling():
    assert issubclass(DecryptionError, CryptoError)
    assert issubclass(KeyringError, CryptoError)
    assert str(pickle.loads(pickle.dumps(DecryptionError()))) == "decryption failed"
