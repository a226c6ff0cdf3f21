"""Signing people in: local accounts (argon2id, TOTP, lockout) and single sign-on people.

Every attempt, allowed or refused, is written to the audit log in the same transaction
as its effect. The order of a local sign-in is fixed, cheapest refusal first:

1. refuse at once (no password hashing) when the client address or the account has
   too many recent failures: the limit protects the server's CPU as well as the account;
2. verify the password (an unknown account costs the same time as a known one);
3. verify the one-time code when the person has one, and require one of every admin;
4. ask the policy whether this person may sign in now (leaving date, disabled);
5. record the sign-in.

Failures are counted per account and per client address in the database, so the
limit holds across worker processes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pyotp.exceptions import OTPVerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault import auditing, authz
from vault.caller import Caller
from vault.crypto import DataKey, DecryptionError, WrappedKey, decrypt_field, encrypt_field
from vault.crypto.contexts import totp_context
from vault.db import utcnow
from vault.errors import (
    Conflict,
    Denied,
    InvalidInput,
    TooManyAttempts,
    Unauthenticated,
    VaultError,
)
from vault.identity import sessions
from vault.models import LocalCredential, LoginFailure, Person, Role
from vault.people import departures, directory
from vault.policy import Action, Decision
from vault.runtime import Vault

PASSWORD_MIN, PASSWORD_MAX = 12, 256


TOTP_ISSUER = "Archive Vault"


_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (~0.1 s per check)


_dummy_hash: str | None = None


@dataclass(frozen=True)
class Attempt:
    """Where a sign-in attempt comes from, for the audit log and the per-address limit."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str = ""

    def caller(self, person: Person | None, subject: str) -> Caller:
        """The audit log's caller for this attempt."""
        return Caller(
            person=person,
            ip=self.ip,
            user_agent=self.user_agent,
            request_id=self.request_id or secrets.token_hex(16),
            subject=subject,
        )


@dataclass(frozen=True)
class Enrollment:
    """A freshly enrolled TOTP secret: shown once, then only its sealed form is kept."""

    secret: str
    uri: str


@dataclass(frozen=True)
class SignIn:
    """A sign-in that succeeded, or that still waits for the vault's own one-time code."""

    person: Person
    second_factor: bool  # a one-time code, or the provider's proof of one
    step_up: bool = False  # an admin through single sign-on: type the one-time code first


def _credential(db: Session, person: Person) -> LocalCredential:
    cred = db.get(LocalCredential, person.id)
    if cred is None:
        cred = LocalCredential(person_id=person.id)
        db.add(cred)
    return cred


def check_password_rules(password: str) -> None:
    """Refuse passwords that are too short or too long (length is what matters)."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(
            f"a password needs {PASSWORD_MIN} to {PASSWORD_MAX} characters",
            code="weak_password",
        )
    if not password.strip():
        raise InvalidInput("a password cannot be only spaces", code="weak_password")


def _store_password(db: Session, person: Person, cred: LocalCredential, password: str) -> None:
    """Hash and store a new password; the failed attempts against the account start over."""
    cred.password_hash = _hasher.hash(password)
    cred.password_set_at = utcnow()
    db.flush()
    _clear_failures(db, "account", person.email)


def set_password(v: Vault, db: Session, caller: Caller, person: Person, password: str) -> None:
    """Set or replace ``person``'s local password (the operator's act; audited)."""
    authz.require(v, db, caller, Action.PERSON_UPDATE)
    check_password_rules(password)
    _store_password(db, person, _credential(db, person), password)
    auditing.record(
        v,
        db,
        caller,
        Action.PERSON_UPDATE,
        resource={"person": person.id},
        details={"credential": "password"},
    )
    # Whoever knew the old password may be signed in with it: every session ends.
    sessions.end_all_sessions(v, db, caller, person, "password_changed")


def enroll_totp(v: Vault, db: Session, caller: Caller, person: Person) -> Enrollment:
    """Give ``person`` a new TOTP secret (replacing any old one); returned once, kept sealed."""
    authz.require(v, db, caller, Action.PERSON_UPDATE)
    secret = pyotp.random_base32()
    _store_totp(v, _credential(db, person), person, secret)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.PERSON_UPDATE,
        resource={"person": person.id},
        details={"credential": "totp"},
    )
    sessions.end_all_sessions(v, db, caller, person, "totp_changed")
    uri = pyotp.TOTP(secret).provisioning_uri(name=person.email, issuer_name=TOTP_ISSUER)
    return Enrollment(secret=secret, uri=uri)


def _store_totp(
    v: Vault, cred: LocalCredential, person: Person, secret: str, last_step: int | None = None
) -> None:
    """Seal ``secret`` as ``person``'s one-time-code secret under a fresh data key."""
    dek = DataKey.generate()
    cred.totp_wrapped_dek = v.keys.wrap(dek, totp_context(person.id)).to_bytes()
    cred.totp_secret_ct = encrypt_field(
        dek,
        secret.encode(),
        record_id=f"person:{person.id}",
        field="totp",
        version=1,
        cipher=v.suite.cipher,
    )
    cred.totp_last_step = last_step
    cred.totp_enrolled_at = utcnow()


