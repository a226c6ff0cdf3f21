"""Findings of the security review, each done the way the attacker (or the crash) did it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import sqlalchemy as sa

from audit import audit_events
from tests.factories import Factory
from vault.caller import Caller
from vault.crypto import LocalKeyring
from vault.keys import rotation
from vault.runtime import Vault
from vault.uow import unit_of_work


def _env(config) -> dict[str, str]:
    return {
        **os.environ,
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "PYTHONPATH": os.getcwd(),
    }


def _rotate_events(vault: Vault) -> list[str]:
    with vault.engine.connect() as conn:
        return [
            body
            for (body,) in conn.execute(
                sa.select(audit_events.c.body).where(audit_events.c.action == "key:rotate")
            )
        ]


# Finding 10: key rotation outside the log.


def test_a_rotation_killed_before_its_event_commits_leaves_no_new_active_key(vault, config):
    old = vault.keys.active_key_id
    script = textwrap.dedent(
        """
        import os, signal
        from vault.caller import Caller
        from vault.cli.common import opened
        from vault.keys import rotation

        with opened() as (v, db):
            rotation.rotate(v, db, Caller.operator())
            os.kill(os.getpid(), signal.SIGKILL)  # killed before the command commits
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], env=_env(config), capture_output=True, timeout=120
    )
    assert run.returncode == -9, run.stderr.decode()[-2000:]
    assert _rotate_events(vault) == []
    on_disk = LocalKeyring.load(config.keyring)
    assert on_disk.active_key_id == old  # no key is active without its event


def test_a_rotation_rolled_back_makes_no_key_and_a_committed_one_its_event_first(
    vault, config, make: Factory
):
    old = vault.keys.active_key_id
    session = vault.sessions()
    try:
        announced = rotation.rotate(vault, session, Caller.operator())
        session.rollback()  # the commit failed: the act and its event are gone
    finally:
        session.close()
    assert LocalKeyring.load(config.keyring).key_ids() == [old]
    assert vault.keys.active_key_id == old and _rotate_events(vault) == []

    with unit_of_work(vault) as db:
        new = rotation.rotate(vault, db, Caller.operator())
        assert LocalKeyring.load(config.keyring).active_key_id == old  # not before the commit
    assert new == announced
    assert LocalKeyring.load(config.keyring).active_key_id == new == vault.keys.active_key_id
    (body,) = _rotate_events(vault)
    assert f'"key":"{new}"' in body and f'"previous":"{old}"' in body
