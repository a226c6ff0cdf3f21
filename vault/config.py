"""Settings from ``VAULT_*`` environment variables, in one frozen object."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from vault.errors import InvalidInput

TIERS = ("core", "special", "general")


@dataclass(frozen=True)
class Config:
    """Everything the vault needs to run; build with :meth:`from_env` or directly in tests."""

    home: Path = Path("var")
    database_url: str = ""
    secret_key: str = ""
    key_provider: str = "local"
    keyring_path: Path | None = None
    blob_dir: Path | None = None
    log_dir: Path | None = None
    site_policy: Path | None = None
    testing: bool = False
    # Minimum years of service for custody of each tier (DESIGN §3.7).
    tenure_years: Mapping[str, int] = field(
        default_factory=lambda: {"core": 5, "special": 3, "general": 3}
    )
    page_size_max: int = 100
    max_content_bytes: int = 1 << 20
    max_request_bytes: int = 2 << 20
    seal_interval_s: float = 1.0

    def __post_init__(self) -> None:
        home = Path(self.home)
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{(home / 'vault.db').resolve()}")
        defaults = {"keyring_path": "keyring.json", "blob_dir": "blobs", "log_dir": "logs"}
        for name, leaf in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, home / leaf)

    @property
    def keyring(self) -> Path:
        """The local keyring file."""
        assert self.keyring_path is not None
        return self.keyring_path

    @property
    def blobs(self) -> Path:
        """The encrypted attachment directory."""
        assert self.blob_dir is not None
        return self.blob_dir

    @property
    def logs(self) -> Path:
        """The folder for the audit JSON-lines copy and operational logs."""
        assert self.log_dir is not None
        return self.log_dir

    @property
    def secret_key_path(self) -> Path:
        """Where ``archive-vault init`` keeps the session-signing secret."""
        return self.home / "secret_key"

    def with_(self, **changes: object) -> Config:
        """A copy with some settings changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Config:
        """Read ``VAULT_*`` variables; unknown values raise :class:`InvalidInput`."""
        env = os.environ if env is None else env
        kw: dict[str, object] = {}
        if "VAULT_HOME" in env:
            kw["home"] = Path(env["VAULT_HOME"])
        for name in ("database_url", "secret_key", "key_provider"):
            var = f"VAULT_{name.upper()}"
            if env.get(var):
                kw[name] = env[var]
        for name in ("keyring_path", "blob_dir", "log_dir", "site_policy"):
            var = "VAULT_KEYRING" if name == "keyring_path" else f"VAULT_{name.upper()}"
            if env.get(var):
                kw[name] = Path(env[var])
        tenure = {}
        for tier in TIERS:
            var = f"VAULT_TENURE_YEARS_{tier.upper()}"
            if env.get(var):
                tenure[tier] = _int(env[var], var)
        if tenure:
            kw["tenure_years"] = {**cls().tenure_years, **tenure}
        if env.get("VAULT_PAGE_SIZE_MAX"):
            kw["page_size_max"] = _int(env["VAULT_PAGE_SIZE_MAX"], "VAULT_PAGE_SIZE_MAX")
        kw.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = set(kw) - known
        if unknown:
            raise InvalidInput(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**kw)  # type: ignore[arg-type]

    def load_secret_key(self) -> str:
        """The session secret: from ``VAULT_SECRET_KEY`` or the file ``init`` wrote."""
        if self.secret_key:
            return self.secret_key
        path = self.secret_key_path
        if path.exists():
            if path.stat().st_mode & 0o077:
                raise InvalidInput(f"{path} is readable by others; run: chmod 600 {path}")
            return path.read_text().strip()
        return ""

    def write_secret_key(self) -> None:
        """Create the session secret file (0600) if it does not exist yet."""
        path = self.secret_key_path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {value!r}") from None
