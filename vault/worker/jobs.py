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


def _four_properties(v: Vault) -> int | None:
    """The scheduled four-properties check of every record, once every
    ``check_interval_s``: the job looks every hour (or sooner) and runs when the last
    scheduled run, by any worker, is that old, so that a restart or a new leader neither
    runs it twice nor waits a whole interval. The number of faults, or None: not due."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from vault import uow
    from vault.appraisal import checks
    from vault.db import utcnow
    from vault.models import CheckRun

    with v.sessions() as db:
        last = db.scalar(
            select(func.max(CheckRun.started_at)).where(CheckRun.trigger == "schedule")
        )
        if last is not None:
            if last.tzinfo is None:  # SQLite hands naive UTC back through func.max
                last = last.replace(tzinfo=utcnow().tzinfo)
            if utcnow() - last < timedelta(seconds=v.config.check_interval_s):
                return None
        db.rollback()
        v.maybe_seal(force=True)  # intake events awaiting the chain are linked first
        report = uow.run(db, checks.run_check, v, db, Caller.operator(), "all", trigger="schedule")
        return report.run.failures


def _watch(c: Config) -> float:
    return c.watch_interval_s


def _check_poll(c: Config) -> float:
    return min(c.check_interval_s, 3600.0)


register(Job("audit-seal", lambda c: c.seal_interval_s, _seal, in_app_thread=False))
register(Job("site-policy", lambda c: c.policy_refresh_s, _policy, False, in_app_thread=False))
register(Job("outbox", lambda c: c.worker_tick_s, _outbox, leader_only=False))
# On one machine without a worker, reminders stay cron's `archive-vault loans remind`.
register(Job("loan-reminders", _watch, _reminders, in_app_thread=False))
register(Job("expire-requests", _watch, _expire_requests))
register(Job("departure-watch", _watch, _departure_watch))
# Hours of work over a large archive: the worker's leader only, never the app's thread
# (which seals); on one machine without a worker it is cron's `archive-vault check run
# --trigger schedule`.
register(Job("four-properties", _check_poll, _four_properties, in_app_thread=False))
