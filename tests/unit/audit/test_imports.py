"""The audit package stands alone: no Flask, nothing from vault."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_audit_imports_neither_flask_nor_vault() -> None:
    code = (
        "import sys, audit; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'flask', 'vault'}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
