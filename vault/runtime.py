"""The running vault: settings, database, keys, policy and audit log, opened once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditKeys, AuditLog, DirectoryWitness, Event, LocalAuditKeys, Witness
from audit.keys import LEGACY_KEY_ID, UnknownAuditKey
from audit.witness import Witnesses
from vault import metrics
from vault.blobs import BlobStore, open_store
from vault.config import Config
from vault.crypto import KeyProvider, LocalKeyring, blind_index, capability, suites
from vault.crypto.capability import Unsealer, WrapOnly
from vault.crypto.errors import AuditKeyUnknown, KeyProviderUnavailable
from vault.crypto.shares import ShareStore
from vault.db import DirectReads, make_engine, make_read_sessionmaker, make_sessionmaker
from vault.errors import InvalidInput
from vault.keyshares import DatabaseShareStore, open_shares
from vault.logs import audit_logger
from vault.models import SitePolicy, VaultSetting
from vault.models.settings import ALGORITHMS
from vault.policy import PolicyEngine, PolicyError

DEFERRED = "audit_deferred"  # events inserted with the commit (write_deferred)
AFTER_COMMIT = "after_commit"  # steps run once the transaction has committed


@dataclass
class Vault:
    """Everything a service needs, built once per process by :meth:`open`."""

    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]  # for transactions that only read (SQLite: no write lock)
    token_read_sessions: sessionmaker[Session]  # a bearer token's read (no transaction)
    direct: DirectReads  # a bearer token's lookup on a read route (the driver's connection)
    keys: WrapOnly  # the wrap-only view; the unsealer is vault.access's alone
    audit: AuditLog
    policy: PolicyEngine
    blobs: BlobStore
    # The algorithm suite of new ciphertext and MACs (decryption goes by the ciphertext).
    suite: suites.Suite = suites.STANDARD
    # Record key shares (vault.crypto.shares): issued at deposit, read by the choke point,
    # shredded by disposal. Kept with the keys, outside the database and its backups.
    shares: ShareStore | DatabaseShareStore | None = None
    _last_seal: float = 0.0
    _last_policy_check: float = 0.0
    _last_chores: float = 0.0
    _chores: list[Callable[[Vault], object]] = field(default_factory=list)
    _ticks: list[Callable[[Vault], object]] = field(default_factory=list)
    _seal_lock: threading.Lock = field(default_factory=threading.Lock)
    _unsealer: Unsealer | None = field(default=None, repr=False)
    _sealer: threading.Thread | None = None
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def open(cls, config: Config, *, keys: KeyProvider | None = None) -> Vault:
        """Open the vault; refuses (InvalidInput / KeyringError / PolicyError) if unusable."""
        if keys is None:
            keys = open_provider(config)
        view, unsealer = capability.split(keys)
        engine = make_engine(config.database_url)
        suite = suites.suite(config.algorithms or _stored_algorithms(engine))
        # The audit MACs, chain and tree follow the vault's suite (HMAC-SM3 and SM3 under
        # ``--algorithms sm``) unless VAULT_AUDIT_ALGORITHM says otherwise.
        audit_algorithm = config.audit_algorithm or suite.mac_hash
        if audit_algorithm == "sm3" and config.key_provider in ("pkcs11", "transit"):
            engine.dispose()
            raise InvalidInput(
                f"the audit log's HMAC-SM3 needs its key in the key file: the "
                f"{config.key_provider} provider computes HMAC-SHA-256 only; set "
                "VAULT_AUDIT_ALGORITHM=sha256 to keep the audit log on SHA-256",
                code="audit_algorithm_unsupported",
            )
        audit = AuditLog(
            keys=audit_keys_of(keys),
            algorithm=audit_algorithm,
            witness=witness_of(config),
            logger=audit_logger(config.logs),
        )
        policy = PolicyEngine(
            config.tenure_years, site_policy=config.site_policy, site_text=_site_text(engine)
        )
        sessions = make_sessionmaker(engine)
        read_sessions = make_read_sessionmaker(engine, writer=sessions)
        token_read_sessions = make_read_sessionmaker(engine, writer=sessions, autocommit=True)
        opened = cls(
            config=config,
            engine=engine,
            sessions=sessions,
            read_sessions=read_sessions,
            token_read_sessions=token_read_sessions,
            direct=DirectReads(engine),
            keys=view,
            _unsealer=unsealer,
            audit=audit,
            policy=policy,
            blobs=open_store(config, engine),
            suite=suite,
            shares=open_shares(config.shares, config.shares_url),
        )
        for maker in (sessions, read_sessions, token_read_sessions):
            _emit_audit_copy_after_commit(maker, audit, opened._wake, opened.direct.listeners)
        return opened

    def index(self, value: str, *, purpose: str) -> str:
        """The blind index of a sensitive value under the vault's suite, to store."""
        return self._index(value, purpose, self.suite.mac_hash)

    def indexes(self, value: str, *, purpose: str) -> tuple[str, ...]:
        """The blind index under every suite, the vault's first: what a lookup matches, so
        a vault holding values indexed under both (a move between suites) finds them all."""
        others = [s.mac_hash for s in suites.SUITES.values() if s.mac_hash != self.suite.mac_hash]
        return tuple(self._index(value, purpose, h) for h in (self.suite.mac_hash, *others))

    def _index(self, value: str, purpose: str, hash_name: str) -> str:
        try:
            return blind_index(
                self.keys.secret("blind-index"), value, purpose=purpose, hash_name=hash_name
            )
        except ValueError:
            raise InvalidInput("nothing to look up in that value", code="invalid_lookup") from None

    def reload_policy(self) -> bool:
        """Take up the site policy now in force in the database; True if it changed.

        Called after an approved policy commits in this process, and by each process's
        background thread every ``policy_refresh_s``. A stored policy that no longer
        validates (say, after an upgrade changed the schema) leaves the one in use.
        """
        self._last_policy_check = time.monotonic()
        text = _site_text(self.engine)
        if text == self.policy.site_text:
            return False
        try:
            self.policy = PolicyEngine(
                self.config.tenure_years, site_policy=self.config.site_policy, site_text=text
            )
        except PolicyError:
            structlog.get_logger("vault").exception("loaded site policy does not validate")
            return False
        structlog.get_logger("vault").info("site policy reloaded")
        return True

    def maybe_seal(self, *, force: bool = False) -> None:
        """Link fresh audit events into the chain, at most once per ``seal_interval_s``."""
        now = time.monotonic()
        if not force and now - self._last_seal < self.config.seal_interval_s:
            return
        if not self._seal_lock.acquire(blocking=force):
            return
        try:
            self._last_seal = now
            with self.engine.connect() as conn:
                self.audit.seal(conn)
        except KeyProviderUnavailable as exc:
            # The provider names itself, never a secret; retried next time.
            structlog.get_logger("vault").error("audit seal failed", error=str(exc))
        except Exception:  # noqa: BLE001 - sealing is retried next time; never fail a request
            structlog.get_logger("vault").exception("audit seal failed")
        finally:
            self._seal_lock.release()

    def add_chore(self, chore: Callable[[Vault], object]) -> None:
        """Run ``chore(vault)`` in the background thread every ``watch_interval_s`` (the
        layers above register theirs, e.g. the departure watch's alerts)."""
        if chore not in self._chores:
            self._chores.append(chore)

    def add_tick(self, tick: Callable[[Vault], object]) -> None:
        """Run ``tick(vault)`` at every turn of the background thread (at most every
        ``seal_interval_s``): the app registers the worker's scheduler there when no
        worker is deployed (``VAULT_BACKGROUND=app``)."""
        if tick not in self._ticks:
            self._ticks.append(tick)

    def run_chores(self) -> None:
        """Run every registered chore now; one that fails is logged and retried next time."""
        self._last_chores = time.monotonic()
        for chore in list(self._chores):
            try:
                chore(self)
            except Exception:  # noqa: BLE001 - a chore never stops the sealer
                structlog.get_logger("vault").exception("background chore failed")

    def start_sealer(self) -> None:
        """Seal in a background thread of this process, never in a request.

        With ``VAULT_BACKGROUND=worker`` the thread only takes up new site policies:
        ``archive-vault worker`` seals, sends the mail and runs the scheduled jobs.

        The thread wakes when a transaction that wrote audit events commits (and at
        least every ``seal_interval_s``, at most that often), so requests only append
        events with their MAC and never wait on the chain. Started by the app on its
        first request, so that each server process (after the fork) has its own.
        """
        if not self.config.seal_in_background or (
            self._sealer is not None and self._sealer.is_alive()
        ):
            return
        with self._seal_lock:
            if self._sealer is not None and self._sealer.is_alive():
                return
            self._stop.clear()
            self._sealer = threading.Thread(
                target=self._seal_loop, name="audit-sealer", daemon=True
            )
            self._sealer.start()

    def _seal_loop(self) -> None:
        interval = self.config.seal_interval_s
        while not self._stop.is_set():
            self._wake.wait(timeout=max(interval, 0.05) if interval else 1.0)
            if self._stop.is_set():
                return
            if interval:
                self._stop.wait(timeout=max(0.0, interval - (time.monotonic() - self._last_seal)))
            self._wake.clear()
            if self.config.background == "app":  # else `archive-vault worker` seals
                self.maybe_seal(force=True)
            if time.monotonic() - self._last_policy_check >= self.config.policy_refresh_s:
                try:
                    self.reload_policy()
                except Exception:  # noqa: BLE001 - retried next time; the policy in use stays
                    structlog.get_logger("vault").exception("site policy check failed")
            for tick in list(self._ticks):
                try:
                    tick(self)
                except Exception:  # noqa: BLE001 - a tick never stops the sealer
                    structlog.get_logger("vault").exception("background tick failed")
            if (
                self._chores
                and self.config.background == "app"
                and (time.monotonic() - self._last_chores >= self.config.watch_interval_s)
            ):
                self.run_chores()

    def close(self) -> None:
        """Stop the sealer (sealing what is left) and release database connections."""
        if self._sealer is not None:
            self._stop.set()
            self._wake.set()
            self._sealer.join(timeout=5)
            self._sealer = None
            if self.config.background == "app":
                self.maybe_seal(force=True)
        self.direct.close()
        self.engine.dispose()
        if self.shares is not None:
            self.shares.close()


