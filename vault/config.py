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
    key_provider: str = "local"  # "local" (the key file), "pkcs11" or "transit"
    keyring_path: Path | None = None
    # PKCS#11 HSM (VAULT_PKCS11_*): the module, the token, its user PIN (the value, or a
    # file holding it) and the label prefix of the key-encryption keys in the token.
    pkcs11_module: str = ""
    pkcs11_token_label: str = "archive-vault"  # noqa: S105 - a label, not a secret
    pkcs11_pin: str = field(default="", repr=False)
    pkcs11_pin_file: Path | None = None
    pkcs11_key_label: str = "archive-vault-kek"
    # OpenBao / HashiCorp Vault Transit (VAULT_TRANSIT_*): the server, its token (the value,
    # or a file holding it), the engine's mount and the Transit key's name.
    transit_url: str = ""
    transit_token: str = field(default="", repr=False)
    transit_token_file: Path | None = None
    transit_mount: str = "transit"
    transit_key: str = "archive-vault"
    # The algorithm suite of new ciphertext and MACs: "standard" (AES-256-GCM,
    # HMAC-SHA-256) or "sm" (SM4-GCM, HMAC-SM3). None: the one `init` stored in the
    # database (VAULT_ALGORITHMS overrides it, e.g. while moving a vault to the other).
    algorithms: str | None = None
    blob_dir: Path | None = None
    # Where attachment ciphertext lives (VAULT_BLOB_STORE): "local" (blob_dir), "postgresql"
    # (rows of the vault's database) or "s3" (VAULT_S3_*); empty: postgresql on a
    # PostgreSQL database, else local.
    blob_store: str = ""
    s3_bucket: str = ""
    s3_endpoint_url: str = ""  # an S3-compatible service's address; empty: AWS
    s3_region: str = ""
    s3_prefix: str = ""
    # Who runs the background work (VAULT_BACKGROUND): "app" (a thread of each app process
    # seals, sends mail and runs the chores: one machine) or "worker" (`archive-vault
    # worker` does; app processes only take up new site policies).
    background: str = "app"
    # The worker's schedule (seconds) and the outbox's retries.
    worker_tick_s: float = 1.0
    outbox_backoff_s: float = 30.0
    outbox_max_attempts: int = 8
    log_dir: Path | None = None
    # Audit evidence outside the database (VAULT_WITNESS_DIR): an append-only directory
    # that receives a signed copy of every checkpoint; unset: no witness directory.
    witness_dir: Path | None = None
    # ...and/or a KV v2 path of the OpenBao server of VAULT_TRANSIT_URL (VAULT_WITNESS_KV_PATH,
    # "<mount>/<path>", e.g. "secret/archive-vault/audit"), written with its token.
    witness_kv_path: str = ""
    # The audit log's hash for new events and checkpoints (VAULT_AUDIT_ALGORITHM):
    # "sha256" (HMAC-SHA-256, SHA-256) or "sm3" (HMAC-SM3, SM3; GB/T 32905).
    audit_algorithm: str | None = None  # None: the suite's (sha256, or sm3 under "sm")
    site_policy: Path | None = None
    # Appraisal (DESIGN §2.3): the retention schedule an admin supplies (TOML; the shipped
    # default without one) and the record key shares kept with the keys, outside every
    # database backup.
    retention_schedule: Path | None = None
    shares_path: Path | None = None
    # VAULT_SHARES_URL: the shares in a database of their own instead (several machines);
    # never the vault's own database.
    shares_url: str = ""
    testing: bool = False
    # Sign-in: browser sessions, local accounts and OpenID Connect (VAULT_SESSION_*,
    # VAULT_LOGIN_*, VAULT_OIDC_*; see AuthSettings).
    auth: AuthSettings = field(default_factory=lambda: AuthSettings())
    # Minimum years of service for custody of each tier (DESIGN §3.7).
    tenure_years: Mapping[str, int] = field(
        default_factory=lambda: {"core": 5, "special": 3, "general": 3}
    )
    page_size_max: int = 100
    # Grants (DESIGN §3.8): hours of access, and how long a request may wait.
    grant_default_hours: int = 8
    grant_max_hours: int = 72
    request_pending_days: int = 7
    # Bulk-export guard (DESIGN §3.6): distinct records opened per sliding window.
    quota_hour: int = 20
    quota_day: int = 60
    custodian_quota_hour: int = 60
    custodian_quota_day: int = 200
    # Metadata-scraping guard: pages of the catalogue and client list read per window.
    page_quota_hour: int = 200
    page_quota_day: int = 1000
    # Departure report window (DESIGN §3.9).
    departure_report_days: int = 90
    # E-mail notifications, when an SMTP host is set.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "archive-vault@localhost"
    max_content_bytes: int = 1 << 20
    max_request_bytes: int = 2 << 20
    seal_interval_s: float = 1.0
    # How often each process looks for a newly approved site policy (seconds).
    policy_refresh_s: float = 10.0
    # How often each process runs its watch chores (the departure watch's alerts), seconds.
    watch_interval_s: float = 3600.0
    # How often the worker's leader runs the full four-properties check (四性检测) of
    # every record (VAULT_CHECK_INTERVAL_S, seconds; a day by default).
    check_interval_s: float = 86400.0
    # Seal in a thread of each app process (never in a request). Tests that drive the app
    # in-process turn it off and seal when they look at the chain: on SQLite their own
    # session must not race a writer thread.
    seal_in_background: bool = True
    # Benchmarks only (VAULT_BENCH_BASELINE=1): serve the unaudited baseline route that
    # bench/consult_bench.py compares consultations with. Never set it in production.
    bench_baseline: bool = False
    # The bearer token that may read /metrics (VAULT_METRICS_TOKEN); empty: /metrics is 404
    # (serve it on a private address with VAULT_METRICS_BIND instead, see vault.web.metrics).
    metrics_token: str = field(default="", repr=False)
    # Dynamic management: days between reviews of a client file, per tier.
    review_days: Mapping[str, int] = field(
        default_factory=lambda: {"core": 60, "special": 90, "general": 180}
    )
    # Lending: loan length in days (default and maximum) and when "due soon" starts.
    loan_days_default: int = 14
    loan_days_max: int = 30
    loan_due_soon_days: int = 2

    def __post_init__(self) -> None:
        if self.shares_url and self.shares_url == self.database_url:
            raise InvalidInput(
                "VAULT_SHARES_URL must name a database of its own, not the vault's: the vault's "
                "backups would hold the key shares a disposal destroys",
                code="invalid_setting",
            )
        if self.blob_store not in ("", "local", "postgresql", "s3"):
            raise InvalidInput(
                f"VAULT_BLOB_STORE: unknown blob store {self.blob_store!r} (local, postgresql "
                "or s3)",
                code="blob_store_settings",
            )
        if self.background not in ("app", "worker"):
            raise InvalidInput(
                f"VAULT_BACKGROUND must be app or worker, not {self.background!r}",
                code="invalid_background",
            )
        home = Path(self.home)
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{(home / 'vault.db').resolve()}")
        if self.algorithms is not None and self.algorithms not in ALGORITHMS:
            raise InvalidInput(
                f"VAULT_ALGORITHMS must be standard or sm, not {self.algorithms!r}",
                code="invalid_setting",
            )
        defaults = {
            "keyring_path": "keyring.json",
            "blob_dir": "blobs",
            "log_dir": "logs",
            "shares_path": "shares.db",
        }
        for name, leaf in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, home / leaf)

    @property
    def keyring(self) -> Path:
        """The local keyring file."""
        assert self.keyring_path is not None
        return self.keyring_path

    @property
    def shares(self) -> Path:
        """The record key shares (``vault.crypto.shares``), kept with the keys."""
        assert self.shares_path is not None
        return self.shares_path

    @property
    def blobs(self) -> Path:
        """The encrypted attachment directory."""
        assert self.blob_dir is not None
        return self.blob_dir

    @property
    def blob_backend(self) -> str:
        """The blob store in use: the setting, else postgresql on PostgreSQL, else local."""
        if self.blob_store:
            return self.blob_store
        return "postgresql" if self.database_url.startswith("postgresql") else "local"

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
        for name in (
            "database_url",
            "secret_key",
            "key_provider",
            "algorithms",
            *_PROVIDER_SETTINGS,
        ):
            var = f"VAULT_{name.upper()}"
            if env.get(var):
                kw[name] = env[var]
        for name in ("pkcs11_pin_file", "transit_token_file"):
            var = f"VAULT_{name.upper()}"
            if env.get(var):
                kw[name] = Path(env[var])
        for name in (
            "keyring_path",
            "blob_dir",
            "log_dir",
            "site_policy",
            "retention_schedule",
            "shares_path",
            "witness_dir",
        ):
            var = {"keyring_path": "VAULT_KEYRING", "shares_path": "VAULT_SHARES"}.get(
                name, f"VAULT_{name.upper()}"
            )
            if env.get(var):
                kw[name] = Path(env[var])
        kw["auth"] = AuthSettings.from_env(env)
        tenure = {}
        for tier in TIERS:
            var = f"VAULT_TENURE_YEARS_{tier.upper()}"
            if env.get(var):
                tenure[tier] = _int(env[var], var)
        if tenure:
            kw["tenure_years"] = {**cls().tenure_years, **tenure}
        review = {}
        for tier in TIERS:
            var = f"VAULT_REVIEW_DAYS_{tier.upper()}"
            if env.get(var):
                review[tier] = _int(env[var], var)
        if review:
            kw["review_days"] = {**cls().review_days, **review}
        for name in ("loan_days_default", "loan_days_max", "loan_due_soon_days"):
            var = f"VAULT_{name.upper()}"
            if env.get(var):
                kw[name] = _int(env[var], var)
        for name in _INT_SETTINGS:
            var = f"VAULT_{name.upper()}"
            if env.get(var):
                kw[name] = _int(env[var], var)
        for name in (
            "smtp_host",
            "smtp_from",
            "blob_store",
            "s3_bucket",
            "s3_endpoint_url",
            "s3_region",
            "s3_prefix",
            "background",
            "metrics_token",
            "shares_url",
        ):
            var = f"VAULT_{name.upper()}"
            if env.get(var):
                kw[name] = env[var]
        if env.get("VAULT_POLICY_REFRESH_S"):
            try:
                refresh = float(env["VAULT_POLICY_REFRESH_S"])
            except ValueError:
                refresh = -1.0
            if not 0.1 <= refresh <= 3600:
                raise InvalidInput("VAULT_POLICY_REFRESH_S must be 0.1 to 3600 seconds")
            kw["policy_refresh_s"] = refresh
        if env.get("VAULT_WATCH_INTERVAL_S"):
            try:
                watch = float(env["VAULT_WATCH_INTERVAL_S"])
            except ValueError:
                watch = -1.0
            if not 1 <= watch <= 86400:
                raise InvalidInput("VAULT_WATCH_INTERVAL_S must be 1 to 86400 seconds")
            kw["watch_interval_s"] = watch
        if env.get("VAULT_WITNESS_KV_PATH"):
            kw["witness_kv_path"] = env["VAULT_WITNESS_KV_PATH"].strip()
        if env.get("VAULT_AUDIT_ALGORITHM"):
            algorithm = env["VAULT_AUDIT_ALGORITHM"].strip().lower()
            if algorithm not in AUDIT_ALGORITHMS:
                raise InvalidInput("VAULT_AUDIT_ALGORITHM must be sha256 or sm3")
            kw["audit_algorithm"] = algorithm
        for name, low, high in (
            ("worker_tick_s", 0.05, 3600.0),
            ("outbox_backoff_s", 0.01, 86400.0),
            ("check_interval_s", 60.0, 30 * 86400.0),
        ):
            var = f"VAULT_{name.upper()}"
            if env.get(var):
                try:
                    value = float(env[var])
                except ValueError:
                    value = -1.0
                if not low <= value <= high:
                    raise InvalidInput(f"{var} must be {low} to {high} seconds")
                kw[name] = value
        if env.get("VAULT_BENCH_BASELINE", "").strip().lower() in ("1", "true", "yes", "on"):
            kw["bench_baseline"] = True
        kw.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = set(kw) - known
        if unknown:
            raise InvalidInput(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**kw)  # type: ignore[arg-type]

    def provider_secret(self, name: str) -> str:
        """The PKCS#11 PIN (``pkcs11_pin``) or Transit token (``transit_token``): the
        setting's value, else the first line of its ``*_file`` (0600); never logged."""
        value = str(getattr(self, name))
        if value:
            return value
        path = getattr(self, f"{name}_file")
        var = f"VAULT_{name.upper()}"
        if path is None:
            raise InvalidInput(
                f"the {self.key_provider} key provider needs {var} or {var}_FILE",
                code="key_provider_settings",
            )
        try:
            if Path(path).stat().st_mode & 0o077:
                raise InvalidInput(f"{path} is readable by others; run: chmod 600 {path}")
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise InvalidInput(
                f"cannot read {var}_FILE {path}: {exc.strerror}", code="key_provider_settings"
            ) from None
        if not lines or not lines[0].strip():
            raise InvalidInput(f"{var}_FILE {path} is empty", code="key_provider_settings")
        return lines[0].strip()

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


