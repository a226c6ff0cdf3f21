"""A kept run of the four-properties check (四性检测): its findings, report and audit event.

The check itself is :mod:`vault.appraisal.checks` (scheduled, by hand, before a transfer
or disposal). A deposit checks its own record at intake (:func:`at_intake`): a fault
found then (a "PDF" that does not parse) is kept at once as a run of its own, trigger
``intake``, so that it shows on the record's card before any later run. Both close their
runs here, so that a run's figures, its JSON report and the SHA-256 of that report in its
audit event are made one way.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from vault import auditing, csvout
from vault.caller import Caller
from vault.db import utcnow
from vault.models import CheckFinding, CheckRun, Property, Record
from vault.policy import Action
from vault.runtime import Vault


@dataclass(frozen=True)
class Finding:
    """One fault: the property, a code, and where (ids and catalogue words only)."""

    property: str
    code: str
    record_id: int | None = None
    attachment_id: int | None = None
    client_id: int | None = None
    where: str = ""


@dataclass
class Report:
    """What a run found, as the page, the CSV and the JSON show it."""

    run: CheckRun
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No fault in any property."""
        return not self.findings

    def figures(self) -> dict[str, int]:
        """Counts: records and attachments checked, faults per property."""
        return dict(self.run.figures or {})

    def as_json(self) -> dict[str, object]:
        """The report as JSON (what its audit event's ``report_sha256`` is the hash of)."""
        return {
            "run": self.run.id,
            "trigger": self.run.trigger,
            "scope": self.run.scope,
            "started_at": self.run.started_at.isoformat() if self.run.started_at else None,
            "finished_at": self.run.finished_at.isoformat() if self.run.finished_at else None,
            "records": self.run.records,
            "attachments": self.run.attachments,
            "failures": self.run.failures,
            "figures": self.figures(),
            "findings": [
                {
                    "property": f.property,
                    "code": f.code,
                    "record": f.record_id,
                    "attachment": f.attachment_id,
                    "client": f.client_id,
                    "where": f.where,
                }
                for f in self.findings
            ],
        }

    def csv(self) -> str:
        """The findings as CSV (through the vault's one CSV writer)."""
        buf = io.StringIO()
        w = csvout.writer(buf)
        w.writerow(["run", "property", "code", "record", "attachment", "client", "where"])
        for f in self.findings:
            w.writerow(
                [
                    self.run.id,
                    f.property,
                    f.code,
                    f.record_id,
                    f.attachment_id,
                    f.client_id,
                    f.where,
                ]
            )
        return buf.getvalue()


def canonical(report: Report) -> bytes:
    """The JSON report's bytes as hashed into the run's audit event."""
    return json.dumps(report.as_json(), sort_keys=True, ensure_ascii=False).encode()


def start(db: Session, caller: Caller, trigger: str, scope: str) -> CheckRun:
    """A new run (flushed: it has its id)."""
    run = CheckRun(
        trigger=trigger,
        scope=scope,
        started_at=utcnow(),
        records=0,
        attachments=0,
        failures=0,
        figures={},
        started_by_id=caller.person_id,
    )
    db.add(run)
    db.flush()
    return run


def close(
    v: Vault,
    db: Session,
    caller: Caller,
    run: CheckRun,
    findings: list[Finding],
    *,
    counted: dict[str, int] | None = None,
    reason: str | None = None,
) -> Report:
    """Keep ``findings``, the figures (``counted`` adds to the counts by property) and the
    run's audit event with the SHA-256 of its JSON report; return the report."""
    for f in findings:
        db.add(
            CheckFinding(
                run_id=run.id,
                property=f.property,
                code=f.code,
                record_id=f.record_id,
                attachment_id=f.attachment_id,
                client_id=f.client_id,
                where=f.where[:300],
            )
        )
    by_property = {str(p): 0 for p in Property}
    for f in findings:
        by_property[f.property] += 1
    run.failures = len(findings)
    run.figures = {
        **by_property,
        "records": run.records,
        "attachments": run.attachments,
        **(counted or {}),
    }
    run.finished_at = utcnow()
    report = Report(run=run, findings=findings)
    run.report_sha256 = hashlib.sha256(canonical(report)).hexdigest()
    event = auditing.record(
        v,
        db,
        caller,
        Action.CHECK_RUN,
        outcome="ok",
        reason=reason,
        resource={"check_run": run.id},
        details={
            **{k: int(n) for k, n in run.figures.items()},
            "trigger": run.trigger,
            "scope": run.scope,
            "failures": run.failures,
            "report_sha256": run.report_sha256,
        },
    )
    run.event_id = event.id
    db.flush()
    return report


REQUIRED = ("title", "file_number", "content_type")


def intake_faults(record: Record, opens: str | None) -> list[Finding]:
    """What the check at intake can tell of a record being filed: its required catalogue
    metadata (integrity) and whether its content opens in its declared format
    (usability; ``opens`` as :func:`vault.access.opens_as` found it)."""
    out: list[Finding] = []
    where = record.file_number
    for name in REQUIRED:
        if not (getattr(record, name) or "").strip():
            out.append(
                Finding(
                    Property.INTEGRITY, "metadata_missing", record.id, None, record.client_id, name
                )
            )
    if opens is not None and opens != "format_unchecked":
        out.append(Finding(Property.USABILITY, opens, record.id, None, record.client_id, where))
    return out


def at_intake(
    v: Vault, db: Session, caller: Caller, record: Record, faults: Iterable[Finding]
) -> Report | None:
    """Keep the faults the intake check found as a run of their own (trigger ``intake``,
    one record), in the deposit's unit of work: the record's card shows them at once.

    A clean intake keeps no run: the deposit's own event holds the digest and the
    format's verdict (``opens``). Part of the deposit, the run is not decided apart (the
    deposit was); its event names the depositor and the reason ``intake``. The auditors'
    alert is the scheduled run's, which finds the fault again while it stands."""
    found = list(faults)
    if not found:
        return None
    run = start(db, caller, "intake", "records:1")
    run.records = 1
    return close(v, db, caller, run, found, reason="intake")


__all__ = ["Finding", "Report", "at_intake", "canonical", "close", "intake_faults", "start"]
