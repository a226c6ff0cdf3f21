"""DESIGN §2: imports flow one way. web -> services -> policy, crypto, audit, models."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(package: str) -> dict[str, set[str]]:
    """Every module under ``package`` and the absolute modules it imports."""
    found = {}
    for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in imports_of(package).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def test_audit_imports_nothing_from_flask_or_vault():
    assert offenders("audit", ("flask", "vault")) == []


def test_crypto_imports_only_stdlib_and_cryptography():
    assert (
        offenders(
            "vault.crypto",
            ("flask", "sqlalchemy", "vault.web", "vault.models", "vault.access", "audit"),
        )
        == []
    )


def test_policy_needs_no_flask_and_no_services():
    services = (
        "vault.access",
        "vault.grants",
        "vault.custody",
        "vault.people",
        "vault.archive",
        "vault.oversight",
        "vault.identity",
    )
    assert offenders("vault.policy", ("flask", "vault.web", *services)) == []


def test_services_do_not_import_the_web_layer():
    for module in (
        "access",
        "grants/requests",
        "grants/live",
        "oversight/quota",
        "people/directory",
        "archive/records",
        "auditing",
        "oversight/notifications",
    ):
        path = f"vault/{module}.py"
        names = imports_of("vault")[path]
        assert not any(n == "flask" or n.startswith(("vault.web", "flask.")) for n in names), path


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
