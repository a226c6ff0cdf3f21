"""The compose file's OpenBao, run here without the compose file: the real ``bao`` server
on deploy/openbao/openbao.hcl (raft storage, not dev mode; only its paths and addresses
changed for this machine), set up by deploy/compose_init.py's ``openbao`` step (the
``bao-init`` service), then the vault on the token that step made: ``archive-vault
init`` with the key provider, a data key wrapped and unwrapped, the audit chain sealed
and verified. The token is refused everything else, and after OpenBao restarts (sealed)
the step unseals it again and keeps the token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner
from hvac import exceptions

from audit.schema import audit_chain
from tests.factories import Factory
from tests.keyproviders import _bao, free_port
from vault.cli import main
from vault.config import Config
from vault.crypto import DataKey
from vault.runtime import Vault, open_provider

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


class Server:
    def __init__(self, tmp: Path) -> None:
        self.port, cluster = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        text = (DEPLOY / "openbao" / "openbao.hcl").read_text()
        for old, new in (
            ("/openbao/file", str(tmp / "data")),
            (
                'address     = "0.0.0.0:8200"',
                f'address     = "127.0.0.1:{self.port}"\n  cluster_address = "127.0.0.1:{cluster}"',
            ),
            ("http://openbao:8200", self.url),
            ("https://openbao:8201", f"https://127.0.0.1:{cluster}"),
        ):
            assert old in text, old
            text = text.replace(old, new)
        (tmp / "data").mkdir(mode=0o700, exist_ok=True)
        self.config = tmp / "openbao.hcl"
        self.config.write_text(text)
        self.log = tmp / "bao.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [_bao(), "server", f"-config={self.config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HOME": str(self.config.parent)},
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                # Answers 501 (not initialised) or 503 (sealed): it is listening.
                requests.get(f"{self.url}/v1/sys/health", timeout=1)
                return
            except requests.RequestException:
                assert self.proc.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _bao_init(server: Server, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "compose_init.py"), "openbao"],
        env={
            **os.environ,
            "VAULT_TRANSIT_URL": server.url,
            "SECRETS_DIR": str(tmp / "secrets"),
            "OPENBAO_INIT_DIR": str(tmp / "openbao-init"),
            "OPENBAO_POLICY": str(DEPLOY / "openbao" / "archive-vault-policy.hcl"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.long
def test_bao_init_sets_up_a_real_server_and_the_vault_runs_on_a_transit_only_token(
    server: Server, tmp_path: Path
):
    for name in ("secrets", "openbao-init"):
        (tmp_path / name).mkdir(mode=0o700)
    done = _bao_init(server, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OpenBao initialised" in done.stdout and "OpenBao unsealed" in done.stdout
    init, secrets = tmp_path / "openbao-init", tmp_path / "secrets"
    for path in (init / "unseal_key", init / "root_token", secrets / "transit_token"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    root, token = (init / "root_token").read_text(), (secrets / "transit_token").read_text()
    assert root and token and root != token
    assert not (secrets / "root_token").exists() and not (secrets / "unseal_key").exists()

    # The vault's token: Transit's paths for its own keys only.
    app = hvac.Client(server.url, token=token)
    for refused in (
        lambda: app.sys.list_mounted_secrets_engines(),
        lambda: app.secrets.transit.create_key("another-key"),
        lambda: app.secrets.transit.read_key("another-key"),
        lambda: app.secrets.transit.delete_key("archive-vault"),
        lambda: app.secrets.transit.update_key_configuration(
            "archive-vault", deletion_allowed=True
        ),
        lambda: app.secrets.transit.export_key("archive-vault", "encryption-key"),
        lambda: app.sys.enable_secrets_engine("kv"),
        lambda: app.auth.token.create(policies=["root"]),
    ):
        with pytest.raises(exceptions.Forbidden):
            refused()

    # `archive-vault init` on that token reads the keys bao-init made (creates nothing).
    home = tmp_path / "var"
    env = {
        "VAULT_HOME": str(home),
        "VAULT_DATABASE_URL": f"sqlite:///{tmp_path / 'vault.db'}",
        "VAULT_KEY_PROVIDER": "transit",
        "VAULT_TRANSIT_URL": server.url,
        "VAULT_TRANSIT_TOKEN_FILE": str(secrets / "transit_token"),
    }
    got = CliRunner().invoke(main, ["init", "--key-provider", "transit"], env=env)
    assert got.exit_code == 0, got.output
    assert "active key transit:archive-vault:v1" in got.output
    assert "audit keys inside the transit provider: transit:archive-vault-audit-mac:v1" in (
        got.output
    )
    config = Config(
        home=home,
        database_url=env["VAULT_DATABASE_URL"],
        key_provider="transit",
        transit_url=server.url,
        transit_token_file=secrets / "transit_token",
        seal_in_background=False,
    )
    provider = open_provider(config)
    dek = DataKey.generate()
    wrapped = provider.wrap(dek, b"record:1")
    assert provider.unwrap(wrapped, b"record:1").raw() == dek.raw()
    assert provider.rotate() == "transit:archive-vault:v2"  # the policy lets it rotate
    v = Vault.open(config)
    try:
        with v.sessions() as db:
            Factory(v, db).person()  # audited: an event MACed by Transit's audit key
        v.maybe_seal(force=True)  # ... and chained, the checkpoint signed by Transit
        with v.engine.connect() as conn:
            chained = conn.scalar(sa.select(sa.func.count()).select_from(audit_chain))
            report = v.audit.verify(conn)
        assert chained > 0 and report.ok, report
    finally:
        v.close()

    # OpenBao restarts sealed; bao-init (the next `compose up`) unseals it, keeps the token.
    server.stop()
    server.start()
    assert hvac.Client(server.url).sys.is_sealed()
    again = _bao_init(server, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "OpenBao unsealed" in again.stdout and "initialised" not in again.stdout
    assert (secrets / "transit_token").read_text() == token
    assert provider.unwrap(wrapped, b"record:1").raw() == dek.raw()
