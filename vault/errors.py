"""The vault's error hierarchy: each error has a stable ``code`` and an HTTP status.

The web layer maps these to ``application/problem+json`` (API) or a flash message
(UI) in one place; the CLI maps them to a message and an exit code. Messages are
written for the person who made the request and never carry record content.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# Work a refusal keeps: run by the boundary on the session after it rolled the act back
# (see vault.uow). Typed loosely so that this module imports nothing of the database.
Keep = Callable[[Any], object]


class VaultError(Exception):
    """Base of every error the vault reports to a user."""

    code = "vault_error"
    status = 400
    title = "Request failed"

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        keep: Sequence[Keep] = (),
        **extra: object,
    ) -> None:
        super().__init__(message or self.title)
        self.message = message or self.title
        if code is not None:
            self.code = code
        # What the boundary writes after rolling the act back (vault.uow): a refusal's audit
        # event (and alert, failure count...) is kept although nothing else of the act is.
        self.keep: tuple[Keep, ...] = tuple(keep)
        self.extra = extra


class InvalidInput(VaultError):
    """The input is malformed, missing or out of range."""

    code = "invalid_input"
    status = 400
    title = "Invalid input"


class Unauthenticated(VaultError):
    """No valid credentials were presented."""

    code = "unauthenticated"
    status = 401
    title = "Authentication required"


class Denied(VaultError):
    """The policy denied the act; ``code`` names the reason (e.g. ``tenure_too_short``)."""

    code = "denied"
    status = 403
    title = "Access denied"


class NotFound(VaultError):
    """The object does not exist (or the caller may not know it exists)."""

    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(VaultError):
    """The act conflicts with the current state (duplicate, already done, raced)."""

    code = "conflict"
    status = 409
    title = "Conflict"


class TooLarge(VaultError):
    """The request body or a field is larger than allowed."""

    code = "too_large"
    status = 413
    title = "Payload too large"


class Unavailable(VaultError):
    """A dependency (database, key provider, audit log) failed; the act did not happen."""

    code = "unavailable"
    status = 503
    title = "Service unavailable"


class TooManyAttempts(VaultError):
    """Too many failed sign-ins for this account or from this address; try again later."""

    code = "too_many_attempts"
    status = 429
    title = "Too many attempts"
