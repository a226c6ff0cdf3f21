"""LocalKeyring: file permissions, load checks, wrap binding, rotation, secrets, no key leaks."""

import base64
import json
import os
import pickle
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from vault.crypto import (
    DataKey,
    DecryptionError,
    KeyProvider,
    KeyringError,
    LocalKeyring,
    WrappedKey,
)

CONTEXT = b"record:42"


@pytest.fixture
def path(tmp_path):
    return tmp_path / "keys" / "keyring.json"


@pytest.fixture
def keyring(path):
    return LocalKeyring.create(path)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_create_makes_file_0600_in_dir_0700(keyring, path):
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert keyring.active_key_id == "local-1"
    assert keyring.key_ids() == ["local-1"]
    assert os.listdir(path.parent) == ["keyring.json"]


def test_create_refuses_existing_file(keyring, path):
    before = path.read_bytes()
    with pytest.raises(KeyringError, match="exists"):
        LocalKeyring.create(path)
    assert path.read_bytes() == before


def test_keyring_is_a_key_provider(keyring):
    assert isinstance(keyring, KeyProvider)


def test_wrap_unwrap_round_trip_across_load(keyring, path):
    dek = DataKey.generate()
    wrapped = keyring.wrap(dek, CONTEXT)
    assert wrapped.key_id == "local-1"
    assert LocalKeyring.load(path).unwrap(wrapped, CONTEXT) == dek
    assert keyring.unwrap(WrappedKey.from_bytes(wrapped.to_bytes()), CONTEXT) == dek


def test_wrap_is_randomized(keyring):
    dek = DataKey.generate()
    assert keyring.wrap(dek, CONTEXT).blob != keyring.wrap(dek, CONTEXT).blob


def test_unwrap_with_another_context_fails(keyring):
    wrapped = keyring.wrap(DataKey.generate(), CONTEXT)
    with pytest.raises(DecryptionError):
        keyring.unwrap(wrapped, b"record:43")


def test_unwrap_tampered_blob_fails(keyring):
    wrapped = keyring.wrap(DataKey.generate(), CONTEXT)
    for position in range(len(wrapped.blob)):
        blob = bytearray(wrapped.blob)
        blob[position] ^= 0x80
        with pytest.raises(DecryptionError):
            keyring.unwrap(WrappedKey(wrapped.key_id, bytes(blob)), CONTEXT)
    with pytest.raises(DecryptionError):
        keyring.unwrap(WrappedKey(wrapped.key_id, wrapped.blob[:-1]), CONTEXT)


def test_unwrap_unknown_or_other_key_id_fails(keyring):
    wrapped = keyring.wrap(DataKey.generate(), CONTEXT)
    keyring.rotate()
    for key_id in ("local-2", "local-9", "hsm-1"):
        with pytest.raises(DecryptionError):
            keyring.unwrap(WrappedKey(key_id, wrapped.blob), CONTEXT)


def test_wrap_and_unwrap_check_arguments(keyring):
    with pytest.raises(TypeError):
        keyring.wrap(bytes(32), CONTEXT)
    with pytest.raises(TypeError):
        keyring.wrap(DataKey.generate(), "record:42")
    with pytest.raises(ValueError):
        keyring.wrap(DataKey.generate(), b"")
    with pytest.raises(TypeError):
        keyring.unwrap(b"\x01\x07local-1", CONTEXT)


def test_rotate_keeps_old_keys_and_wraps_under_new(keyring, path):
    dek = DataKey.generate()
    old = keyring.wrap(dek, CONTEXT)
    assert keyring.rotate() == "local-2"
    assert keyring.active_key_id == "local-2"
    assert keyring.key_ids() == ["local-1", "local-2"]
    assert keyring.wrap(DataKey.generate(), CONTEXT).key_id == "local-2"
    assert keyring.unwrap(old, CONTEXT) == dek
    reloaded = LocalKeyring.load(path)
    assert reloaded.active_key_id == "local-2"
    assert reloaded.unwrap(old, CONTEXT) == dek
    assert mode(path) == 0o600
    assert sorted(os.listdir(path.parent)) == ["keyring.json", "keyring.json.lock"]


def test_rotate_numbers_past_ten_in_order(keyring):
    for _ in range(10):
        keyring.rotate()
    assert keyring.active_key_id == "local-11"
    assert keyring.key_ids()[-3:] == ["local-9", "local-10", "local-11"]


def test_rotate_from_stale_instance_loses_no_key(keyring, path):
    stale = LocalKeyring.load(path)
    keyring.rotate()
    wrapped = keyring.wrap(DataKey.generate(), CONTEXT)
    assert stale.rotate() == "local-3"
    assert stale.key_ids() == ["local-1", "local-2", "local-3"]
    stale.unwrap(wrapped, CONTEXT)
    assert LocalKeyring.load(path).key_ids() == ["local-1", "local-2", "local-3"]


def test_unwrap_reads_newer_key_rotated_by_another_process(keyring, path):
    other = LocalKeyring.load(path)
    other.rotate()
    dek = DataKey.generate()
    assert keyring.unwrap(other.wrap(dek, CONTEXT), CONTEXT) == dek


