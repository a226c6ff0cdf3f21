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
from vault.policy import Action
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


def set_password(v: Vault, db: Session, caller: Caller, person: Person, password: str) -> None:
    """Set or replace ``person``'s local password (the operator's act; audited)."""
    authz.require(v, db, caller, Action.PERSON_UPDATE)
    check_password_rules(password)
    cred = _credential(db, person)
    cred.password_hash = _hasher.hash(password)
    cred.password_set_at = utcnow()
    db.flush()
    _clear_failures(db, "account", person.email)
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
    dek = DataKey.generate()
    cred = _credential(db, person)
    cred.totp_wrapped_dek = v.keys.wrap(dek, totp_context(person.id)).to_bytes()
    cred.totp_secret_ct = encrypt_field(
        dek, secret.encode(), record_id=f"person:{person.id}", field="totp", version=1
    )
    cred.totp_last_step = None
    cred.totp_enrolled_at = utcnow()
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
) -> None:
    """Record a failed attempt (audited); lock the account when it crosses the limit."""
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
        Action.AUTH_LOGIN,
        outcome="denied",
        reason=reason,
        resource=resource,
        details={"method": "password"},
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
    v: Vault, db: Session, caller: Caller, email: str, attempt: Attempt
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
                Action.AUTH_LOGIN,
                details={"method": "password"},
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