def _totp_secret(v: Vault, cred: LocalCredential) -> str | None:
    if cred.totp_secret_ct is None or cred.totp_wrapped_dek is None:
        return None
    try:
        dek = v.keys.unwrap_own_secret(
            WrappedKey.from_bytes(cred.totp_wrapped_dek), totp_context(cred.person_id)
        )
        return decrypt_field(
            dek, cred.totp_secret_ct, record_id=f"person:{cred.person_id}", field="totp", version=1
        ).decode()
    except (DecryptionError, ValueError):
        return None  # a secret that cannot be opened verifies nothing (fail closed)


def _check_totp(v: Vault, cred: LocalCredential, code: str) -> bool:
    """Whether ``code`` is valid now (one step of clock drift) and was not used before."""
    code = code.strip().replace(" ", "")
    secret = _totp_secret(v, cred)
    if secret is None or not (code.isdigit() and len(code) == 6):
        return False
    try:
        step = pyotp.TOTP(secret).verify_and_get_timecode(code, valid_window=1)
    except (OTPVerificationError, ValueError):
        return False
    if cred.totp_last_step is not None and step <= cred.totp_last_step:
        return False  # replayed: each code signs in once
    cred.totp_last_step = step
    return True


def _verify_password(stored: str | None, password: str) -> bool:
    """Check a password; an account without one costs the same time and fails."""
    global _dummy_hash
    if stored is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        stored = _dummy_hash
        password = password + "\x00never"
    try:
        return bool(_hasher.verify(stored, password[:PASSWORD_MAX]))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _key(scope: str, value: str | None) -> str:
    # Hashed: the table never holds typed e-mail addresses (or passwords typed into them).
    return hashlib.sha256(f"{scope}:{(value or 'unknown').strip().lower()}".encode()).hexdigest()


def _failures(v: Vault, db: Session, scope: str, value: str | None) -> int:
    since = utcnow() - timedelta(minutes=v.config.auth.login_window_minutes)
    return int(
        db.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(
                LoginFailure.scope == scope,
                LoginFailure.key == _key(scope, value),
                LoginFailure.at >= since,
            )
        )
        or 0
    )


def _clear_failures(db: Session, scope: str, value: str | None) -> None:
    db.execute(
        delete(LoginFailure).where(
            LoginFailure.scope == scope, LoginFailure.key == _key(scope, value)
        )
    )


def _count_failure(
    v: Vault,
    db: Session,
    caller: Caller,
    email: str,
    person: Person | None,
    attempt: Attempt,
    reason: str,
    action: Action = Action.AUTH_LOGIN,
    details: dict[str, str | int | bool | None] | None = None,
) -> None:
    """Record a failed attempt (audited as ``action``); lock the account when it crosses
    the limit. A wrong current password on one's own page counts like a wrong sign-in."""
    settings = v.config.auth
    now = utcnow()
    db.execute(
        delete(LoginFailure).where(
            LoginFailure.at < now - timedelta(minutes=settings.login_window_minutes)
        )
    )
    db.add(LoginFailure(scope="account", key=_key("account", email), at=now))
    db.add(LoginFailure(scope="ip", key=_key("ip", attempt.ip), at=now))
    db.flush()
    resource = {"person": person.id} if person is not None else {}
    auditing.record(
        v,
        db,
        caller,
        action,
        outcome="denied",
        reason=reason,
        resource=resource,
        details=details if details is not None else {"method": "password"},
    )
    for scope, value, limit in (
        ("account", email, settings.login_max_failures),
        ("ip", attempt.ip, settings.login_ip_max_failures),
    ):
        if _failures(v, db, scope, value) == limit:
            auditing.record(
                v,
                db,
                caller,
                Action.AUTH_LOCKOUT,
                outcome="ok",
                reason=f"{scope}_locked",
                resource=resource,
                details={
                    "scope": scope,
                    "failures": limit,
                    "minutes": settings.login_window_minutes,
                },
            )