KEY_PROVIDERS = ("local", "pkcs11", "transit")
AUDIT_ALGORITHMS = ("sha256", "sm3")


ALGORITHMS = ("standard", "sm")


_PROVIDER_SETTINGS = (
    "pkcs11_module",
    "pkcs11_token_label",
    "pkcs11_pin",
    "pkcs11_key_label",
    "transit_url",
    "transit_token",
    "transit_mount",
    "transit_key",
)


_INT_SETTINGS = (
    "page_size_max",
    "grant_default_hours",
    "grant_max_hours",
    "request_pending_days",
    "quota_hour",
    "quota_day",
    "custodian_quota_hour",
    "custodian_quota_day",
    "page_quota_hour",
    "page_quota_day",
    "departure_report_days",
    "smtp_port",
    "outbox_max_attempts",
)


ROLE_NAMES = ("employee", "auditor", "admin")


@dataclass(frozen=True)
class AuthSettings:
    """How people sign in: session lifetimes, local-account lockout, OpenID Connect."""

    # Browser sessions end after this long without a request, and this long after sign-in.
    session_idle_minutes: int = 15
    session_max_hours: int = 8
    # Always mark cookies Secure (they are anyway when a request arrives over https).
    secure_cookies: bool = False
    # The vault's public address (e.g. https://vault.example.com), for OIDC callback URLs
    # behind a proxy; empty: taken from each request.
    public_url: str = ""
    # Local accounts: failures per account (and per client address) within the window
    # before sign-in is refused for the rest of the window.
    login_max_failures: int = 5
    login_ip_max_failures: int = 20
    login_window_minutes: int = 15
    # OpenID Connect: sign-in is offered when issuer and client id are set.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)
    oidc_scopes: str = "openid email profile"
    oidc_groups_claim: str = "groups"
    # Provider group -> vault role, e.g. "audit=auditor,it-admins=admin". Everyone who
    # signs in is an employee; no group ever maps to custodian (admins designate those).
    oidc_role_map: Mapping[str, str] = field(default_factory=dict)
    # Optional claims carrying the hire date and the leaving date (YYYY-MM-DD); empty: unused.
    oidc_hired_on_claim: str = ""
    oidc_leaving_on_claim: str = ""
    oidc_timeout_s: float = 10.0
    # An admin signing in through single sign-on needs the provider's proof of a second
    # factor: one of these ``amr`` methods (RFC 8176) or ``acr`` values in the ID token
    # (VAULT_OIDC_ADMIN_AMR / VAULT_OIDC_ADMIN_ACR, comma separated); without it, the
    # vault's own one-time code (when enrolled), or the sign-in is refused.
    oidc_admin_amr: tuple[str, ...] = ("mfa", "otp", "hwk")
    oidc_admin_acr: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for group, role in self.oidc_role_map.items():
            if role == "custodian":
                raise InvalidInput(
                    f"VAULT_OIDC_ROLE_MAP maps {group!r} to custodian: custody is designated "
                    "inside the vault, never by a group",
                    code="custodian_not_a_role",
                )
            if role not in ROLE_NAMES:
                raise InvalidInput(
                    f"VAULT_OIDC_ROLE_MAP: unknown role {role!r}", code="invalid_role"
                )
        positive = (
            "session_idle_minutes",
            "session_max_hours",
            "login_max_failures",
            "login_ip_max_failures",
            "login_window_minutes",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise InvalidInput(f"{name} must be at least 1", code="invalid_setting")
        if self.oidc_issuer and not self.oidc_issuer.startswith(("https://", "http://")):
            raise InvalidInput("VAULT_OIDC_ISSUER must be an http(s) URL", code="invalid_setting")

    @property
    def oidc_enabled(self) -> bool:
        """Whether single sign-on is configured."""
        return bool(self.oidc_issuer and self.oidc_client_id)

    def with_(self, **changes: object) -> AuthSettings:
        """A copy with some settings changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthSettings:
        """Read the sign-in settings from ``VAULT_*`` variables."""
        kw: dict[str, object] = {}
        for f in fields(cls):
            var = f"VAULT_{f.name.upper()}"
            value = env.get(var)
            if not value:
                continue
            if f.name == "oidc_role_map":
                kw[f.name] = parse_role_map(value)
            elif f.name in ("oidc_admin_amr", "oidc_admin_acr"):
                kw[f.name] = tuple(x.strip() for x in value.split(",") if x.strip())
            elif f.name == "secure_cookies":
                kw[f.name] = value.strip().lower() in ("1", "true", "yes", "on")
            elif f.name == "oidc_timeout_s":
                try:
                    kw[f.name] = float(value)
                except ValueError:
                    raise InvalidInput(f"{var} must be a number of seconds") from None
            elif f.type == "int":
                kw[f.name] = _int(value, var)
            else:
                kw[f.name] = value.strip()
        return cls(**kw)  # type: ignore[arg-type]


def parse_role_map(text: str) -> dict[str, str]:
    """``"audit=auditor,it-admins=admin"`` as a mapping; bad entries raise InvalidInput."""
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        group, sep, role = item.partition("=")
        if not sep or not group.strip() or not role.strip():
            raise InvalidInput(
                f"VAULT_OIDC_ROLE_MAP: expected group=role, not {item!r}", code="invalid_setting"
            )
        out[group.strip()] = role.strip().lower()
    return out


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {value!r}") from None