def test_rewrap_moves_to_active_key_without_changing_dek(keyring):
    dek = DataKey.generate()
    old = keyring.wrap(dek, CONTEXT)
    keyring.rotate()
    new = keyring.rewrap(old, CONTEXT)
    assert new.key_id == "local-2"
    assert keyring.unwrap(new, CONTEXT) == dek
    with pytest.raises(DecryptionError):
        keyring.rewrap(old, b"record:43")


def test_secrets_are_distinct_and_stable_over_rotation(keyring, path):
    audit, index = keyring.secret("audit-mac"), keyring.secret("blind-index")
    assert len(audit) == len(index) == 32
    assert audit != index
    keyring.rotate()
    reloaded = LocalKeyring.load(path)
    assert reloaded.secret("audit-mac") == audit
    assert reloaded.secret("blind-index") == index
    with pytest.raises(ValueError):
        keyring.secret("unknown")


def test_signing_key_signs_and_is_stable(keyring, path):
    signature = keyring.signing_key().sign(b"checkpoint")
    keyring.rotate()
    LocalKeyring.load(path).verify_key().verify(signature, b"checkpoint")


def test_two_keyrings_have_different_keys(tmp_path):
    first = LocalKeyring.create(tmp_path / "a.json")
    second = LocalKeyring.create(tmp_path / "b.json")
    assert first.secret("audit-mac") != second.secret("audit-mac")
    with pytest.raises(DecryptionError):
        second.unwrap(first.wrap(DataKey.generate(), CONTEXT), CONTEXT)


@pytest.mark.parametrize("bad_mode", [0o640, 0o604, 0o660, 0o644, 0o700 | 0o004])
def test_load_refuses_file_readable_by_others(keyring, path, bad_mode):
    os.chmod(path, bad_mode)
    with pytest.raises(KeyringError, match="chmod 600"):
        LocalKeyring.load(path)


def test_load_accepts_owner_read_only(keyring, path):
    os.chmod(path, 0o400)
    assert LocalKeyring.load(path).active_key_id == "local-1"


def test_load_missing_file(tmp_path):
    with pytest.raises(KeyringError, match="not found"):
        LocalKeyring.load(tmp_path / "absent.json")


def test_load_directory(tmp_path):
    os.chmod(tmp_path, 0o700)
    with pytest.raises(KeyringError):
        LocalKeyring.load(tmp_path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: "not json {",
        lambda doc: json.dumps({**doc, "version": 2}),
        lambda doc: json.dumps({**doc, "active": "local-7"}),
        lambda doc: json.dumps({**doc, "keks": {"local-1": "AAAA"}}),
        lambda doc: json.dumps({**doc, "keks": {}}),
        lambda doc: json.dumps({**doc, "secrets": {"audit-mac": doc["secrets"]["audit-mac"]}}),
        lambda doc: json.dumps({**doc, "signing_key": "!!"}),
        lambda doc: json.dumps(doc)[:-20],
    ],
)
def test_load_refuses_corrupt_file(keyring, path, edit):
    doc = json.loads(path.read_text())
    path.write_text(edit(doc))
    with pytest.raises(KeyringError, match="corrupt") as info:
        LocalKeyring.load(path)
    assert info.value.__cause__ is None
    for value in doc["keks"].values():
        assert value not in str(info.value)


def key_material_forms(path):
    doc = json.loads(path.read_text())
    encoded = [*doc["keks"].values(), *doc["secrets"].values(), doc["signing_key"]]
    forms = []
    for value in encoded:
        raw = base64.b64decode(value)
        forms += [value, raw.hex(), raw.hex().upper(), repr(raw)]
    return forms


def test_repr_and_str_never_show_key_material(keyring, path):
    keyring.rotate()
    shown = repr(keyring) + str(keyring) + f"{keyring!r}"
    assert "local-2" in shown
    for form in key_material_forms(path):
        assert form not in shown


def test_keyring_cannot_be_pickled(keyring):
    with pytest.raises(TypeError):
        pickle.dumps(keyring)


def test_signing_key_matches_file(keyring, path):
    raw = keyring.signing_key().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert base64.b64encode(raw).decode() == json.loads(path.read_text())["signing_key"]


def test_retire_removes_an_old_key_for_good(keyring, path):
    old = keyring.wrap(DataKey.generate(), CONTEXT)
    keyring.rotate()
    keyring.retire("local-1")
    assert keyring.key_ids() == ["local-2"]
    assert LocalKeyring.load(path).key_ids() == ["local-2"]
    with pytest.raises(DecryptionError):
        keyring.unwrap(old, CONTEXT)
    # The next key is numbered after every key there ever was that is still known.
    assert keyring.rotate() == "local-3"


def test_retire_refuses_the_active_key_and_unknown_ids(keyring, path):
    with pytest.raises(KeyringError, match="active"):
        keyring.retire("local-1")
    with pytest.raises(KeyringError, match="no key"):
        keyring.retire("local-9")
    assert LocalKeyring.load(path).key_ids() == ["local-1"]