def _refuse_if_throttled(
    v: Vault,
    db: Session,
    caller: Caller,
    email: str,
    attempt: Attempt,
    action: Action = Action.AUTH_LOGIN,
    details: dict[str, str | int | bool | None] | None = None,
) -> None:
    settings = v.config.auth
    for scope, value, limit, code in (
        ("ip", attempt.ip, settings.login_ip_max_failures, "too_many_attempts"),
        ("account", email, settings.login_max_failures, "account_locked"),
    ):
        if _failures(v, db, scope, value) >= limit:
            raise authz.refuse(
                TooManyAttempts(
                    f"too many failed sign-ins; try again in {settings.login_window_minutes} "
                    "minutes",
                    code=code,
                ),
                v,
                caller,
                action,
                details=details if details is not None else {"method": "password"},
            )


def _signed_in(
    v: Vault, db: Session, who: Caller, person: Person, details: dict[str, str | int | bool | None]
) -> None:
    """The policy decides whether this person may sign in now (leaving date, disabled);
    the sign-in is audited either way."""
    authz.require(v, db, who, Action.AUTH_LOGIN, details={"method": details["method"]})
    auditing.record(
        v,
        db,
        who,
        Action.AUTH_LOGIN,
        outcome="ok",
        reason="signed_in",
        resource={"person": person.id},
        details=details,
    )


def _bad_credentials(
    v: Vault, caller: Caller, email: str, person: Person | None, attempt: Attempt
) -> Unauthenticated:
    """The refusal of a wrong e-mail, password or code: it keeps the failure's count."""

    def count(db: Session) -> None:
        _count_failure(v, db, caller, email, person, attempt, "bad_credentials")

    return Unauthenticated(
        "wrong e-mail, password or one-time code", code="bad_credentials", keep=(count,)
    )


def sign_in_with_password(
    v: Vault, db: Session, email: str, password: str, code: str, attempt: Attempt
) -> SignIn:
    """Sign in with a local password (and one-time code); every outcome is audited.

    Raises:
        TooManyAttempts: the account or the address is locked for now (nothing verified).
        Unauthenticated: ``bad_credentials`` for a wrong e-mail, password or code alike.
        Denied: ``totp_enrollment_required`` (an admin without a code), or the policy's
            reason (``person_departing``, ``person_disabled``).
    """
    email = (email or "").strip().lower()[:254]
    password = password or ""
    anonymous = attempt.caller(None, f"local:{email}")
    _refuse_if_throttled(v, db, anonymous, email, attempt)
    person = db.scalar(select(Person).where(Person.email == email)) if email else None
    cred = db.get(LocalCredential, person.id) if person is not None else None
    stored = cred.password_hash if cred is not None else None
    if not _verify_password(stored, password) or person is None or cred is None:
        raise _bad_credentials(v, anonymous, email, person, attempt)
    who = attempt.caller(person, f"local:{email}")
    enrolled = cred.totp_secret_ct is not None
    if not enrolled and person.has_role(Role.ADMIN):
        raise authz.refuse(
            Denied(
                "admins sign in with a one-time code: ask the operator to run "
                "'archive-vault people enroll-totp'",
                code="totp_enrollment_required",
            ),
            v,
            who,
            Action.AUTH_LOGIN,
            resource={"person": person.id},
            details={"method": "password"},
        )
    if enrolled and not _check_totp(v, cred, code or ""):
        raise _bad_credentials(v, anonymous, email, person, attempt)
    if _hasher.check_needs_rehash(cred.password_hash or ""):
        cred.password_hash = _hasher.hash(password)
    _clear_failures(db, "account", email)  # undone with the rest if the policy refuses
    _signed_in(v, db, who, person, {"method": "password", "totp": enrolled})
    return SignIn(person=person, second_factor=enrolled)


def has_password(db: Session, person: Person) -> bool:
    """Whether ``person`` has a local password."""
    cred = db.get(LocalCredential, person.id)
    return cred is not None and cred.password_hash is not None


