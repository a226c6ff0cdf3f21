"""DataKey and WrappedKey: construction checks, no printing or pickling, serialization."""

import base64
import copy
import pickle

import pytest

from vault.crypto import DataKey, DecryptionError, WrappedKey


def test_generate_gives_distinct_32_byte_keys():
    first, second = DataKey.generate(), DataKey.generate()
    assert len(first.material) == 32
    assert first.raw() == first.material
    assert first != second


def test_from_bytes_round_trip_and_equality():
    material = bytes(range(32))
    assert DataKey.from_bytes(material).material == material
    assert DataKey.from_bytes(material) == DataKey.from_bytes(material)


@pytest.mark.parametrize(
    ("material", "error"),
    [
        (bytes(31), ValueError),
        (bytes(33), ValueError),
        (b"", ValueError),
        (bytearray(32), TypeError),
        ("0" * 32, TypeError),
        (None, TypeError),
    ],
)
def test_from_bytes_checks_type_and_length(material, error):
    with pytest.raises(error):
        DataKey.from_bytes(material)


def test_repr_and_str_never_show_the_key():
    dek = DataKey.generate()
    shown = repr(dek) + str(dek) + f"{dek}" + repr([dek])
    assert dek.material.hex() not in shown.lower()
    assert base64.b64encode(dek.material).decode() not in shown
    assert repr(dek.material) not in shown


def test_data_key_cannot_be_pickled_or_copied():
    dek = DataKey.generate()
    with pytest.raises(TypeError):
        pickle.dumps(dek)
    with pytest.raises(TypeError):
        copy.deepcopy(dek)


def test_data_key_has_no_instance_dict():
    assert not hasattr(DataKey.generate(), "__dict__")


def test_wrapped_key_round_trip():
    wrapped = WrappedKey("local-12", b"\x01blob bytes")
    data = wrapped.to_bytes()
    assert data == b"\x01\x08local-12\x01blob bytes"
    assert WrappedKey.from_bytes(data) == wrapped


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x01", b"\x02\x01a", b"\x01\x00blob", b"\x01\x09local-1", b"\x01\x02\xff\xfe"],
)
def test_wrapped_key_from_garbage_is_decryption_error(garbage):
    with pytest.raises(DecryptionError):
        WrappedKey.from_bytes(garbage)


def test_wrapped_key_checks_fields():
    with pytest.raises(ValueError):
        WrappedKey("", b"x")
    with pytest.raises(TypeError):
        WrappedKey("local-1", "blob")
    with pytest.raises(ValueError):
        WrappedKey("k" * 256, b"x")
    with pytest.raises(TypeError):
        WrappedKey.from_bytes("01")
