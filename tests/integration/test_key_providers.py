"""Key providers outside the box (DESIGN §3.2, §3.12, §4): a PKCS#11 HSM (SoftHSM2) and
OpenBao Transit wrap every data key, bound to its place; keys rotate inside the provider;
no key-encryption key, PIN or token is ever written; a provider that is down fails closed."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.databases import upgrade
from tests.integration.test_invariants import forms, written_bytes
from tests.keyproviders import Bao, Token
from vault.cli import main
from vault.config import Config
from vault.crypto import (
    DataKey,
    DecryptionError,
    KeyProviderUnavailable,
    LocalKeyring,
    WrappedKey,
    decrypt_field,
)
from vault.crypto.capability import WrapOnly
from vault.crypto.contexts import record_context
from vault.models import Record
from vault.runtime import Vault, open_provider
from vault.web import create_app

CANARY = "CANARY-provider-terms-Kq81"
ROOT = str(Path(__file__).resolve().parents[2])  # this checkout, for the subprocesses
PURPOSE = "checking the payment terms"


@pytest.fixture(params=["pkcs11", "transit"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def service(provider: str, request: pytest.FixtureRequest) -> Token | Bao:
    """The running token or server of the provider under test."""
    if provider == "pkcs11":
        return request.getfixturevalue("hsm_token")  # type: ignore[no-any-return]
    return request.getfixturevalue("bao")  # type: ignore[no-any-return]


@pytest.fixture
def config(config: Config, service: Token | Bao) -> Config:
    """The vault's settings, with the provider under test."""
    return service.settings(config)


@pytest.fixture
def vault(config: Config) -> Iterator[Vault]:
    """A vault initialised on the provider under test (as ``init --key-provider`` does)."""
    LocalKeyring.create(config.keyring)
    upgrade(config.database_url)
    open_provider(config).ensure_key()  # type: ignore[attr-defined]
    v = Vault.open(config)
    yield v
    v.close()


def _env(config: Config, service: Token | Bao) -> dict[str, str]:
    return {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_KEY_PROVIDER": config.key_provider,
        **service.env(),
    }


def _secret_forms(service: Token | Bao, config: Config) -> list[bytes]:
    """The PIN or token, and every key of the local key file, as they could be written."""
    found = [*forms(service.pin if isinstance(service, Token) else service.token)]
    doc = config.keyring.read_text()
    import json

    parsed = json.loads(doc)
    for value in [*parsed["keks"].values(), *parsed["secrets"].values(), parsed["signing_key"]]:
        raw = base64.b64decode(value)
        found += [raw, value.encode(), raw.hex().encode()]
    return found


def test_wrap_unwrap_context_rotation_rewrap(vault: Vault, config: Config, provider: str):
    """Per provider: a data key opens only for its own place; rotation keeps old keys;
    a re-wrap moves a data key to the new KEK unchanged."""
    keys = open_provider(config)
    dek = DataKey.generate()
    first = keys.active_key_id
    assert first.startswith(f"{provider}:")
    wrapped = keys.wrap(dek, b"record:1")
    assert wrapped.key_id == first and dek.material not in wrapped.blob
    assert keys.unwrap(wrapped, b"record:1") == dek
    for wrong in (b"record:2", b"client:1", b"record:1 "):
        with pytest.raises(DecryptionError) as refused:
            keys.unwrap(wrapped, wrong)
        assert str(refused.value) == "decryption failed"
    tampered = type(wrapped)(wrapped.key_id, wrapped.blob[:-3] + b"AAA")
    with pytest.raises(DecryptionError):
        keys.unwrap(tampered, b"record:1")

    second = keys.rotate()  # type: ignore[attr-defined]
    assert second != first and keys.active_key_id == second
    assert keys.key_ids()[-2:] == [first, second]
    assert keys.unwrap(wrapped, b"record:1") == dek  # the old KEK is kept
    moved = keys.rewrap(wrapped, b"record:1")  # type: ignore[attr-defined]
    assert moved.key_id == second and keys.unwrap(moved, b"record:1") == dek
    with pytest.raises(DecryptionError):
        keys.rewrap(wrapped, b"record:9")  # type: ignore[attr-defined]
    # Another process sees the rotation without a restart (unknown key id: look again).
    assert open_provider(config).unwrap(moved, b"record:1") == dek
    # A data key still under the key file (before `keys migrate`) opens too.
    local = LocalKeyring.load(config.keyring).wrap(dek, b"record:3")
    assert keys.unwrap(local, b"record:3") == dek
    # Many at once (Transit: one batch request per kind): a bad one is None, not an error.
    many = WrapOnly(keys).rewrap_many(
        [(local, b"record:3"), (wrapped, b"record:1"), (local, b"record:4"), (moved, b"record:1")]
    )
    assert many[2] is None and all(m is not None for i, m in enumerate(many) if i != 2)
    assert {m.key_id for m in many if m is not None} == {second}
    assert keys.unwrap(many[0], b"record:3") == dek and keys.unwrap(many[3], b"record:1") == dek