def has_totp(db: Session, person: Person) -> bool:
    """Whether ``person`` has enrolled a one-time code."""
    cred = db.get(LocalCredential, person.id)
    return cred is not None and cred.totp_secret_ct is not None


# ---- One's own account: changing the password and the one-time code -----------------------

# How long a new one-time-code secret waits for its first code before it must be made again.
PENDING_TOTP_MINUTES = 10


@dataclass(frozen=True)
class PendingTotp:
    """A new one-time-code secret, shown to its person, waiting for a first code from it.

    ``sealed`` carries it to the confirming form: sealed under a fresh data key wrapped
    for this person, bound to the browser session it was made in, good for
    ``PENDING_TOTP_MINUTES``. Nothing is replaced until a code from it is confirmed."""

    secret: str
    uri: str
    sealed: str


def _own(
    v: Vault, db: Session, caller: Caller, person: Person, action: Action
) -> tuple[LocalCredential, Decision]:
    """Decide an act on ``person``'s own account: theirs alone, from a signed-in browser."""
    decision = authz.decide(
        v, caller, action, is_self=caller.person_id == person.id, by_token=caller.via_token
    )
    authz.require(v, db, caller, action, resource={"person": person.id}, decision=decision)
    cred = db.get(LocalCredential, person.id)
    if cred is None or cred.password_hash is None:
        raise authz.refuse(
            Conflict(
                "your password is managed by your identity provider", code="no_local_password"
            ),
            v,
            caller,
            action,
            resource={"person": person.id},
        )
    return cred, decision


def _attempt(caller: Caller) -> Attempt:
    return Attempt(ip=caller.ip, user_agent=caller.user_agent, request_id=caller.request_id)


def _check_current(
    v: Vault,
    db: Session,
    caller: Caller,
    person: Person,
    cred: LocalCredential,
    action: Action,
    password: str,
    code: str | None,
) -> None:
    """The current password (and current one-time code, when enrolled and ``code`` is
    asked): throttled and counted toward the account's lockout like a sign-in."""
    attempt = _attempt(caller)
    details: dict[str, str | int | bool | None] = {"method": "password"}
    _refuse_if_throttled(v, db, caller, person.email, attempt, action, details)
    wrong = None
    if not _verify_password(cred.password_hash, password or ""):
        wrong = InvalidInput("the current password is wrong", code="wrong_password")
    elif code is not None and cred.totp_secret_ct is not None and not _check_totp(v, cred, code):
        wrong = InvalidInput("the current one-time code is wrong", code="wrong_code")
    if wrong is None:
        return
    reason = wrong.code

    def count(session: Session) -> None:
        _count_failure(v, session, caller, person.email, person, attempt, reason, action, details)

    wrong.keep = (count,)
    raise wrong


def _refused(
    v: Vault, caller: Caller, person: Person, action: Action, exc: VaultError
) -> Exception:
    return authz.refuse(exc, v, caller, action, resource={"person": person.id})


def change_own_password(
    v: Vault,
    db: Session,
    caller: Caller,
    person: Person,
    current: str,
    new: str,
    again: str,
    *,
    session_id: int | None = None,
) -> int:
    """``person`` changes their own local password (audited as ``account:password``).

    The current password is checked first (a wrong one counts toward the lockout); the
    new one follows the rules of :func:`check_password_rules`, typed twice, and is hashed
    with argon2id's current parameters. Every other session of theirs ends; the one with
    id ``session_id`` (where they made the change) stays.

    Returns:
        How many other sessions ended.
    """
    action = Action.ACCOUNT_PASSWORD
    cred, decision = _own(v, db, caller, person, action)
    _check_current(v, db, caller, person, cred, action, current, None)
    try:
        check_password_rules(new)
    except InvalidInput as exc:
        raise _refused(v, caller, person, action, exc) from None
    if new != again:
        raise _refused(
            v,
            caller,
            person,
            action,
            InvalidInput("the new password was not typed the same twice", code="password_mismatch"),
        )
    _store_password(db, person, cred, new)
    auditing.record(
        v,
        db,
        caller,
        action,
        decision=decision,
        resource={"person": person.id},
        details={"credential": "password"},
    )
    return sessions.end_all_sessions(
        v, db, caller, person, "password_changed", except_session=session_id
    )


