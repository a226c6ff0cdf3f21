"""The ``archive-vault`` command line: one module per command group, assembled here.

Each command is one unit of work (:func:`vault.cli.common.opened`): committed once at
the end, rolled back on error. Only resumable batch jobs (``keys rewrap``, ``import``)
commit batch by batch, and say so where they do.
"""

from __future__ import annotations

import os

import click

from vault.cli import (
    appraisal,
    audit,
    backup,
    blobs,
    check,
    disposal,
    files,
    grants,
    intake,
    items,
    keys,
    loans,
    people,
    policy,
    proposals,
    report,
    requests,
    review,
    setup,
    stats,
    tokens,
    worker,
)
from vault.cli.common import Group

__all__ = ["main"]


@click.group(cls=Group, context_settings={"max_content_width": 120})
@click.version_option(package_name="archive-vault")
def main() -> None:
    """Archive Vault: client archives, encrypted, guarded and audited."""
    os.umask(0o077)  # the vault's files (database, blobs, logs, keys) are the owner's alone


for command in (
    setup.init,
    setup.serve,
    setup.demo,
    people.people,
    people.designate,
    people.depart,
    tokens.tokens,
    audit.audit,
    keys.keys,
    policy.policy,
    intake.import_,
    requests.requests,
    grants.grants,
    review.review,
    report.report,
    files.files,
    stats.stats,
    items.items,
    loans.loans,
    proposals.proposals_,
    people.depart_change,
    backup.backup,
    backup.restore,
    check.check,
    appraisal.register,
    appraisal.dossier,
    appraisal.portfolio,
    blobs.blobs,
    worker.worker,
    disposal.retention_,
    disposal.hold,
    disposal.disposal_,
):
    main.add_command(command)