def test_the_hsm_key_never_leaves_the_token(vault: Vault, config: Config, provider: str):
    """PKCS#11: the KEK is generated in the token, sensitive and not extractable."""
    if provider != "pkcs11":
        return
    from pkcs11 import Attribute

    keys = open_provider(config)
    key = keys._key(keys.active_key_id)  # type: ignore[attr-defined]
    assert key[Attribute.SENSITIVE] is True and key[Attribute.EXTRACTABLE] is False
    assert key[Attribute.LOCAL] is True  # generated inside the token, never imported
    assert key[Attribute.TOKEN] is True


def test_full_scenario_under_the_provider(api, make, vault, db, config, service, backend, capfd):
    """Deposit, consult, copy, audit verify under the provider; every stored data key is
    the provider's; neither content, PIN/token nor any key file secret is written."""
    sales, custodian = make.person(), make.custodian("general")
    s_token, c_token = make.token(sales), make.token(custodian)
    client = api.post(
        "/clients",
        s_token,
        json={"code": "PROVCO", "name": "Provider Co", "tier": "general", "tax_id": "TX-PRV-1"},
    )
    assert client.status_code == 201, client.json
    record = api.post(
        "/records",
        s_token,
        json={
            "client_id": client.json["id"],
            "section": "credit",
            "title": "provider title",
            "content": f"terms: {CANARY}",
        },
    )
    assert record.status_code == 201, record.json
    got = api.get(f"/records/{record.json['id']}/content?purpose={PURPOSE}", c_token)
    assert got.status_code == 200 and CANARY in got.json["content"]
    copy = api.post(f"/records/{record.json['id']}/copy", c_token, json={"purpose": PURPOSE})
    assert copy.status_code == 200 and CANARY in copy.get_data(as_text=True)

    db.rollback()
    stored = db.scalars(sa.select(Record.wrapped_dek)).all()
    assert stored and all(blob[2:].startswith(config.key_provider.encode()) for blob in stored)

    runner = CliRunner()
    env = _env(config, service)
    assert runner.invoke(main, ["audit", "seal"], env=env).exit_code == 0
    verified = runner.invoke(main, ["audit", "verify"], env=env)
    assert verified.exit_code == 0 and "audit log intact" in verified.output, verified.output
    # Rotation in the provider, then every data key re-wrapped onto the new KEK.
    first = vault.keys.active_key_id
    rotated = runner.invoke(main, ["keys", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    rewrapped = runner.invoke(main, ["keys", "rewrap"], env=env)
    assert rewrapped.exit_code == 0, rewrapped.output
    db.rollback()
    after = {blob[2 : 2 + blob[1]].decode() for blob in db.scalars(sa.select(Record.wrapped_dek))}
    assert len(after) == 1 and after != {first} and next(iter(after)).startswith(f"{first[:6]}")
    status = runner.invoke(main, ["keys", "status"], env=env)
    assert status.exit_code == 0, status.output
    assert f"by provider:  {config.key_provider} " in status.output
    assert f"keys:       local-1, {first}, {next(iter(after))}" in status.output
    again = api.get(f"/records/{record.json['id']}/content?purpose={PURPOSE}", c_token)
    assert again.status_code == 200 and CANARY in again.json["content"]

    # Disposal under the provider (DESIGN §2.3): the row as an older backup holds it, then
    # the shredding; the provider still unwraps its half, which opens nothing.
    old = api.post(
        "/records",
        s_token,
        json={"client_id": client.json["id"], "section": "basic", "title": "old visit",
              "content": "an old visit", "year": 2001, "doc_type": "visit_note"},
    )  # fmt: skip
    assert old.status_code == 201, old.json
    db.rollback()
    backup = db.get(Record, old.json["id"])
    kept_dek, kept_ct = bytes(backup.wrapped_dek), bytes(backup.content_ct)
    batch = api.post(
        "/disposal/batches", c_token, json={"record_ids": [old.json["id"]], "reason": "due"}
    )
    assert batch.status_code == 201, batch.json
    done = api.post(f"/disposal/batches/{batch.json['id']}/approve", make.token(make.admin()))
    assert done.status_code == 200 and done.json["status"] == "disposed", done.json
    gone = api.get(f"/records/{old.json['id']}/content?purpose={PURPOSE}", c_token)
    assert gone.status_code == 409 and gone.json["code"] == "record_disposed"
    half = vault._unsealer.unwrap(WrappedKey.from_bytes(kept_dek), record_context(old.json["id"]))
    with pytest.raises(DecryptionError):
        decrypt_field(half, kept_ct, record_id=str(old.json["id"]), field="content", version=1)

    vault.maybe_seal()
    captured = capfd.readouterr()
    everything = written_bytes(vault, backend) + captured.out.encode() + captured.err.encode()
    assert b"provider title" in everything  # the scan sees what is stored in clear
    for form in [*forms(CANARY), *_secret_forms(service, config)]:
        assert form not in everything, f"a secret was written as {form!r}"


def test_a_provider_that_is_down_fails_closed(api, make, vault, config, service, provider):
    """Content routes answer 503 key_provider_unavailable, never 500, never content; the
    error names no PIN or token."""
    custodian, sales = make.custodian("general"), make.person()
    record = make.record(make.client("general"), content=CANARY.encode())
    c_token, s_token = make.token(custodian), make.token(sales)
    assert api.get(f"/records/{record.id}/content?purpose={PURPOSE}", c_token).status_code == 200

    if isinstance(service, Bao):
        secret = service.token
        service.stop()
        down = vault
    else:
        # The token is not there (an unplugged HSM). A wrong PIN: test_a_wrong_pin_...
        secret = service.pin
        down = Vault.open(config.with_(pkcs11_token_label="unplugged"))
    client = create_app(config, vault=down).test_client()
    headers = {"Authorization": f"Bearer {c_token}"}
    for resp in (
        client.get(f"/api/v1/records/{record.id}/content?purpose={PURPOSE}", headers=headers),
        client.post(
            f"/api/v1/records/{record.id}/copy", headers=headers, json={"purpose": PURPOSE}
        ),
        client.post(
            "/api/v1/records",
            headers={"Authorization": f"Bearer {s_token}"},
            json={"client_id": record.client_id, "section": "basic", "title": "t", "content": "x"},
        ),
    ):
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.json["code"] == "key_provider_unavailable"
        body = resp.get_data(as_text=True)
        assert CANARY not in body and secret not in body

    keys = open_provider(down.config)
    with pytest.raises(KeyProviderUnavailable) as failed:
        keys.wrap(DataKey.generate(), b"record:1")
    assert secret not in str(failed.value) and service.__class__.__name__ != str(failed.value)
    assert provider in ("pkcs11", "transit")
    if down is not vault:
        down.close()


def test_init_with_a_key_provider(tmp_path, service, provider, db_url):
    """`archive-vault init --key-provider X` makes the key file (secrets), the first KEK
    in the provider and the database; `keys status` then names the provider's key."""
    env = {
        "VAULT_HOME": str(tmp_path / "home"),
        "VAULT_DATABASE_URL": db_url,
        **service.env(),
    }
    runner = CliRunner()
    made = runner.invoke(main, ["init", "--key-provider", provider], env=env)
    assert made.exit_code == 0, made.output
    assert f"{provider} key provider ready, active key {provider}:" in made.output
    assert f"set VAULT_KEY_PROVIDER={provider}" in made.output
    again = runner.invoke(main, ["init", "--key-provider", provider], env=env)
    assert again.exit_code == 0, again.output  # idempotent: the same first key
    status = runner.invoke(main, ["keys", "status"], env={**env, "VAULT_KEY_PROVIDER": provider})
    assert status.exit_code == 0, status.output
    assert f"provider:   {provider}" in status.output
    assert f"active key: {provider}:" in status.output
    secret = service.pin if isinstance(service, Token) else service.token
    assert secret not in made.output + again.output + status.output


def test_unknown_provider_and_missing_settings_are_refused(config: Config, tmp_path):
    LocalKeyring.create(tmp_path / "k.json")
    base = Config(home=tmp_path, keyring_path=tmp_path / "k.json")
    from vault.errors import InvalidInput

    for bad in (
        base.with_(key_provider="hsm"),
        base.with_(key_provider="pkcs11"),
        base.with_(key_provider="pkcs11", pkcs11_module="/x.so"),
        base.with_(key_provider="transit"),
        base.with_(key_provider="transit", transit_url="http://127.0.0.1:1"),
    ):
        with pytest.raises(InvalidInput):
            open_provider(bad)
    pin = tmp_path / "pin"
    pin.write_text("1234\n")
    pin.chmod(0o600)
    ok = base.with_(key_provider="pkcs11", pkcs11_pin_file=pin)
    assert ok.provider_secret("pkcs11_pin") == "1234" and "1234" not in repr(ok)
    env = Config.from_env({"VAULT_PKCS11_PIN": "9876", "VAULT_TRANSIT_TOKEN": "tok-1"})
    assert env.pkcs11_pin == "9876" and "9876" not in repr(env) and "tok-1" not in repr(env)
    assert isinstance(WrapOnly(LocalKeyring.load(tmp_path / "k.json")), WrapOnly)


def test_a_wrong_pin_or_token_is_named_without_the_secret(tmp_path, service, provider, db_url):
    """A wrong PIN / token (a process of its own: PKCS#11 logs in once per process) fails
    with the provider's name and no secret, in the message and the logs."""
    env = {"VAULT_HOME": str(tmp_path / "home"), "VAULT_DATABASE_URL": db_url, **service.env()}
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--key-provider", provider], env=env).exit_code == 0
    wrong = "wr0ng-" + (service.pin if isinstance(service, Token) else service.token)
    var = "VAULT_PKCS11_PIN" if provider == "pkcs11" else "VAULT_TRANSIT_TOKEN"
    bad = subprocess.run(
        [str(Path(sys.executable).with_name("archive-vault")), "keys", "status"],
        env={**os.environ, **env, "VAULT_KEY_PROVIDER": provider, var: wrong, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
    said = bad.stdout + bad.stderr
    assert ("PKCS#11 token" if provider == "pkcs11" else "Transit server") in said, said
    assert "Traceback" not in said
    logs = b"".join(p.read_bytes() for p in (tmp_path / "home").rglob("*.log*") if p.is_file())
    for secret in (wrong, wrong.removeprefix("wr0ng-")):
        assert secret not in said and secret.encode() not in logs
