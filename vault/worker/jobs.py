"""The registry of scheduled jobs the worker runs (and the app's thread, on one machine)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vault.caller import Caller
from vault.config import Config
from vault.runtime import Vault


@dataclass(frozen=True)
class Job:
    """Run ``run(vault)`` every ``interval(config)`` seconds; ``leader_only`` jobs run in
    the one leader, the others in every worker (they must be safe to run side by side)."""

    name: str
    interval: Callable[[Config], float]
    run: Callable[[Vault], object]
    leader_only: bool = True
    # False: not in the app's own thread without a worker (it seals and takes up the
    # policy itself; loan reminders stay a cron job there, `loans remind`)
    in_app_thread: bool = True


JOBS: dict[str, Job] = {}


def register(job: Job) -> Job:
    """Add (or replace) a job by name."""
    JOBS[job.name] = job
    return job


def _seal(v: Vault) -> None:
    v.maybe_seal(force=True)


def _policy(v: Vault) -> None:
    v.reload_policy()


def _outbox(v: Vault) -> int:
    from vault.worker import outbox

    return outbox.drain(v)


def _reminders(v: Vault) -> int:
    from vault import uow
    from vault.custody import loans

    with v.sessions() as db:
        return len(uow.run(db, loans.send_reminders, v, db, Caller.operator()))


def _expire_requests(v: Vault) -> int:
    from vault import uow
    from vault.grants import requests

    with v.sessions() as db:
        return uow.run(db, requests.expire_due, v, db, Caller.operator())


def _departure_watch(v: Vault) -> int:
    from vault.oversight import departure_watch

    return departure_watch.sweep_now(v)


def _watch(c: Config) -> float:
    return c.watch_interval_s


register(Job("audit-seal", lambda c: c.seal_interval_s, _seal, in_app_thread=False))
register(Job("site-policy", lambda c: c.policy_refresh_s, _policy, False, in_app_thread=False))
register(Job("outbox", lambda c: c.worker_tick_s, _outbox, leader_only=False))
# On one machine without a worker, reminders stay cron's `archive-vault loans remind`.
register(Job("loan-reminders", _watch, _reminders, in_app_thread=False))
register(Job("expire-requests", _watch, _expire_requests))
register(Job("departure-watch", _watch, _departure_watch))
