"""The worker's loop: every ``worker_tick_s``, be the leader if nobody is, then run each
job that is due (the leader's jobs only in the leader); SIGTERM or SIGINT stop it after
the job in hand, releasing the leadership at once."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable

import structlog

from vault.runtime import Vault
from vault.worker.jobs import JOBS, Job
from vault.worker.leader import Leadership


class Scheduler:
    """Runs the due jobs of a registry; one that fails is logged and retried when next due."""

    def __init__(self, v: Vault, jobs: Iterable[Job] | None = None) -> None:
        self.v = v
        self.jobs = list(JOBS.values() if jobs is None else jobs)
        self.leadership = Leadership(v)
        self._last: dict[str, float] = {}
        self.runs: dict[str, int] = {}

    def tick(self, *_: object) -> None:
        leader = self.leadership.try_acquire()
        for job in self.jobs:
            if job.leader_only and not leader:
                continue
            now = time.monotonic()
            if now - self._last.get(job.name, -1e18) < job.interval(self.v.config):
                continue
            self._last[job.name] = now
            try:
                job.run(self.v)
                self.runs[job.name] = self.runs.get(job.name, 0) + 1
            except Exception:  # noqa: BLE001 - one job never stops the others
                structlog.get_logger("vault").exception("worker job failed", job=job.name)

    def close(self) -> None:
        self.leadership.release()


def app_jobs() -> list[Job]:
    """The jobs an app process's own thread runs when no worker is deployed."""
    return [job for job in JOBS.values() if job.in_app_thread]


def run(v: Vault, *, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM / SIGINT (or ``stop``); the leader seals what is left on the way out."""
    stop = stop or threading.Event()
    log = structlog.get_logger("vault")

    def _stop(signum: int, _frame: object) -> None:
        log.info("worker stopping", signal=signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    scheduler = Scheduler(v)
    log.info("worker started", jobs=[job.name for job in scheduler.jobs])
    try:
        while not stop.is_set():
            scheduler.tick()
            stop.wait(v.config.worker_tick_s)
        if scheduler.leadership.held:
            v.maybe_seal(force=True)
    finally:
        scheduler.close()
        log.info("worker stopped", runs=scheduler.runs)
