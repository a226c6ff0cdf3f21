"""`policy explain` / `policy validate`, the explain endpoint, and site policy refusal."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.factories import Factory
from vault.cli import main
from vault.policy import PolicyError
from vault.runtime import Vault
from vault.web import create_app


def _env(config):
    return {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}


def test_explain_names_the_rules_behind_a_decision(make: Factory, config):
    newbie = make.custodian("core", years=0.1)
    senior = make.custodian("core")
    record = make.record(make.client("core"))
    runner = CliRunner()
    denied = runner.invoke(
        main,
        [
            "policy",
            "explain",
            "--person",
            newbie.email,
            "--action",
            "record:consult",
            "--record",
            str(record.id),
        ],
        env=_env(config),
    )
    assert denied.exit_code == 3
    assert "DENY: tenure_too_short" in denied.output
    assert "tenure_minimum_days: 1826" in denied.output
    allowed = runner.invoke(
        main,
        [
            "policy",
            "explain",
            "--person",
            senior.email,
            "--action",
            "record:consult",
            "--record",
            str(record.id),
        ],
        env=_env(config),
    )
    assert allowed.exit_code == 0 and "permit-custodian-content" in allowed.output
    bad = runner.invoke(
        main,
        [
            "policy",
            "explain",
            "--person",
            senior.email,
            "--action",
            "record:eat",
            "--record",
            str(record.id),
        ],
        env=_env(config),
    )
    assert bad.exit_code == 2 and "invalid_action" in bad.output


def test_explain_endpoint_for_auditors_only(api, make: Factory, db):
    sales = make.person()
    record = make.record(make.client("general"))
    make.grant(sales, record)
    auditor_token = make.token(make.person(roles=("employee", "auditor")))
    path = f"/policy/explain?person_id={sales.id}&action=record:consult&record_id={record.id}"
    resp = api.get(path, auditor_token)
    assert resp.status_code == 200
    assert resp.json["allowed"] is True and resp.json["policy_ids"] == ["permit-grant-consult"]
    assert resp.json["facts"]["granted_actions"] == ["consult"]
    assert api.get(path, make.token(sales)).status_code == 403
    # Explaining is not using: nothing was consulted.
    db.commit()
    assert (
        db.execute(
            __import__("sqlalchemy").text(
                "SELECT count(*) FROM audit_events WHERE action = 'record:consult'"
            )
        ).scalar()
        == 0
    )


GOOD_SITE = """
@id("site-forbid-former-clients-copy")
@reason("site_rule")
forbid (principal, action == Action::"record:copy", resource)
when { resource.tier == "core" };
"""
BAD_SITE = 'permit (principal, action == Action::"record:delete", resource);'


def test_policy_validate(tmp_path):
    good, bad = tmp_path / "good.cedar", tmp_path / "bad.cedar"
    good.write_text(GOOD_SITE)
    bad.write_text(BAD_SITE)
    runner = CliRunner()
    assert runner.invoke(main, ["policy", "validate", str(good)]).exit_code == 0
    result = runner.invoke(main, ["policy", "validate", str(bad)])
    assert result.exit_code == 1 and "record:delete" in result.output


def test_server_refuses_to_start_with_an_invalid_site_policy(config, vault, tmp_path):
    bad = tmp_path / "bad.cedar"
    bad.write_text(BAD_SITE)
    with pytest.raises(PolicyError):
        Vault.open(config.with_(site_policy=bad))
    with pytest.raises(PolicyError):
        create_app(config.with_(site_policy=bad))
    result = CliRunner().invoke(
        main, ["serve", "--port", "1"], env={**_env(config), "VAULT_SITE_POLICY": str(bad)}
    )
    assert result.exit_code == 1 and "record:delete" in result.output


def test_a_valid_site_policy_takes_effect(api, make: Factory, config, vault, tmp_path):
    site = tmp_path / "site.cedar"
    site.write_text(GOOD_SITE.replace("record:copy", "record:consult"))
    strict = Vault.open(config.with_(site_policy=site))
    custodian = make.custodian("core")
    record = make.record(make.client("core"))
    client = create_app(config, vault=strict).test_client()
    resp = client.get(
        f"/api/v1/records/{record.id}/content?purpose=review",
        headers={"Authorization": f"Bearer {make.token(custodian)}"},
    )
    strict.close()
    assert resp.status_code == 403 and resp.json["code"] == "site_rule"