def _pending_place(person: Person, session_id: int | None) -> dict[str, str | int]:
    return {"record_id": f"person:{person.id}", "field": f"totp_pending:{session_id}", "version": 1}


def start_totp_change(
    v: Vault,
    db: Session,
    caller: Caller,
    person: Person,
    current: str,
    code: str,
    *,
    session_id: int | None = None,
) -> PendingTotp:
    """Make ``person`` a new one-time-code secret, after their current password and
    current code (a wrong one counts toward the lockout); audited as ``account:totp``.
    The old secret stays in force until :func:`confirm_totp_change`."""
    action = Action.ACCOUNT_TOTP
    cred, decision = _own(v, db, caller, person, action)
    _check_current(v, db, caller, person, cred, action, current, code or "")
    _clear_failures(db, "account", person.email)
    secret = pyotp.random_base32()
    dek = DataKey.generate()
    wrapped = v.keys.wrap(dek, totp_context(person.id)).to_bytes()
    issued = int(utcnow().timestamp())
    sealed = encrypt_field(
        dek,
        f"{issued}:{secret}".encode(),
        cipher=v.suite.cipher,
        **_pending_place(person, session_id),  # type: ignore[arg-type]
    )
    auditing.record(
        v,
        db,
        caller,
        action,
        decision=decision,
        resource={"person": person.id},
        details={"credential": "totp", "step": "new_secret"},
    )
    uri = pyotp.TOTP(secret).provisioning_uri(name=person.email, issuer_name=TOTP_ISSUER)
    text = ".".join(base64.urlsafe_b64encode(b).decode() for b in (wrapped, sealed))
    return PendingTotp(secret=secret, uri=uri, sealed=text)


def _open_pending(v: Vault, person: Person, sealed: str, session_id: int | None) -> str | None:
    """The pending secret ``sealed`` carries, if it is this person's, from this session
    and fresh; ``None`` otherwise."""
    try:
        wrapped_text, ct_text = (sealed or "").split(".")
        wrapped = WrappedKey.from_bytes(base64.urlsafe_b64decode(wrapped_text))
        dek = v.keys.unwrap_own_secret(wrapped, totp_context(person.id))
        plain = decrypt_field(
            dek,
            base64.urlsafe_b64decode(ct_text),
            **_pending_place(person, session_id),  # type: ignore[arg-type]
        ).decode()
        issued, _, secret = plain.partition(":")
        age = utcnow().timestamp() - int(issued)
    except (DecryptionError, ValueError, TypeError):
        return None
    if not 0 <= age <= PENDING_TOTP_MINUTES * 60 or not secret:
        return None
    return secret


def reopen_pending_totp(
    v: Vault, person: Person, sealed: str, session_id: int | None = None
) -> PendingTotp | None:
    """The pending secret again (to type a code from it once more after a wrong one),
    if ``sealed`` is still good for this person and session; records nothing."""
    secret = _open_pending(v, person, sealed, session_id)
    if secret is None:
        return None
    uri = pyotp.TOTP(secret).provisioning_uri(name=person.email, issuer_name=TOTP_ISSUER)
    return PendingTotp(secret=secret, uri=uri, sealed=sealed)


def confirm_totp_change(
    v: Vault,
    db: Session,
    caller: Caller,
    person: Person,
    sealed: str,
    code: str,
    *,
    session_id: int | None = None,
) -> int:
    """Replace ``person``'s one-time-code secret with the pending one, on a valid code
    from it (audited as ``account:totp``); every other session of theirs ends.

    Returns:
        How many other sessions ended.
    """
    action = Action.ACCOUNT_TOTP
    cred, decision = _own(v, db, caller, person, action)
    secret = _open_pending(v, person, sealed, session_id)
    if secret is None:
        raise _refused(
            v,
            caller,
            person,
            action,
            InvalidInput("the new secret has expired: make another", code="totp_pending_expired"),
        )
    digits = (code or "").strip().replace(" ", "")
    step = None
    if digits.isdigit() and len(digits) == 6:
        try:
            step = pyotp.TOTP(secret).verify_and_get_timecode(digits, valid_window=1)
        except (OTPVerificationError, ValueError):
            step = None
    if step is None:
        raise _refused(
            v,
            caller,
            person,
            action,
            InvalidInput("the code is not one of the new secret", code="wrong_new_code"),
        )
    # The confirming code is used: it does not sign in afterwards (replay).
    _store_totp(v, cred, person, secret, last_step=step)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        action,
        decision=decision,
        resource={"person": person.id},
        details={"credential": "totp", "step": "replaced"},
    )
    return sessions.end_all_sessions(
        v, db, caller, person, "totp_changed", except_session=session_id
    )


