"""The running vault: settings, database, keys, policy and audit log, opened once."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditLog
from vault.archive.blobs import BlobStore
from vault.config import Config
from vault.crypto import KeyProvider, LocalKeyring, blind_index
from vault.db import make_engine, make_sessionmaker
from vault.errors import InvalidInput
from vault.logs import audit_logger
from vault.policy import PolicyEngine


@dataclass
class Vault:
    """Everything a service needs, built once per process by :meth:`open`."""

    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    keys: KeyProvider
    audit: AuditLog
    policy: PolicyEngine
    blobs: BlobStore
    _last_seal: float = 0.0
    _seal_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, config: Config, *, keys: KeyProvider | None = None) -> Vault:
        """Open the vault; refuses (InvalidInput / KeyringError / PolicyError) if unusable."""
        if keys is None:
            if config.key_provider != "local":
                raise InvalidInput(f"unknown key provider {config.key_provider!r}")
            keys = LocalKeyring.load(config.keyring)
        engine = make_engine(config.database_url)
        audit = AuditLog(
            keys.secret("audit-mac"),
            signing_key=keys.signing_key(),
            verify_key=keys.verify_key(),
            logger=audit_logger(config.logs),
        )
        policy = PolicyEngine(config.tenure_years, site_policy=config.site_policy)
        sessions = make_sessionmaker(engine)
        _emit_audit_copy_after_commit(sessions, audit)
        return cls(
            config=config,
            engine=engine,
            sessions=sessions,
            keys=keys,
            audit=audit,
            policy=policy,
            blobs=BlobStore(config.blobs),
        )

    def index(self, value: str, *, purpose: str) -> str:
        """The blind index of a sensitive value, for exact-match lookup."""
        try:
            return blind_index(self.keys.secret("blind-index"), value, purpose=purpose)
        except ValueError:
            raise InvalidInput("nothing to look up in that value", code="invalid_lookup") from None

    def maybe_seal(self) -> None:
        """Link fresh audit events into the chain, at most once per ``seal_interval_s``."""
        now = time.monotonic()
        if now - self._last_seal < self.config.seal_interval_s:
            return
        if not self._seal_lock.acquire(blocking=False):
            return
        try:
            self._last_seal = now
            with self.engine.connect() as conn:
                self.audit.seal(conn)
        except Exception:  # noqa: BLE001 - sealing is retried next time; never fail a request
            structlog.get_logger("vault").exception("audit seal failed")
        finally:
            self._seal_lock.release()

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def _emit_audit_copy_after_commit(sessions: sessionmaker[Session], audit: AuditLog) -> None:
    """The structlog copy gets an event only once its transaction has committed."""

    @event.listens_for(sessions, "after_commit")
    def _emit(session: Session) -> None:
        for ev in session.info.pop("audit_pending", []):
            audit.emit(ev)

    @event.listens_for(sessions, "after_rollback")
    def _drop(session: Session) -> None:
        session.info.pop("audit_pending", None)
