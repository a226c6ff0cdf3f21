"""The four-properties check (四性检测) from the command line: ``check run``, ``check report``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from vault.caller import Caller
from vault.cli.common import EXIT_FAILED, Group, _as, friendly, opened


@click.group("check", cls=Group)
def check() -> None:
    """The four-properties check: authenticity, integrity, usability, security."""


@check.command("run")
@click.option("--client", "client_code", default=None, help="only this client's file")
@click.option(
    "--trigger",
    default="manual",
    show_default=True,
    type=click.Choice(["manual", "schedule"]),
    help="why it runs (the worker's schedule says schedule)",
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="write the JSON report")
@click.option("--csv", "csv_out", type=click.Path(path_type=Path), help="write the findings CSV")
@click.option("--no-scan", is_flag=True, help="skip the plaintext scan of the folders")
@friendly
def check_run(
    client_code: str | None,
    trigger: str,
    json_out: Path | None,
    csv_out: Path | None,
    no_scan: bool,
) -> None:
    """Check every record (or one client's file); exit 1 when a fault is found."""
    from tqdm import tqdm

    from vault.appraisal import checks
    from vault.models import Record

    started = time.perf_counter()
    scope = f"client:{client_code}" if client_code else "all"
    with opened() as (v, db):
        v.maybe_seal(force=True)  # intake events awaiting the chain are linked first
        total = db.query(Record).count() if scope == "all" else None
        with tqdm(
            total=total, unit=" records", disable=not sys.stderr.isatty(), file=sys.stderr
        ) as bar:
            report = checks.run_check(
                v,
                db,
                Caller.operator(),
                scope,
                trigger=trigger,
                progress=bar.update,
                scan_files=not no_scan,
            )
        data = report.as_json()
        csv_text = report.csv()
    if json_out is not None:
        json_out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    if csv_out is not None:
        csv_out.write_text(csv_text)
    fig = data["figures"]
    assert isinstance(fig, dict)
    click.echo(
        f"check run {data['run']}: {data['records']} records, {data['attachments']} "
        f"attachments, {data['failures']} faults (authenticity {fig['authenticity']}, "
        f"integrity {fig['integrity']}, usability {fig['usability']}, security "
        f"{fig['security']}); {time.perf_counter() - started:.1f} s"
    )
    findings = data["findings"]
    assert isinstance(findings, list)
    for f in findings[:50]:
        click.echo(f"  {f['property']}: {f['code']} {f['where']}")
    if len(findings) > 50:
        click.echo(f"  ... and {len(findings) - 50} more (see --csv)")
    if findings:
        sys.exit(EXIT_FAILED)


@check.command("report")
@click.argument("run_id", type=int)
@click.option("--as", "as_email", default=None, help="an auditor's, admin's or custodian's e-mail")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
@friendly
def check_report(run_id: int, as_email: str | None, fmt: str) -> None:
    """Print one run's report as JSON or CSV."""
    from vault.appraisal import checks

    with opened() as (v, db):
        who = _as(db, as_email) if as_email else Caller.operator()
        report = checks.report(v, db, who, run_id)
        out = (
            json.dumps(report.as_json(), indent=2, ensure_ascii=False)
            if fmt == "json"
            else report.csv()
        )
    click.echo(out.rstrip("\n"))