@dataclass(frozen=True)
class SsoIdentity:
    """What the identity provider vouched for, already validated by the web layer."""

    subject: str
    email: str
    name: str
    email_verified: bool = False
    groups: tuple[str, ...] = ()
    hired_on: date | None = None
    leaving_on: date | None = None
    # The hire date came in the signed ID token (not only from userinfo): it counts as
    # confirmed, as a second admin's confirmation would (DESIGN §3.10).
    hired_on_signed: bool = False
    # How the provider authenticated the person (ID token ``amr`` and ``acr``).
    amr: tuple[str, ...] = ()
    acr: str | None = None


def roles_for(groups: tuple[str, ...], role_map: dict[str, str] | None) -> tuple[str, ...]:
    """Vault roles from provider groups: everyone is an employee; custodian is never mapped."""
    roles = {Role.EMPLOYEE.value}
    for group in groups:
        role = (role_map or {}).get(group)
        if role in (Role.AUDITOR.value, Role.ADMIN.value):
            roles.add(role)
    return tuple(sorted(roles))


def _find_sso_person(db: Session, ident: SsoIdentity) -> Person | None:
    person = db.scalar(select(Person).where(Person.sso_subject == ident.subject))
    if person is not None:
        return person
    by_email = db.scalar(select(Person).where(Person.email == ident.email))
    if by_email is None:
        return None
    # Link an existing person only on the provider's word that the address is theirs,
    # and only once: an address already linked to another subject is not taken over.
    if ident.email_verified and by_email.sso_subject is None:
        by_email.sso_subject = ident.subject
        return by_email
    raise Conflict("this e-mail address belongs to another vault account", code="sso_email_taken")


def sync_sso_person(v: Vault, db: Session, ident: SsoIdentity, attempt: Attempt) -> Person:
    """Create or update the person the provider vouched for (audited), before sign-in.

    The first sign-in creates the person (hire date from the claim, or today); every
    sign-in sets the roles from the groups. A leaving date arriving by claim starts the
    person's departure at once, which ends their access. This is a unit of work of its
    own: what the provider said is kept even when the sign-in that follows is refused.
    """
    if not directory.EMAIL.match(ident.email) or not ident.subject:
        raise InvalidInput(
            "the identity provider sent no usable e-mail address", code="sso_bad_claims"
        )
    operator = attempt.caller(None, f"sso:{ident.subject}")
    roles = roles_for(ident.groups, dict(v.config.auth.oidc_role_map))
    today = date.today()
    hired = ident.hired_on if ident.hired_on and ident.hired_on <= today else None
    try:
        person = _find_sso_person(db, ident)
    except Conflict as exc:
        raise authz.refuse(exc, v, operator, Action.AUTH_LOGIN, details={"method": "sso"}) from None
    name = (ident.name or ident.email).strip()[:200] or ident.email
    if person is None:
        person = Person(
            email=ident.email,
            name=name,
            hired_on=hired or today,
            roles=roles,
            sso_subject=ident.subject,
            hired_on_confirmed_at=utcnow() if hired and ident.hired_on_signed else None,
        )
        db.add(person)
        try:
            db.flush()
        except IntegrityError:
            raise Conflict("this account was just created; sign in again", code="retry") from None
        auditing.record(
            v,
            db,
            operator,
            Action.PERSON_CREATE,
            resource={"person": person.id},
            details={"source": "sso", "roles": ",".join(roles)},
        )
    else:
        changes: dict[str, str | int | bool | None] = {}
        if person.sso_subject == ident.subject and db.is_modified(person):
            changes["sso_linked"] = True  # an existing person, linked by verified e-mail
        roles_changed = person.roles != roles
        if roles_changed:
            changes.update(roles=",".join(roles), previous_roles=",".join(person.roles))
            person.roles = roles
        if hired and person.hired_on != hired:
            changes.update(
                hired_on=hired.isoformat(), previous_hired_on=person.hired_on.isoformat()
            )
            person.hired_on = hired
            person.hired_on_confirmed_at = utcnow() if ident.hired_on_signed else None
            changes["hired_on_confirmed"] = ident.hired_on_signed
        elif hired and ident.hired_on_signed and person.hired_on_confirmed_at is None:
            person.hired_on_confirmed_at = utcnow()
            changes["hired_on_confirmed"] = True
        if person.name != name:
            person.name = name
            changes["name"] = True
        if changes:
            auditing.record(
                v,
                db,
                operator,
                Action.PERSON_UPDATE,
                resource={"person": person.id},
                details={"source": "sso", **changes},
            )
        if roles_changed:
            # Sessions opened under the old roles end; the sign-in under way opens a new one.
            sessions.end_all_sessions(v, db, operator, person, "roles_changed")
    if ident.leaving_on is not None and (
        person.leaving_on is None or ident.leaving_on < person.leaving_on
    ):
        departures.set_departure(v, db, operator, person, ident.leaving_on, source="sso")
        db.refresh(person)
    return person


