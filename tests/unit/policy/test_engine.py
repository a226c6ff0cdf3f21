"""The Cedar adapter on its own: decisions, reasons, validation, speed-independent."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from vault.policy import Action, PolicyEngine, PolicyError, Principal, Target, validate

TODAY = date(2026, 11, 28)
ENGINE = PolicyEngine({"core": 5, "special": 3, "general": 3})
RECORD = Target(record_id=7, client_id=3, tier="core")


def person(years: float = 10, roles=("employee",), tiers=(), **kw) -> Principal:
    hired = TODAY - timedelta(days=int(years * 365.25))
    return Principal(
        id=1, roles=frozenset(roles), hired_on=hired, custodian_tiers=frozenset(tiers), **kw
    )


def decide(who, action=Action.RECORD_CONSULT, target=RECORD, **kw):
    return ENGINE.decide(who, action, target, today=TODAY, purpose="p", **kw)


def test_deny_by_default():
    d = decide(person())
    assert not d and d.reason == "no_grant" and d.policy_ids == ()


def test_custodian_path_and_tenure_boundary():
    minimum = ENGINE.minimum_days("core")
    exactly = Principal(
        1, frozenset({"employee"}), TODAY - timedelta(days=minimum), frozenset({"core"})
    )
    one_short = Principal(
        1, frozenset({"employee"}), TODAY - timedelta(days=minimum - 1), frozenset({"core"})
    )
    assert decide(exactly).policy_ids == ("permit-custodian-content",)
    d = decide(one_short)
    assert not d and d.reason == "tenure_too_short" and "5 years" in d.message


def test_grant_path_names_the_action():
    assert decide(person(), granted_actions=frozenset({"consult"})).reason == "grant"
    assert not decide(person(), Action.RECORD_COPY, granted_actions=frozenset({"consult"}))
    assert decide(person(), Action.RECORD_COPY, granted_actions=frozenset({"copy"}))


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        ({"disabled": True, "departing": True}, "person_disabled"),
        ({"departing": True}, "person_departing"),
        ({"under_review": True}, "under_review"),
    ],
)
def test_hard_lines_beat_every_permit(facts, reason):
    who = person(tiers=("core",), **facts)
    d = decide(who, granted_actions=frozenset({"consult", "copy"}))
    assert not d and d.reason == reason


def test_quota_forbid():
    d = decide(person(tiers=("core",)), quota_exceeded=True)
    assert not d and d.reason == "export_quota_exceeded"


def test_auditors_never_see_content_even_when_designated():
    d = decide(
        person(roles=("employee", "auditor"), tiers=("core",)),
        granted_actions=frozenset({"consult"}),
    )
    assert not d and d.reason == "auditor_no_content"


def test_departing_keeps_only_the_profile():
    who = person(departing=True, roles=("employee", "admin"))
    assert ENGINE.decide(who, Action.PROFILE_READ, today=TODAY)
    assert not ENGINE.decide(who, Action.PERSON_CREATE, today=TODAY)
    assert not ENGINE.decide(who, Action.RECORD_READ, today=TODAY)


def test_approval_needs_scope_and_is_never_self():
    custodian = person(tiers=("core",))
    assert ENGINE.decide(custodian, Action.REQUEST_APPROVE, RECORD, is_requester=False, today=TODAY)
    d = ENGINE.decide(custodian, Action.REQUEST_APPROVE, RECORD, is_requester=True, today=TODAY)
    assert not d and d.reason == "self_approval"
    # Forgetting to say who asked denies (fail closed).
    assert not ENGINE.decide(custodian, Action.REQUEST_APPROVE, RECORD, today=TODAY)
    client_file = Target(record_id=None, client_id=3, tier="core")
    assert ENGINE.decide(
        custodian, Action.REQUEST_APPROVE, client_file, is_requester=False, today=TODAY
    )


def test_roles():
    auditor, admin = person(roles=("auditor",)), person(roles=("admin",))
    assert ENGINE.decide(auditor, Action.AUDIT_READ, today=TODAY)
    assert not ENGINE.decide(admin, Action.AUDIT_READ, today=TODAY)
    assert ENGINE.decide(admin, Action.DESIGNATION_CREATE, today=TODAY)
    assert not ENGINE.decide(auditor, Action.DESIGNATION_CREATE, today=TODAY)


def test_every_action_is_in_the_schema():
    """An action the schema does not know can never be permitted: catch it here."""
    for action in Action:
        d = ENGINE.decide(
            person(roles=("admin", "auditor")),
            action,
            RECORD if action.on_target else None,
            today=TODAY,
            is_requester=False,
        )
        assert d.reason != "policy_error", action


def test_validate_rejects_unknown_actions_and_missing_ids():
    with pytest.raises(PolicyError):
        validate('permit (principal, action == Action::"record:burn", resource);')
    with pytest.raises(PolicyError, match="@id"):
        validate('permit (principal, action == Action::"record:read", resource);')
    with pytest.raises(PolicyError):
        validate("this is not cedar")


def test_a_remembered_decision_is_only_ever_for_the_same_facts(monkeypatch):
    """The engine remembers decisions by every fact they were made from: a change of any
    fact (a leaving date, a review, a grant, the quota, the day) is decided again, never
    served from the memo; the memo is bounded; a new engine (a changed site policy) starts
    empty."""
    engine = PolicyEngine({"core": 5, "special": 3, "general": 3})
    general = Target(record_id=8, client_id=4, tier="general")

    def allowed(who: Principal, today: date = TODAY, **kw) -> bool:
        return engine.decide(
            who, Action.RECORD_CONSULT, general, purpose="p", today=today, **kw
        ).allowed

    custodian = person(tiers=("general",))
    assert allowed(custodian)
    assert allowed(custodian)  # from the memo, the same answer
    for changed in (
        person(tiers=("general",), departing=True),
        person(tiers=("general",), under_review=True),
        person(tiers=("general",), disabled=True),
        person(years=1, tiers=("general",)),
    ):
        assert not allowed(changed)
    assert not allowed(custodian, quota_exceeded=True)
    employee = person()
    assert not allowed(employee)
    assert allowed(employee, granted_actions=frozenset({"consult"}))
    # Tenure is a fact of the day: on a day before their third year, the same person is refused.
    assert not allowed(custodian, today=TODAY - timedelta(days=2560))
    assert allowed(custodian)
    monkeypatch.setattr("vault.policy.engine.MEMO_SIZE", 3)
    for n in range(10):
        engine.decide(person(), Action.RECORD_CONSULT, general, purpose=f"p{n}", today=TODAY)
    assert len(engine._memo) <= 3
    assert PolicyEngine({"core": 5, "special": 3, "general": 3})._memo == {}
