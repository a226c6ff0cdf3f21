"""A real OpenID Connect provider for the SSO tests (npm ``oidc-provider`` 9, on Node).

``oidc_provider`` (session scope) installs the provider's npm packages when
``tests/sso/provider/node_modules`` is missing (``npm ci``), starts ``node server.mjs`` on a
free port of 127.0.0.1 and yields an ``OIDCProvider``. Node or npm missing or failing fails
the run: a missing provider is never a skip.

Override ``oidc_redirect_uris`` / ``oidc_post_logout_redirect_uris`` (session scope) in a
conftest.py to register the app's own callback URLs. The provider is started once per
session, so the first value requested wins for the whole run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
READY_TIMEOUT = 60.0  # node loads oidc-provider slowly on a busy machine
NPM_TIMEOUT = 300.0

CLIENT_ID = "archive-vault"
CLIENT_SECRET = "vault-test-secret"
DEFAULT_REDIRECT_URIS = ("http://127.0.0.1:5000/auth/callback", "http://localhost/auth/callback")
DEFAULT_POST_LOGOUT_REDIRECT_URIS = ("http://127.0.0.1:5000/", "http://localhost/")
SCOPES = ("openid", "profile", "email", "groups", "employment")


def build_accounts(today: dt.date | None = None) -> dict[str, dict[str, Any]]:
    """The provider's accounts, keyed by account id (= the ``sub`` claim)."""
    today = today or dt.date.today()
    return {
        "alice": {
            "email": "alice@corp.test",
            "name": "Alice Employee",
            "groups": ["staff"],
            "hired_on": "2019-03-01",
        },
        "audrey": {
            "email": "audrey@corp.test",
            "name": "Audrey Auditor",
            "groups": ["staff", "audit"],
            "hired_on": "2015-01-01",
        },
        "adam": {
            "email": "adam@corp.test",
            "name": "Adam Admin",
            "groups": ["staff", "it-admins"],
            "hired_on": "2012-01-01",
        },
        "leo": {
            "email": "leo@corp.test",
            "name": "Leo Leaving",
            "groups": ["staff"],
            "hired_on": "2018-01-01",
            "leaving_on": (today + dt.timedelta(days=14)).isoformat(),
        },
        # Claims a group named like the custodian role: groups must never grant custody.
        "carl": {
            "email": "carl@corp.test",
            "name": "Carl Claimant",
            "groups": ["staff", "custodian"],
            "hired_on": "2020-06-01",
        },
    }