def sso_second_factor(v: Vault, ident: SsoIdentity) -> bool:
    """Whether the provider vouched for a second factor: an accepted ``amr`` method
    (``oidc_admin_amr``) or an accepted ``acr`` level (``oidc_admin_acr``)."""
    settings = v.config.auth
    if set(ident.amr) & set(settings.oidc_admin_amr):
        return True
    return ident.acr is not None and ident.acr in settings.oidc_admin_acr


def sign_in_with_sso(
    v: Vault, db: Session, person: Person, ident: SsoIdentity, attempt: Attempt
) -> SignIn:
    """Sign in a person :func:`sync_sso_person` brought up to date; every outcome is audited.

    An admin needs proof of a second factor: from the provider (``amr``/``acr``), or
    else the vault's own one-time code (``step_up``: nothing is signed in yet). An admin
    with neither is refused (``second_factor_required``).
    """
    who = attempt.caller(person, f"sso:{ident.subject}")
    proof = sso_second_factor(v, ident)
    if person.has_role(Role.ADMIN) and not proof:
        # The policy first: a departing admin is refused before any one-time code.
        authz.require(v, db, who, Action.AUTH_LOGIN, details={"method": "sso"})
        if has_totp(db, person):
            return SignIn(person=person, second_factor=False, step_up=True)
        raise authz.refuse(
            Denied(
                "administrators need a second factor: sign in at the identity provider with "
                "one, or ask the operator to enrol a one-time code",
                code="second_factor_required",
            ),
            v,
            who,
            Action.AUTH_LOGIN,
            resource={"person": person.id},
            details={"method": "sso", "amr": ",".join(ident.amr)[:100], "acr": ident.acr},
        )
    _signed_in(v, db, who, person, {"method": "sso", "second_factor": proof})
    return SignIn(person=person, second_factor=proof)


def complete_step_up(
    v: Vault, db: Session, person_id: int, subject: str, code: str, attempt: Attempt
) -> SignIn:
    """Finish an admin's single sign-on with the vault's own one-time code (audited).

    Wrong codes count towards the account's lockout like a wrong password does.

    Raises:
        TooManyAttempts: the account or the address is locked for now.
        Unauthenticated: ``bad_credentials`` for a wrong or replayed code.
        Denied: the policy's reason (``person_departing``...).
    """
    person = db.get(Person, person_id)
    anonymous = attempt.caller(None, f"sso:{subject}")
    email = person.email if person is not None else ""
    _refuse_if_throttled(v, db, anonymous, email, attempt)
    cred = db.get(LocalCredential, person_id) if person is not None else None
    if person is None or cred is None or not _check_totp(v, cred, code or ""):
        raise _bad_credentials(v, anonymous, email, person, attempt)
    _clear_failures(db, "account", email)
    who = attempt.caller(person, f"sso:{subject}")
    _signed_in(v, db, who, person, {"method": "sso", "second_factor": True, "step_up": "totp"})
    return SignIn(person=person, second_factor=True)


def sign_in_failed(
    v: Vault, attempt: Attempt, error: VaultError, subject: str = "sso"
) -> VaultError:
    """``error`` carrying the audit event of a sign-in that failed before anyone was
    identified (bad state, provider error)."""
    authz.refuse(
        error, v, attempt.caller(None, subject), Action.AUTH_LOGIN, details={"method": "sso"}
    )
    return error
