"""DESIGN §2: imports flow one way. web -> services -> policy, crypto, audit, models.

The import rules live in pyproject.toml as import-linter contracts; this file runs them
and keeps the checks they cannot express (who decrypts).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    """The contracts in pyproject.toml ([tool.importlinter]): layers, audit standalone,
    crypto and policy free of services and web, the web imported by no service."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # analyse this tree's vault, not another
    done = subprocess.run(
        [str(lint_imports), "--no-logo", "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# Modules allowed to decrypt, and what. Record content: vault.access alone.
DECRYPTERS = {
    "vault/access.py": "record content and attachments, after decide and audit",
    "vault/identity/accounts.py": "a person's own TOTP secret, bound to that person, at sign-in",
}


def test_only_access_decrypts_record_content():
    """Content leaves through the choke point alone; any new decrypting module fails here."""
    readers = []
    for path in (ROOT / "vault").rglob("*.py"):
        if "crypto" in path.parts:
            continue
        text = path.read_text()
        if "decrypt_field(" in text or "decrypt_stream(" in text:
            readers.append(str(path.relative_to(ROOT)))
    assert sorted(readers) == sorted(DECRYPTERS)
    assert "record_context" not in (ROOT / "vault/identity/accounts.py").read_text()
