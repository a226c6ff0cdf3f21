"""Setting up and running a vault: ``init``, ``serve``, ``demo``."""

from __future__ import annotations

import os
from typing import Any

import click

from vault.cli.common import Command, config, friendly, opened
from vault.config import Config
from vault.crypto import LocalKeyring
from vault.errors import InvalidInput
from vault.runtime import Vault


@click.command(cls=Command)
@click.option(
    "--key-provider",
    type=click.Choice(["local", "pkcs11", "transit"]),
    default=None,
    help="where the key-encryption keys live (default: VAULT_KEY_PROVIDER, else local)",
)
@click.option(
    "--algorithms",
    type=click.Choice(["standard", "sm"]),
    default=None,
    help="standard: AES-256-GCM, HMAC-SHA-256 (default); sm: SM4-GCM, HMAC-SM3 "
    "(default: VAULT_ALGORITHMS, else standard); kept in the database",
)
@friendly
def init(key_provider: str | None = None, algorithms: str | None = None) -> None:
    """Create the data folder, the keyring (0600), the secret key and the database.

    With --key-provider pkcs11|transit, also the first key-encryption key in the HSM
    token or the Transit key (settings VAULT_PKCS11_* / VAULT_TRANSIT_*). With
    --algorithms sm, the vault encrypts with SM4-GCM and MACs with HMAC-SM3.
    """
    from vault.migrations import upgrade
    from vault.runtime import open_provider

    cfg = config()
    if key_provider is not None:
        cfg = cfg.with_(key_provider=key_provider)
    cfg.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not cfg.keyring.exists():
        # pkcs11 and transit keep the blind-index secret in the key file, and the audit
        # keys made before the provider held its own (old events still verify).
        LocalKeyring.create(cfg.keyring)
        click.echo(f"created keyring {cfg.keyring} (mode 0600)")
    if cfg.key_provider != "local":
        provider = open_provider(cfg)
        ensure = getattr(provider, "ensure_key")  # noqa: B009 - the external providers'
        click.echo(f"{cfg.key_provider} key provider ready, active key {ensure()}")
        audit_keys = getattr(provider, "audit_keys")()  # noqa: B009 - the external providers'
        click.echo(f"audit keys inside the {cfg.key_provider} provider: {audit_keys.ensure()}")
        if config().key_provider != cfg.key_provider:
            click.echo(f"set VAULT_KEY_PROVIDER={cfg.key_provider} for every command")
    cfg.write_secret_key()
    upgrade(cfg.database_url)
    suite = _store_algorithms(cfg, algorithms)
    click.echo(f"database ready: {_safe_url(cfg.database_url)} (algorithms: {suite})")
    if cfg.algorithms and cfg.algorithms != suite:
        click.echo(f"new ciphertext follows VAULT_ALGORITHMS={cfg.algorithms} where it is set")


def _store_algorithms(cfg: Config, flag: str | None) -> str:
    """Keep the vault's suite in its database once (``--algorithms``, else
    ``VAULT_ALGORITHMS``, else standard); refuse an ``--algorithms`` that would change it.

    ``VAULT_ALGORITHMS`` alone never refuses: it is how a vault's processes move to the
    other suite, and ``init`` is also how a vault is upgraded."""
    from sqlalchemy.orm import Session

    from vault.db import make_engine
    from vault.models import VaultSetting
    from vault.models.settings import ALGORITHMS

    engine = make_engine(cfg.database_url)
    try:
        with Session(engine) as db, db.begin():
            row = db.get(VaultSetting, ALGORITHMS)
            if row is None:
                row = VaultSetting(name=ALGORITHMS, value=flag or cfg.algorithms or "standard")
                db.add(row)
            elif flag is not None and flag != row.value:
                raise InvalidInput(
                    f"this vault was set up with --algorithms {row.value}; to make new "
                    f"ciphertext with {flag}, set VAULT_ALGORITHMS={flag} for every process",
                    code="algorithms_set",
                )
            return row.value
    finally:
        engine.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# The access log records the path only: never the query string (gunicorn's default
# ``%(r)s`` is the whole request line) nor the referrer, either of which could carry a
# value someone put in a URL. Method, path, protocol, status, size, duration, agent.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'


@click.command(cls=Command)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@friendly
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web UI and API with gunicorn (sync workers)."""
    from gunicorn.app.base import BaseApplication

    from vault.web import create_app
    from vault.web.metrics import gunicorn_child_exit, gunicorn_when_ready, prepare_multiprocess

    cfg = config()
    Vault.open(cfg).close()  # fail here, with a clear message, if keys/policy/db are unusable
    from vault.appraisal import retention

    retention.check_configured(cfg)  # and on a bad retention schedule (exit 2, the problem)

    class App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "vault.web.server.ProblemWorker")
            self.cfg.set("accesslog", "-")
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
            self.cfg.set("logger_class", "vault.web.server.QuietLogger")  # no health probes
            self.cfg.set("child_exit", gunicorn_child_exit)
            self.cfg.set("when_ready", gunicorn_when_ready)  # VAULT_METRICS_BIND

        def load(self) -> Any:
            return create_app(cfg)

    # Before anything counts (and only once the vault opened: a refused start changes
    # nothing): the workers share prometheus-client's multiprocess folder.
    prepare_multiprocess(cfg.home)
    click.echo(f"Archive Vault on http://{host}:{port}/  (Ctrl-C stops)")
    App().run()


@click.command(cls=Command)
@click.option("--force", is_flag=True, help="add demo data even if people exist")
@friendly
def demo(force: bool) -> None:
    """Initialise the vault and load demo people, clients and records; print their tokens."""
    from vault.demo import demo_logins, has_people, load_demo

    ctx = click.get_current_context()
    ctx.invoke(init)
    cfg = config()
    with opened() as (v, db):
        reused = has_people(db) and not force
        tokens = load_demo(v, db, force=force)
        logins = demo_logins(v, db)
    if reused:
        click.echo(
            f"\nREUSING the data already in {cfg.home}: no demo data was loaded, and what the"
            "\nREADME's walks did last time is still there (ids, grants, departures)."
            "\nTo start again from a fresh demo: make clean-demo && make demo"
            f" (or remove {cfg.home})."
        )
    else:
        click.echo(f"\nloaded fresh demo data into {cfg.home}")
    env_file = cfg.home / "demo-tokens.env"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for var, (_email, token) in tokens.items():
            fh.write(f"{var}={token}\n")
    click.echo(f"\nDemo people and their API tokens (also in {env_file}):")
    for var, (email, token) in tokens.items():
        click.echo(f"  {var:<18} {email:<28} {token}")
    login_file = cfg.home / "demo-logins.txt"
    fd = os.open(login_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for login in logins:
            fh.write(
                f"{login.email} {login.password}"
                f"{' totp-secret=' + login.totp_secret if login.totp_secret else ''}\n"
            )
    click.echo(f"\nSign in to the web UI with these passwords (also in {login_file}):")
    for login in logins:
        click.echo(f"  {login.email:<28} {login.password}")
        if login.totp_secret:
            click.echo(
                f"  {'':<28} one-time code secret {login.totp_secret}: get a code with\n"
                f'  {"":<28} .venv/bin/python -c "import pyotp; '
                f"print(pyotp.TOTP('{login.totp_secret}').now())\""
            )
    if reused:
        click.echo(
            f"\nNote: the data in {cfg.home} was reused, not reloaded"
            " (a fresh demo: make clean-demo && make demo)."
        )