def witness_of(config: Config) -> Witness | None:
    """Where every checkpoint is also kept: the witness directory and/or the KV path."""
    found: list[Witness] = []
    if config.witness_dir:
        found.append(DirectoryWitness(config.witness_dir))
    if config.witness_kv_path:
        from vault.witness_kv import KvWitness

        if not config.transit_url:
            raise InvalidInput(
                "the KV witness needs VAULT_TRANSIT_URL (the OpenBao server)",
                code="key_provider_settings",
            )
        found.append(
            KvWitness(
                url=config.transit_url,
                token=config.with_(key_provider="transit").provider_secret("transit_token"),
                location=config.witness_kv_path,
            )
        )
    if not found:
        return None
    return found[0] if len(found) == 1 else Witnesses(*found)


def audit_keys_of(keys: KeyProvider) -> AuditKeys:
    """The audit log's keys from the key provider: by version, inside the provider where
    it keeps them (an HSM, Transit), else the key file's."""
    own = getattr(keys, "audit_keys", None)
    if callable(own):
        return _ProviderAuditKeys(own())
    # A provider without versions (a test's own): its one secret and signing key.
    return LocalAuditKeys(
        {LEGACY_KEY_ID: keys.secret("audit-mac")}, signing={LEGACY_KEY_ID: keys.signing_key()}
    )


