"""The compose file's one-shot steps, run in the vault's image (no other tool needed).

``python3 compose_init.py secrets``: random secrets, once, into /secrets (a volume): the
database password (for PostgreSQL), a pgpass line (for the vault's processes, read by
libpq through PGPASSFILE) and the OpenBao token. ``python3 compose_init.py transit``:
the Transit engine is mounted in OpenBao (if not yet); ``archive-vault init`` follows.
For the compose file only: a real deployment brings its secrets from its own store.
"""

import os
import secrets
import sys
from pathlib import Path

SECRETS = Path(os.environ.get("SECRETS_DIR", "/secrets"))


def make_secrets() -> None:
    password = SECRETS / "db_password"
    if not password.exists():
        password.write_text(secrets.token_urlsafe(32))
        (SECRETS / "transit_token").write_text(secrets.token_urlsafe(32))
    # PostgreSQL's entrypoint reads its password as its own user: readable by all in this
    # volume, which only the compose file's containers mount. The OpenBao token is read by
    # the vault's processes and OpenBao, both uid 10001, and must be 0600 for the vault.
    (SECRETS / "db_password").chmod(0o644)
    (SECRETS / "transit_token").chmod(0o600)
    pgpass = SECRETS / "pgpass"
    pgpass.write_text(f"db:5432:vault:vault:{password.read_text().strip()}\n")
    pgpass.chmod(0o600)  # libpq ignores a pgpass that others may read


def mount_transit() -> None:
    import hvac

    token = (SECRETS / "transit_token").read_text().strip()
    client = hvac.Client(os.environ["VAULT_TRANSIT_URL"], token=token)
    if "transit/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine("transit")


if __name__ == "__main__":
    {"secrets": make_secrets, "transit": mount_transit}[sys.argv[1]]()
