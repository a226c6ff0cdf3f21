"""The background worker: ``archive-vault worker [status]``."""

from __future__ import annotations

import click

from vault.cli.common import Group, friendly, running


@click.group("worker", cls=Group, invoke_without_command=True)
@click.pass_context
@friendly
def worker(ctx: click.Context) -> None:
    """Run the background worker until SIGTERM: seal the audit chain (one leader across
    machines), send the outbox's mail, loan reminders, request expiry, scheduled checks.

    Run one or more per deployment, with VAULT_BACKGROUND=worker for the app processes
    and the workers alike; several workers on several machines are safe.
    """
    if ctx.invoked_subcommand is not None:
        return
    from vault.worker import process

    with running() as v:
        if v.config.background != "worker":
            click.echo(
                "note: VAULT_BACKGROUND is not 'worker': the app processes also run the "
                "background jobs (safe, but set it for them once a worker is deployed)",
                err=True,
            )
        process.run(v)


@worker.command("status")
@friendly
def worker_status() -> None:
    """The scheduled jobs, and the mail waiting in the outbox."""
    from vault.worker import outbox
    from vault.worker.jobs import JOBS

    with running() as v:
        for job in JOBS.values():
            where = "leader" if job.leader_only else "every worker"
            click.echo(f"{job.name:<16} every {job.interval(v.config):g} s ({where})")
        click.echo(f"outbox: {outbox.depth(v)} message(s) waiting")
