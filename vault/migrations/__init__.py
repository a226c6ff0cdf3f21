"""Alembic migrations, run from code (``archive-vault init``) rather than an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

HERE = Path(__file__).parent


def alembic_config(url: str) -> AlembicConfig:
    """An alembic configuration pointing at ``url`` and this package's scripts."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (by default the single head: a
    history that forked again fails here until a merge revision joins it)."""
    command.upgrade(alembic_config(url), revision)