def _process_state(pid: int) -> str:
    """What Linux says a process is doing (for a provider that never became ready)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
    except OSError as exc:
        return f"no state: {exc.__class__.__name__}"
    state = next((line for line in status if line.startswith("State:")), "State: ?")
    return f"{state.replace(chr(9), ' ')}, waiting in {wchan or '-'}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_npm_packages() -> None:
    """``npm ci`` in the provider folder unless its packages are installed; fail if it fails."""
    marker = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if marker.exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail(
            "The SSO tests need Node.js (>= 20) and npm on PATH to run the "
            "OpenID Connect test provider (tests/sso/provider).",
            pytrace=False,
        )
    digest = hashlib.sha256(str(PROVIDER_DIR).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"archive-vault-npm-{digest}.lock"
    with open(lock_path, "w") as lock:  # one npm ci at a time (pytest-xdist workers)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=PROVIDER_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {PROVIDER_DIR} took over {NPM_TIMEOUT:.0f} s", pytrace=False)
        if done.returncode != 0 or not marker.exists():
            pytest.fail(
                f"`npm ci` in {PROVIDER_DIR} failed (exit {done.returncode}); the SSO "
                f"tests need the npm registry once.\n{done.stdout[-3000:]}"
                f"\n{done.stderr[-3000:]}",
                pytrace=False,
            )


@dataclass
class OIDCProvider:
    """A running (or stopped) ``node server.mjs``. The port, and so the issuer, never change."""

    port: int
    accounts: dict[str, dict[str, Any]]
    accounts_file: Path
    jwks_file: Path
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    scopes: tuple[str, ...] = SCOPES
    _proc: subprocess.Popen[str] | None = field(default=None, repr=False)
    _output: list[str] = field(default_factory=list, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output(self) -> str:
        """Everything the provider printed (stdout and stderr) since the last start()."""
        return "".join(self._output)

    def _read(self, proc: subprocess.Popen[str], ready: threading.Event) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._output.append(line)
            if line.startswith("READY "):
                ready.set()

    def start(self) -> None:
        """Start the provider (no-op if running) and wait for READY; fail on timeout.

        A start that neither prints READY nor exits within ``READY_TIMEOUT`` is killed and
        tried once more (seen once in many runs on a shared machine: node alive, silent);
        a provider that fails twice, or exits, fails the test with what it printed."""
        if self.running:
            return
        first = self._start_once()
        if first is None:
            return
        second = self._start_once()
        if second is not None:
            pytest.fail(
                f"OpenID Connect test provider {second}\n(first try: {first})", pytrace=False
            )

    def _start_once(self) -> str | None:
        """Start and wait; ``None`` once READY, else why not (the process is stopped)."""
        env = {
            **os.environ,
            "PORT": str(self.port),
            "ACCOUNTS_FILE": str(self.accounts_file),
            "JWKS_FILE": str(self.jwks_file),
            "REDIRECT_URIS": ",".join(self.redirect_uris),
            "POST_LOGOUT_URIS": ",".join(self.post_logout_redirect_uris),
        }
        node = shutil.which("node")
        if node is None:
            pytest.fail("Node.js is not on PATH: the SSO tests need it", pytrace=False)
        self._output = []
        ready = threading.Event()
        self._proc = subprocess.Popen(
            [node, "server.mjs"],
            cwd=PROVIDER_DIR,
            env=env,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._read, args=(self._proc, ready), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.wait(0.05):
            exited = self._proc.poll()
            if exited is not None:
                self.stop()
                pytest.fail(
                    f"OpenID Connect test provider exited with {exited}:\n{self.output()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                state = _process_state(self._proc.pid)
                self.stop()
                return f"not READY within {READY_TIMEOUT:.0f} s ({state}):\n{self.output()}"
        return None

    def stop(self) -> None:
        """Stop the provider (SIGTERM, then SIGKILL after 5 s). Its sessions are lost."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """``with oidc_provider.down():`` - the provider is stopped inside, restarted after."""
        self.stop()
        try:
            yield
        finally:
            self.start()


@pytest.fixture(scope="session")
def app_port() -> int:
    """The port Archive Vault's own server listens on in the SSO and browser tests."""
    return _free_port()


@pytest.fixture(scope="session")
def oidc_redirect_uris(app_port: int) -> list[str]:
    """The client's registered redirect_uris: the defaults first, then the app's callback.
    Override (session scope) for others."""
    return [*DEFAULT_REDIRECT_URIS, f"http://127.0.0.1:{app_port}/auth/callback"]


@pytest.fixture(scope="session")
def oidc_post_logout_redirect_uris(app_port: int) -> list[str]:
    """The client's registered post_logout_redirect_uris: the defaults, then the app's page
    after sign-out. Override (session scope) for others."""
    return [*DEFAULT_POST_LOGOUT_REDIRECT_URIS, f"http://127.0.0.1:{app_port}/auth/signed-out"]


@pytest.fixture(scope="session")
def oidc_provider(
    tmp_path_factory: pytest.TempPathFactory,
    oidc_redirect_uris: list[str],
    oidc_post_logout_redirect_uris: list[str],
) -> Iterator[OIDCProvider]:
    """The running test provider: ``issuer``, ``client_id``, ``client_secret``, ``accounts``,
    ``discovery_url``, ``stop()``, ``start()``, ``down()``, ``output()``."""
    ensure_npm_packages()
    workdir = tmp_path_factory.mktemp("oidc-provider")
    accounts = build_accounts()
    accounts_file = workdir / "accounts.json"
    accounts_file.write_text(json.dumps(accounts, indent=2))
    provider = OIDCProvider(
        port=_free_port(),
        accounts=accounts,
        accounts_file=accounts_file,
        jwks_file=workdir / "jwks.json",
        redirect_uris=list(oidc_redirect_uris),
        post_logout_redirect_uris=list(oidc_post_logout_redirect_uris),
    )
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