class _ProviderAuditKeys:
    """A provider's audit keys as the audit log takes them: its "unknown key" error
    becomes the log's (``vault.crypto`` does not import ``audit``)."""

    def __init__(self, keys: Any) -> None:
        self._keys = keys

    def __repr__(self) -> str:
        return repr(self._keys)

    def __reduce__(self) -> Any:
        raise TypeError("audit keys cannot be pickled")

    @property
    def provider_keys(self) -> Any:
        """The provider's own object (it rotates)."""
        return self._keys

    def mac_key_id(self) -> str:
        return str(self._keys.mac_key_id())

    def signing_key_id(self) -> str | None:
        return str(self._keys.signing_key_id())

    def macs(self, key_id: str, algorithm: str, messages: Any) -> list[str]:
        try:
            return list(self._keys.macs(key_id, algorithm, messages))
        except AuditKeyUnknown as exc:
            raise UnknownAuditKey(str(exc)) from None

    def sign(self, key_id: str, message: bytes) -> bytes:
        try:
            return bytes(self._keys.sign(key_id, message))
        except AuditKeyUnknown as exc:
            raise UnknownAuditKey(str(exc)) from None

    def public_key(self, key_id: str) -> Any:
        try:
            return self._keys.public_key(key_id)
        except AuditKeyUnknown as exc:
            raise UnknownAuditKey(str(exc)) from None


