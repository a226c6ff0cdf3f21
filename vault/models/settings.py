"""Settings that belong to the vault's data, not to one process: kept in its database."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base

ALGORITHMS = "algorithms"  # the suite `init --algorithms` chose: "standard" or "sm"


class VaultSetting(Base):
    """One setting of the vault (a name and its value), written by ``archive-vault init``.

    It travels with the data (a backup restores it) so that every process of the vault,
    whatever its environment, makes new ciphertext with the suite the vault was set up with.
    """

    __tablename__ = "vault_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
