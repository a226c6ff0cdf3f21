"""The compose file's one-shot steps, run in the vault's image (no other tool needed).

``python3 compose_init.py secrets``: random secrets, once, into /secrets (a volume): the
database password (for PostgreSQL) and a pgpass line (for the vault's processes, read by
libpq through PGPASSFILE).

``python3 compose_init.py openbao`` (the ``bao-init`` service): OpenBao runs as a server
with raft storage (deploy/openbao/openbao.hcl), so it starts uninitialised, then sealed
at every restart. This step initialises it once -- its unseal key and root token go to
/var/lib/openbao-init (the ``openbao-init`` volume, which only this step mounts; files
0600) -- unseals it, mounts Transit, makes the vault's three keys (the key-encryption
key and the audit MAC and signing keys), writes the Transit-only policy
(deploy/openbao/archive-vault-policy.hcl) and gives the vault a token of that policy
alone, in /secrets/transit_token (0600): the vault's processes never see the root token.
Safe to rerun: each ``compose up`` unseals OpenBao again and keeps a token with more
than 30 days left. One unseal key (threshold 1) keeps it one command on a laptop;
production splits it (``secret_shares`` 5, threshold 3, among officers) or auto-unseals
with a KMS or HSM.

For the compose file only: a real deployment brings its secrets from its own store.
"""

import contextlib
import os
import secrets
import sys
import time
from pathlib import Path

SECRETS = Path(os.environ.get("SECRETS_DIR", "/secrets"))
BAO_INIT = Path(os.environ.get("OPENBAO_INIT_DIR", "/var/lib/openbao-init"))
POLICY = Path(
    os.environ.get("OPENBAO_POLICY", "/etc/archive-vault/openbao/archive-vault-policy.hcl")
)
KEY = "archive-vault"  # VAULT_TRANSIT_KEY's default
# name -> Transit key type; the first one's data keys are derived from their place
KEYS = {KEY: "aes256-gcm96", f"{KEY}-audit-mac": "aes256-gcm96", f"{KEY}-audit-sign": "ed25519"}
ISSUED_FOR = "8760h"
KEEP_TOKEN_S = 30 * 24 * 3600


def make_secrets() -> None:
    password = SECRETS / "db_password"
    if not password.exists():
        password.write_text(secrets.token_urlsafe(32))
    # PostgreSQL's entrypoint reads its password as its own user: readable by all in this
    # volume, which only the compose file's containers mount.
    (SECRETS / "db_password").chmod(0o644)
    pgpass = SECRETS / "pgpass"
    pgpass.write_text(f"db:5432:vault:vault:{password.read_text().strip()}\n")
    pgpass.chmod(0o600)  # libpq ignores a pgpass that others may read


def _private(path: Path, value: str) -> None:
    """Write ``value`` to a file no one else may read (made 0600 before it holds it)."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(value)


def _wait(client, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.sys.read_health_status(method="GET")  # answers sealed or not
            return
        except Exception:  # noqa: BLE001 - not listening yet
            if time.monotonic() > deadline:
                raise SystemExit(f"OpenBao at {client.url} did not answer") from None
            time.sleep(1)


def _wait_active(client, timeout: float = 120) -> None:
    """Wait until the unsealed node leads its raft cluster: until then every request is
    refused ("local node not active but active cluster node not found")."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):  # standby or still electing
            if client.sys.read_leader_status().get("is_self"):
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"OpenBao at {client.url} did not become active")
        time.sleep(0.5)


def setup_openbao() -> None:
    import hvac
    from hvac import exceptions

    client = hvac.Client(os.environ["VAULT_TRANSIT_URL"])
    _wait(client)
    if not client.sys.is_initialized():
        reply = client.sys.initialize(secret_shares=1, secret_threshold=1)
        _private(BAO_INIT / "unseal_key", reply["keys_base64"][0])
        _private(BAO_INIT / "root_token", reply["root_token"])
        print("OpenBao initialised (unseal key and root token in the openbao-init volume)")
    if client.sys.is_sealed():
        client.sys.submit_unseal_key((BAO_INIT / "unseal_key").read_text().strip())
        print("OpenBao unsealed")
    _wait_active(client)
    client.token = (BAO_INIT / "root_token").read_text().strip()
    if "transit/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine("transit")
    for name, key_type in KEYS.items():
        try:
            client.secrets.transit.read_key(name)
        except exceptions.InvalidPath:
            client.secrets.transit.create_key(
                name,
                key_type=key_type,
                derived=name == KEY,
                exportable=False,
                allow_plaintext_backup=False,
            )
            print(f"Transit key {name} ({key_type}) made")
    client.sys.create_or_update_policy(KEY, POLICY.read_text())
    token_file = SECRETS / "transit_token"
    if token_file.exists():
        try:
            ttl = client.auth.token.lookup(token_file.read_text().strip())["data"]["ttl"]
        except exceptions.VaultError:  # revoked, expired, or of an earlier OpenBao
            ttl = 0
        if ttl > KEEP_TOKEN_S:
            return
    reply = client.auth.token.create(
        policies=[KEY], no_default_policy=True, no_parent=True, ttl=ISSUED_FOR,
        display_name="archive-vault",
    )  # fmt: skip
    _private(token_file, reply["auth"]["client_token"])
    print(f"a token of the Transit-only policy {KEY!r} written for the vault")


if __name__ == "__main__":
    {"secrets": make_secrets, "openbao": setup_openbao}[sys.argv[1]]()
