"""What every command shares: errors to exit codes, the settings, the unit of work."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from vault.caller import Caller
from vault.config import Config
from vault.crypto import CryptoError
from vault.errors import VaultError
from vault.people import directory
from vault.policy import PolicyError
from vault.runtime import Vault
from vault.uow import unit_of_work

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INPUT, EXIT_DENIED, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_FAILED = 2, 3, 4, 5, 1
_EXIT = {
    400: EXIT_INPUT,
    401: EXIT_DENIED,
    403: EXIT_DENIED,
    404: EXIT_NOT_FOUND,
    409: EXIT_CONFLICT,
    413: EXIT_INPUT,
}


class Command(click.Command):
    """A command whose line in its group's listing is its whole first sentence, never cut."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return super().get_short_help_str(limit=sys.maxsize)


class Group(click.Group):
    """A group listed like :class:`Command`; its commands and subgroups are listed alike."""

    command_class = Command
    group_class = type  # subgroups are of this class too

    def get_short_help_str(self, limit: int = 45) -> str:
        return super().get_short_help_str(limit=sys.maxsize)


def friendly(fn: F) -> F:
    """Turn vault errors into a one-line message and a stable exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VaultError as exc:
            click.echo(f"error [{exc.code}]: {exc.message}", err=True)
            sys.exit(_EXIT.get(exc.status, EXIT_FAILED))
        except (CryptoError, PolicyError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


def config() -> Config:
    """Settings from the environment."""
    return Config.from_env()


@contextmanager
def running() -> Iterator[Vault]:
    """The opened vault, closed afterwards (for work outside a session, e.g. the audit chain)."""
    v = Vault.open(config())
    try:
        yield v
    finally:
        v.close()


@contextmanager
def opened() -> Iterator[tuple[Vault, Session]]:
    """The vault and the command's one unit of work (:func:`vault.uow.unit_of_work`).

    The work is committed once when the block ends, or rolled back if it raises; the
    audit events a refusal carries are then written on their own. Fresh audit events
    are linked into the chain afterwards either way.
    """
    with running() as v:
        try:
            with unit_of_work(v) as db:
                yield v, db
        finally:
            v.maybe_seal()


def parse_day(value: str, what: str) -> date:
    """A YYYY-MM-DD date or a usage error."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{what} must be YYYY-MM-DD, not {value!r}") from None


def _as(db: Session, email: str) -> Caller:
    """Act as the person with ``email`` (their rights, not the operator's)."""
    return Caller(person=directory.get_by_email(db, email), subject=f"cli-as:{email}")
