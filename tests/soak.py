"""Long runs: ``make test`` runs the short version of a soak, ``make soak`` (VAULT_SOAK=1)
the full one (the migration killed ten times, the 10,000-row import, longer fuzzing)."""

from __future__ import annotations

import os

SOAK = os.environ.get("VAULT_SOAK") == "1"


def size(short: int, full: int) -> int:
    """``full`` in a soak run, ``short`` otherwise."""
    return full if SOAK else short