def _site_text(engine: Engine) -> str:
    """The site policy in force in the database ("" if none, or before its table exists)."""
    try:
        with engine.connect() as conn:
            text = conn.scalar(
                select(SitePolicy.text)
                .where(SitePolicy.replaced_at.is_(None))
                .order_by(SitePolicy.id.desc())
                .limit(1)
            )
    except (OperationalError, ProgrammingError):
        return ""  # a database not yet migrated: `init` / `migrate` come first
    return text or ""


def _stored_algorithms(engine: Engine) -> str:
    """The suite `init` stored ("standard" if none, or before the table exists)."""
    try:
        with engine.connect() as conn:
            stored = conn.scalar(select(VaultSetting.value).where(VaultSetting.name == ALGORITHMS))
    except (OperationalError, ProgrammingError):
        return suites.STANDARD.name  # a database not yet migrated: `init` comes first
    return stored or suites.STANDARD.name


def open_provider(config: Config, name: str | None = None) -> KeyProvider:
    """The key provider ``name`` (default: the configured one) built from the settings.

    ``local`` is the key file. ``pkcs11`` and ``transit`` keep their key-encryption keys
    outside the vault and read the key file for the vault's secrets and the data keys not
    yet migrated (see ``vault.crypto.external``). Nothing is contacted here: the token or
    server is reached on first use, and failing then raises ``KeyProviderUnavailable``.
    """
    name = config.key_provider if name is None else name
    if name == "local":
        return LocalKeyring.load(config.keyring)
    if name == "pkcs11":
        from vault.crypto.hsm import Pkcs11Provider

        if not config.pkcs11_module:
            raise InvalidInput(
                "the pkcs11 key provider needs VAULT_PKCS11_MODULE (the PKCS#11 library)",
                code="key_provider_settings",
            )
        return Pkcs11Provider(
            module=config.pkcs11_module,
            token_label=config.pkcs11_token_label,
            pin=config.with_(key_provider=name).provider_secret("pkcs11_pin"),
            key_label=config.pkcs11_key_label,
            keyfile=LocalKeyring.load(config.keyring),
        )
    if name == "transit":
        from vault.crypto.transit import TransitProvider

        if not config.transit_url:
            raise InvalidInput(
                "the transit key provider needs VAULT_TRANSIT_URL (the server's address)",
                code="key_provider_settings",
            )
        return TransitProvider(
            url=config.transit_url,
            token=config.with_(key_provider=name).provider_secret("transit_token"),
            key=config.transit_key,
            mount=config.transit_mount,
            keyfile=LocalKeyring.load(config.keyring),
        )
    raise InvalidInput(
        f"unknown key provider {name!r} (local, pkcs11 or transit)", code="key_provider_settings"
    )


def _emit_audit_copy_after_commit(
    sessions: sessionmaker[Session],
    audit: AuditLog,
    wake: threading.Event,
    listeners: Sequence[Callable[[str], None]] = (),
) -> None:
    """The structlog copy gets an event only once its transaction has committed; the
    sealer is woken for it."""

    @event.listens_for(sessions, "before_commit")
    def _deferred(session: Session) -> None:
        write_deferred(audit, session, listeners)

    @event.listens_for(sessions, "after_commit")
    def _emit(session: Session) -> None:
        pending = session.info.pop("audit_pending", [])
        for ev in pending:
            audit.emit(ev)
        if pending:
            wake.set()

    @event.listens_for(sessions, "after_rollback")
    def _drop(session: Session) -> None:
        # Nothing of a rolled-back act is announced: neither its events nor its mail.
        session.info.pop("audit_pending", None)
        session.info.pop(DEFERRED, None)
        session.info.pop("notify_outbox", None)


