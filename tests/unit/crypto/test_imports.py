"""vault.crypto depends only on the standard library and `cryptography`."""

import ast
import sys
from pathlib import Path

import vault.crypto

# The key providers outside the box talk to their HSM (python-pkcs11) or OpenBao (hvac,
# whose transport errors are requests').
ALLOWED = set(sys.stdlib_module_names) | {
    "cryptography",
    "__future__",
    "pkcs11",
    "hvac",
    "requests",
}


def test_crypto_imports_only_stdlib_and_cryptography():
    package = Path(vault.crypto.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
                if node.module == "vault":  # ``from vault import metrics``: the counters only
                    names = [f"vault.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                inside = name in ("vault.crypto", "vault.metrics") or name.startswith(
                    "vault.crypto."
                )
                assert inside or name.split(".")[0] in ALLOWED, f"{source.name} imports {name}"
