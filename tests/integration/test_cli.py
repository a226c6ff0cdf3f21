"""The command line as a whole: its help, ``people list``, and one unit of work per command."""

from __future__ import annotations

import json
from datetime import date, timedelta

import click
import sqlalchemy as sa
from click.testing import CliRunner

from tests.factories import Factory
from vault.cli import main
from vault.models import Designation
from vault.policy import Action


def _env(config):
    return {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}


def _words(text: str) -> str:
    return " ".join(text.split())


def test_help_lists_every_group_and_command_with_its_whole_sentence():
    groups: list[tuple[list[str], click.Group]] = [([], main)]
    assert isinstance(main, click.Group)
    while groups:
        path, group = groups.pop()
        result = CliRunner().invoke(main, [*path, "--help"], terminal_width=80)
        assert result.exit_code == 0, result.output
        listed = _words(result.output.partition("Commands:")[2])
        assert listed and "..." not in listed, path
        for name, command in group.commands.items():
            sentence = _words((command.help or "").split("\n\n")[0])
            assert sentence and f"{name} {sentence}" in listed, (path, name)
            if isinstance(command, click.Group):
                groups.append(([*path, name], command))
    top = _words(CliRunner().invoke(main, ["--help"]).output)
    assert (
        "demo Initialise the vault and load demo people, clients and records; "
        "print their tokens." in top
    )


def test_people_list_shows_roles_hire_dates_leaving_dates_and_tiers(make: Factory, db, config):
    auditor = make.person(roles=("employee", "auditor"))
    custodian = make.custodian("core", "special")
    leaving = date.today() + timedelta(days=10)
    leaver = make.person()
    leaver.leaving_on = leaving
    db.commit()
    runner = CliRunner()

    shown = runner.invoke(main, ["people", "list", "--json"], env=_env(config))
    assert shown.exit_code == 0, shown.output
    people = {p["email"]: p for p in json.loads(shown.output)}
    assert list(people) == sorted(people)
    assert people[auditor.email] == {
        "email": auditor.email,
        "name": auditor.name,
        "roles": ["auditor", "employee"],
        "hired_on": auditor.hired_on.isoformat(),
        "leaving_on": None,
        "custodian_tiers": [],
    }
    assert people[custodian.email]["custodian_tiers"] == ["core", "special"]
    assert people[leaver.email]["leaving_on"] == leaving.isoformat()

    text = runner.invoke(main, ["people", "list"], env=_env(config))
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0].split() == ["NAME", "E-MAIL", "ROLES", "HIRED", "LEAVING", "CUSTODIAN", "TIERS"]
    assert lines[-1] == f"{len(people)} people"
    (row,) = [line for line in lines if f" {custodian.email} " in line]
    assert row.startswith(custodian.name)
    assert row.split()[-3:] == [custodian.hired_on.isoformat(), "-", "core,special"]
    (row,) = [line for line in lines if f" {leaver.email} " in line]
    assert row.split()[-3:] == [leaver.hired_on.isoformat(), leaving.isoformat(), "-"]
    # The columns line up: every e-mail starts where the header's E-MAIL does.
    column = lines[0].index("E-MAIL")
    assert all(line[column:].split()[0] in people for line in lines[1:-1])

    auditors = runner.invoke(main, ["people", "list", "--role", "auditor"], env=_env(config))
    assert auditors.exit_code == 0, auditors.output
    assert auditor.email in auditors.output and custodian.email not in auditors.output
    assert auditors.output.splitlines()[-1] == "1 people holding the role auditor"
    wrong = runner.invoke(main, ["people", "list", "--role", "custodian"], env=_env(config))
    assert wrong.exit_code == 2 and "'employee', 'auditor', 'admin'" in wrong.output


def test_an_unknown_action_is_refused_with_the_valid_ones(make: Factory, config):
    person = make.person()
    for given, hint in (("record:eat", ""), ("consult", " (did you mean record:consult?)")):
        result = CliRunner().invoke(
            main,
            ["policy", "explain", "--person", person.email, "--action", given],
            env=_env(config),
        )
        assert result.exit_code == 2
        assert result.output.startswith(f"error [invalid_action]: unknown action {given!r}")
        assert hint in result.output
        assert "; actions are written resource:verb. Valid actions: " in result.output
        assert all(a.value in result.output for a in Action)


def _designations(db) -> int:
    db.rollback()  # see what the command committed, not this session's snapshot
    return db.scalar(sa.select(sa.func.count()).select_from(Designation)) or 0


def _audited(db, action: Action, outcome: str) -> int:
    return (
        db.scalar(
            sa.text(
                "SELECT count(*) FROM audit_events WHERE action = :action AND outcome = :outcome"
            ),
            {"action": action.value, "outcome": outcome},
        )
        or 0
    )


def test_a_refused_command_leaves_its_refusal_and_nothing_else(make: Factory, db, config):
    person = make.person()
    not_admin = make.person()
    make.admin()
    before = _designations(db)
    refused = CliRunner().invoke(
        main,
        ["designate", person.email, "--tiers", "core", "--by", not_admin.email, "--reason", "r"],
        env=_env(config),
    )
    assert refused.exit_code == 3, refused.output
    assert refused.output.startswith("error [")
    assert _designations(db) == before
    assert _audited(db, Action.DESIGNATION_CREATE, "denied") == 1
    assert _audited(db, Action.DESIGNATION_CREATE, "ok") == 0


def test_bad_input_in_a_command_changes_nothing(make: Factory, db, config):
    person = make.person()
    admin = make.admin()
    before = _designations(db)
    why = ["--reason", "knows these clients"]
    bad = CliRunner().invoke(
        main,
        ["designate", person.email, "--tiers", "gold", "--by", admin.email, *why],
        env=_env(config),
    )
    assert bad.exit_code == 2 and "error [invalid_tier]" in bad.output
    assert _designations(db) == before
    assert _audited(db, Action.DESIGNATION_CREATE, "ok") == 0

    done = CliRunner().invoke(
        main,
        ["designate", person.email, "--tiers", "core", "--by", admin.email, *why],
        env=_env(config),
    )
    assert done.exit_code == 0, done.output
    assert done.output.startswith("proposed, awaiting a second admin: #")
    assert f"{person.email} custodian for core (proposed by {admin.email})" in done.output
    assert _designations(db) == before  # nothing in force before a second admin approves
    assert _audited(db, Action.DESIGNATION_CREATE, "ok") == 0
    proposal_id = done.output.split("#", 1)[1].split()[0]
    second = make.second_admin()
    approved = CliRunner().invoke(
        main, ["proposals", "approve", proposal_id, "--by", second.email], env=_env(config)
    )
    assert approved.exit_code == 0, approved.output
    assert _designations(db) == before + 1
    assert _audited(db, Action.DESIGNATION_CREATE, "ok") == 1