def after_commit(db: Session, step: Callable[[], object]) -> None:
    """Run ``step`` once ``db``'s transaction has committed (never if it rolls back).

    For acts outside the database that must not happen unless their audit event is
    kept, such as removing a key from the keyring or loading an approved policy.
    """
    if not db.info.get(_HOOKED):
        # Listeners of this session (not of its sessionmaker): any session may carry steps.
        event.listen(db, "after_commit", _run_after_commit)
        event.listen(db, "after_rollback", _drop_after_commit)
        db.info[_HOOKED] = True
    db.info.setdefault(AFTER_COMMIT, []).append(step)


_HOOKED = "after_commit_hooked"
_SHARES = "key_shares"  # record key shares staged for the share file (stage_share)


def stage_share(v: Vault, db: Session, record_id: int, share: bytes) -> None:
    """Keep a record's key share for the share file, written in one transaction of its
    own just before ``db`` commits (all the shares of a unit of work, one disk flush); a
    failure to write them fails the commit, so no record commits without its share."""
    if v.shares is None:
        raise InvalidInput("this vault has no share file", code="key_provider_settings")
    staged = db.info.get(_SHARES)
    if staged is None:
        staged = db.info[_SHARES] = {}
        if not db.info.get(_SHARES_HOOKED):
            store = v.shares

            def write(session: Session) -> None:
                pending = session.info.pop(_SHARES, None)
                if pending:
                    store.store(pending)

            def drop(session: Session) -> None:
                session.info.pop(_SHARES, None)

            event.listen(db, "before_commit", write)
            event.listen(db, "after_rollback", drop)
            db.info[_SHARES_HOOKED] = True
    staged[record_id] = share


_SHARES_HOOKED = "key_shares_hooked"


def _run_after_commit(session: Session) -> None:
    # A step that fails raises from the commit: the act and its event are kept, and the
    # caller (a CLI command, a route) says so, so that the operator runs it again.
    steps, session.info[AFTER_COMMIT] = session.info.pop(AFTER_COMMIT, []), []
    for step in steps:
        step()


def _drop_after_commit(session: Session) -> None:
    session.info.pop(AFTER_COMMIT, None)


def write_deferred(
    audit: AuditLog, db: Session, listeners: Sequence[Callable[[str], None]] = ()
) -> None:
    """Insert the held-back events of ``db``'s transaction just before it commits.

    Each insert is sent as compiled once, on the driver's connection. On PostgreSQL
    (psycopg) the inserts and the COMMIT go out in one pipeline, so the audited act costs
    one round trip for both; the driver's own COMMIT that follows is then a no-op. On
    SQLite each is one statement of the transaction, told to ``listeners`` (those who
    count statements). A failure raises here, and the commit, and so the act, fails.
    """
    events = db.info.pop(DEFERRED, None)
    if not events:
        return
    with metrics.audit_append("deferred"):
        _write_deferred(audit, db, events, listeners)


def _write_deferred(
    audit: AuditLog, db: Session, events: list[Event], listeners: Sequence[Callable[[str], None]]
) -> None:
    # SQLAlchemy flushes pending changes after this hook: flush them now, so that the act
    # and its events commit in the one transaction the pipeline ends.
    db.flush()
    conn = db.connection()
    raw: Any = conn.connection.dbapi_connection
    dialect = conn.dialect
    sql = audit.insert_sql(dialect)
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        if dialect.name != "postgresql" or not hasattr(raw, "pipeline"):
            # SQLite: sent on the driver's connection as compiled once, in the
            # transaction the commit then ends.
            cur = raw.cursor()
            try:
                for ev in events:
                    for listener in listeners:
                        listener(sql)
                    cur.execute(sql, audit.insert_args(dialect, ev))
            finally:
                cur.close()
            return
        # The COMMIT is one more statement of the pipeline (psycopg's commit() would
        # sync on its own, and leaving the pipeline syncs again: two round trips).
        with raw.pipeline(), raw.cursor() as cur:
            for ev in events:
                cur.execute(sql, audit.insert_args(dialect, ev))
            cur.execute("COMMIT", prepare=False)
    except dbapi_error as exc:
        # Reported like any other storage failure (503): the act did not happen.
        raise DBAPIError.instance(sql, None, exc, dbapi_error, dialect=dialect) from exc
