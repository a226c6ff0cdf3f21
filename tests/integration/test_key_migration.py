"""`archive-vault keys migrate --to pkcs11|transit`: a running vault's data keys move from
the key file to the provider, batch by batch; killed (SIGKILL) at random points it loses
nothing, and a final run completes it with the content untouched."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.factories import Factory
from tests.keyproviders import Bao, Token, make_token
from tests.soak import SOAK, size
from vault.cli import main
from vault.config import Config
from vault.crypto import WrappedKey
from vault.models import Client, Record
from vault.runtime import Vault, open_provider
from vault.web import create_app

ROOT = str(Path(__file__).resolve().parents[2])
PURPOSE = "checking the payment terms"
RECORDS = 90
KILLS = size(4, 10)  # `make test` kills each migration 4 times, `make soak` 10


if SOAK:

    @pytest.fixture(params=["pkcs11", "transit"])
    def provider(request: pytest.FixtureRequest) -> str:
        return str(request.param)

else:

    @pytest.fixture
    def provider(backend: str) -> str:
        """`make test`: each provider on one database; `make soak`: on both."""
        return {"sqlite": "pkcs11", "postgresql": "transit"}[backend]


@pytest.fixture
def service(provider: str, request: pytest.FixtureRequest) -> Token | Bao:
    if provider == "pkcs11":
        # A token of this test's own: the migrations it kills (SIGKILL) never share a
        # token with another test, and the test process finds it (it re-initialises).
        return make_token(request.getfixturevalue("softhsm_conf"))
    return request.getfixturevalue("bao")  # type: ignore[no-any-return]


def _env(config: Config, service: Token | Bao) -> dict[str, str]:
    return {
        **os.environ,
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "PYTHONPATH": ROOT,
        **service.env(),
    }


def _key_ids(db, column) -> list[str]:
    db.rollback()  # a fresh snapshot
    return [WrappedKey.from_bytes(b).key_id for b in db.scalars(sa.select(column))]


def _ciphertexts(db) -> dict[int, bytes]:
    db.rollback()
    return {rid: ct for rid, ct in db.execute(sa.select(Record.id, Record.content_ct))}


@pytest.mark.long
def test_migrate_survives_sigkill_and_loses_nothing(
    make: Factory, vault: Vault, db, config: Config, service: Token | Bao, provider: str
):
    clients = [make.client("general", tax_id="TAX-M-1"), make.client("core")]
    contents = {}
    for i in range(RECORDS):
        content = f"terms of deal {i}".encode()
        contents[make.record(clients[i % 2], content=content).id] = content
    custodian = make.custodian("general", "core")
    token = make.token(custodian)
    before = _ciphertexts(db)
    target = service.settings(config).with_(custodian_quota_hour=10**6, custodian_quota_day=10**6)
    open_provider(target).ensure_key()  # type: ignore[attr-defined]  # as `init` would
    env = _env(config, service)
    command = [str(Path(sys.executable).with_name("archive-vault"))]
    command += ["keys", "migrate", "--to", provider, "--batch", "1"]
    # Paced (--rate) so the kills land mid-way: unpaced, 90 rows move in a tenth of a second.
    paced = [*command, "--rate", "150"]

    def moved() -> int:
        return sum(k.startswith(f"{provider}:") for k in _key_ids(db, Record.wrapped_dek))

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills = runs = 0
    while kills < KILLS and runs < 4 * KILLS:
        runs += 1
        goal = moved() + rng.randint(1, 6)
        proc = subprocess.Popen(paced, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while proc.poll() is None and moved() < goal and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.0, 0.03))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
    assert kills >= KILLS, f"seed {seed}: only {kills} kills landed"
    half = moved()
    assert 0 < half < RECORDS, f"seed {seed}: {half} moved"
    assert _ciphertexts(db) == before  # content untouched, whatever the kill hit

    # Mid-way, a server on the target provider reads both kinds of data key.
    on_target = Vault.open(target)
    try:
        client = create_app(target, vault=on_target).test_client()
        headers = {"Authorization": f"Bearer {token}"}
        for rid in list(contents)[:: RECORDS // 10]:
            got = client.get(f"/api/v1/records/{rid}/content?purpose={PURPOSE}", headers=headers)
            assert got.status_code == 200 and got.json["content"].encode() == contents[rid]

        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr
        assert f"moved {RECORDS - half + len(clients)} data keys to {provider}" in final.stdout
        assert set(_key_ids(db, Record.wrapped_dek)) == {target_key(on_target)}
        assert all(k.startswith(f"{provider}:") for k in _key_ids(db, Client.wrapped_dek))
        assert _ciphertexts(db) == before
        for rid, content in contents.items():
            got = client.get(f"/api/v1/records/{rid}/content?purpose={PURPOSE}", headers=headers)
            assert got.status_code == 200, got.json
            assert got.json["content"].encode() == content
    finally:
        on_target.close()

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"moved 0 data keys to {provider}" in again.stdout
    assert f"{RECORDS + len(clients)} were there already" in again.stdout
    runner = CliRunner()
    on_env = {k: v for k, v in env.items() if k.startswith(("VAULT_", "SOFTHSM"))}
    on_env["VAULT_KEY_PROVIDER"] = provider
    status = runner.invoke(main, ["keys", "status"], env=on_env)
    assert status.exit_code == 0, status.output
    assert f"by provider:  {provider} {RECORDS + len(clients)}" in status.output
    assert runner.invoke(main, ["audit", "seal"], env=on_env).exit_code == 0
    verified = runner.invoke(main, ["audit", "verify"], env=on_env)
    assert verified.exit_code == 0 and "audit log intact" in verified.output, verified.output


def target_key(v: Vault) -> str:
    return v.keys.active_key_id
