"""Two-person acts on the vault itself: retiring a key, loading a site policy.

An admin alone can neither take a key out of the keyring nor change the rules: one
proposes, a second approves, and only then does the keyring or the policy change, in
the approver's transaction and after its audit event has committed.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.factories import Factory
from tests.webclient import events
from vault import proposals, uow
from vault.caller import Caller
from vault.cli import main
from vault.errors import Conflict, Denied, InvalidInput
from vault.governance import site_policy
from vault.keys import rotation
from vault.models import Proposal
from vault.runtime import Vault

NO_COPIES = """
@id("site-no-copies")
@reason("site_no_copies")
forbid (principal, action == Action::"record:copy", resource);
"""


def _propose(vault: Vault, db, by, kind: str, payload: dict) -> int:
    p = uow.run(db, proposals.propose, vault, db, Caller(person=by), kind, None, payload, "why")
    return p.id


def _approve(vault: Vault, db, proposal_id: int, by) -> Proposal:
    return uow.run(
        db,
        lambda: proposals.approve(vault, db, Caller(person=by), proposals.get(db, proposal_id)),
    )


def _rotated(vault: Vault, db) -> str:
    """Rotate and rewrap as the operator would, so that the old key wraps nothing."""
    old = vault.keys.active_key_id
    uow.run(db, rotation.rotate, vault, db, Caller.operator())
    uow.run(db, rotation.rewrap, vault, db, Caller.operator())
    return old


def test_one_admin_alone_cannot_retire_a_key(vault: Vault, db, make: Factory) -> None:
    record = make.record(content=b"kept under the new key")
    old = _rotated(vault, db)
    admin, second = make.admin(), make.second_admin()
    proposal_id = _propose(vault, db, admin, "key_retire", {"key_id": old})
    assert old in vault.keys.key_ids(), "a proposal alone changes nothing"
    with pytest.raises(Denied) as refused:
        _approve(vault, db, proposal_id, admin)
    assert refused.value.code == "same_person_approval"
    assert old in vault.keys.key_ids()
    _approve(vault, db, proposal_id, second)
    assert old not in vault.keys.key_ids()
    retired = [e for e in events(vault, action="key:retire") if "proposal" in e.details]
    assert [(e.actor.person_id, e.details["proposed_by"]) for e in retired] == [
        (second.id, admin.id)
    ]
    refusals = [e for e in events(vault, action="key:retire") if e.decision == "deny"]
    assert [e.actor.person_id for e in refusals] == [admin.id], "the refusal is audited"
    # Nothing was lost: the record's data key was rewrapped before the key went.
    custodian = make.custodian()
    from vault import access

    content = uow.run(db, access.consult, vault, db, Caller(person=custodian), record.id, "check")
    assert content.data == b"kept under the new key"


def test_a_key_still_in_use_or_active_cannot_be_retired(vault: Vault, db, make: Factory) -> None:
    make.record()
    admin = make.admin()
    active = vault.keys.active_key_id
    with pytest.raises(Conflict) as refused:
        _propose(vault, db, admin, "key_retire", {"key_id": active})
    assert refused.value.code == "key_active"
    uow.run(db, rotation.rotate, vault, db, Caller.operator())
    with pytest.raises(Conflict) as refused:
        _propose(vault, db, admin, "key_retire", {"key_id": active})
    assert refused.value.code == "key_in_use"
    assert "records" in str(refused.value)
    with pytest.raises(InvalidInput):
        _propose(vault, db, admin, "key_retire", {"key_id": "no such key!"})


def test_a_rolled_back_approval_leaves_the_key(vault: Vault, db, make: Factory) -> None:
    old = _rotated(vault, db)
    proposal_id = _propose(vault, db, make.admin(), "key_retire", {"key_id": old})
    second = make.second_admin()

    def approve_then_fail() -> None:
        proposals.approve(vault, db, Caller(person=second), proposals.get(db, proposal_id))
        raise RuntimeError("the commit never happens")

    with pytest.raises(RuntimeError):
        uow.run(db, approve_then_fail)
    assert old in vault.keys.key_ids(), "the key goes only once the approval committed"
    assert proposals.get(db, proposal_id).status == "pending"


def test_site_policy_takes_effect_only_on_a_second_admins_approval(
    vault: Vault, db, make: Factory
) -> None:
    from vault import access

    record = make.record()
    custodian = make.custodian()
    admin, second = make.admin(), make.second_admin()
    proposal_id = _propose(vault, db, admin, "site_policy", {"text": NO_COPIES})
    copied = uow.run(db, access.copy, vault, db, Caller(person=custodian), record.id, "file")
    assert copied.data, "proposed is not loaded"
    _approve(vault, db, proposal_id, second)
    with pytest.raises(Denied) as refused:
        uow.run(db, access.copy, vault, db, Caller(person=custodian), record.id, "file")
    assert refused.value.code == "site_no_copies"
    loaded = site_policy.current(db)
    assert loaded is not None and loaded.proposed_by_id == admin.id
    assert loaded.approved_by_id == second.id
    # Taking it away is two-person too.
    removal = _propose(vault, db, admin, "site_policy", {"text": ""})
    with pytest.raises(Denied):
        uow.run(db, access.copy, vault, db, Caller(person=custodian), record.id, "file")
    _approve(vault, db, removal, second)
    assert uow.run(db, access.copy, vault, db, Caller(person=custodian), record.id, "file")


def test_an_invalid_site_policy_is_refused_when_proposed(vault: Vault, db, make: Factory) -> None:
    admin = make.admin()
    for text in ("permit (principal, action, resource);", "not cedar at all {"):
        with pytest.raises(InvalidInput) as refused:
            _propose(vault, db, admin, "site_policy", {"text": text})
        assert refused.value.code == "invalid_policy"
    assert proposals.pending(db, kind="site_policy") == []


def test_other_processes_take_up_an_approved_policy(
    vault: Vault, db, make: Factory, config
) -> None:
    other = Vault.open(config)
    try:
        proposal_id = _propose(vault, db, make.admin(), "site_policy", {"text": NO_COPIES})
        _approve(vault, db, proposal_id, make.second_admin())
        assert "site-no-copies" in vault.policy.policy_text
        assert "site-no-copies" not in other.policy.policy_text
        assert other.reload_policy() is True
        assert "site-no-copies" in other.policy.policy_text
        assert other.reload_policy() is False
        # A process opened now starts with it.
        third = Vault.open(config)
        assert "site-no-copies" in third.policy.policy_text
        third.close()
    finally:
        other.close()


def test_cli_two_person_key_retirement_and_policy_load(
    vault: Vault, db, make: Factory, config, tmp_path
) -> None:
    old = _rotated(vault, db)
    admin, second = make.admin(), make.second_admin()
    db.commit()
    runner = CliRunner()
    env = {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}
    result = runner.invoke(main, env=env, args=["keys", "retire", old, "--reason", "leaked?"])
    assert result.exit_code != 0 and "--by" in result.output
    result = runner.invoke(
        main, env=env, args=["keys", "retire", old, "--by", admin.email, "--reason", "old"]
    )
    assert result.exit_code == 0, result.output
    assert "awaiting a second admin" in result.output
    proposal_id = int(result.output.split("#")[1].split()[0])
    result = runner.invoke(
        main, env=env, args=["proposals", "approve", str(proposal_id), "--by", admin.email]
    )
    assert result.exit_code != 0 and "same_person_approval" in result.output
    result = runner.invoke(
        main, env=env, args=["proposals", "approve", str(proposal_id), "--by", second.email]
    )
    assert result.exit_code == 0, result.output
    # The CLI opened its own vault: read the keyring file as it left it.
    from vault.crypto import LocalKeyring

    assert old not in LocalKeyring.load(config.keyring).key_ids()

    policy_file = tmp_path / "site.cedar"
    policy_file.write_text(NO_COPIES, encoding="utf-8")
    result = runner.invoke(
        main,
        env=env,
        args=["policy", "load", str(policy_file), "--by", admin.email, "--reason", "no copies"],
    )
    assert result.exit_code == 0, result.output
    proposal_id = int(result.output.split("#")[1].split()[0])
    assert "no site policy" in runner.invoke(main, env=env, args=["policy", "show"]).output
    result = runner.invoke(
        main, env=env, args=["proposals", "approve", str(proposal_id), "--by", second.email]
    )
    assert result.exit_code == 0, result.output
    shown = runner.invoke(main, env=env, args=["policy", "show"]).output
    assert "site-no-copies" in shown


def test_api_proposes_and_shows_the_site_policy(vault: Vault, db, make: Factory, api) -> None:
    admin, second, employee = make.admin(), make.second_admin(), make.person()
    tokens = {p: make.token(p) for p in (admin, second, employee)}
    answer = api.post("/policy/site", tokens[employee], json={"text": NO_COPIES, "reason": "x"})
    assert answer.status_code == 403
    answer = api.post("/policy/site", tokens[admin], json={"text": NO_COPIES, "reason": "x"})
    assert answer.status_code == 202, answer.json
    proposal_id = answer.json["id"]
    assert answer.json["kind"] == "site_policy"
    assert api.get("/policy/site", tokens[admin]).json["text"] == ""
    answer = api.post(f"/proposals/{proposal_id}/approve", tokens[admin], json={})
    assert answer.status_code == 403 and answer.json["code"] == "same_person_approval"
    answer = api.post(f"/proposals/{proposal_id}/approve", tokens[second], json={})
    assert answer.status_code == 200, answer.json
    shown = api.get("/policy/site", tokens[admin]).json
    assert "site-no-copies" in shown["text"] and shown["approved_by"] == second.id
    answer = api.post("/policy/site", tokens[admin], json={"text": "oops {", "reason": "x"})
    assert answer.status_code == 400 and answer.json["code"] == "invalid_policy"
    answer = api.post(
        "/keys/retire",
        tokens[admin],
        json={"key_id": vault.keys.active_key_id, "reason": "x"},
    )
    assert answer.status_code == 409 and answer.json["code"] == "key_active"


def test_policy_refresh_setting_is_checked() -> None:
    from vault.config import Config

    assert Config.from_env({"VAULT_POLICY_REFRESH_S": "2.5"}).policy_refresh_s == 2.5
    for bad in ("0", "soon", "1e9"):
        with pytest.raises(InvalidInput):
            Config.from_env({"VAULT_POLICY_REFRESH_S": bad})
