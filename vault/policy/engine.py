"""The adapter between the vault and Cedar: build the request, decide, explain.

The engine knows nothing of Flask or the database: callers hand it plain facts
(:class:`Principal`, :class:`Target`) and get a :class:`Decision` back. Facts
that change with time, such as tenure, are computed here at every decision.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import cedarpy

from vault import metrics
from vault.policy.actions import (
    ACCOUNT_ACTIONS,
    BATCH_ACTIONS,
    GRANT_ACTIONS,
    LOOKUP_ACTIONS,
    Action,
)

DAYS_PER_YEAR = 365.25
MEMO_SIZE = 8192  # decisions an engine remembers (each a few hundred bytes)


class PolicyError(Exception):
    """A policy file does not parse or does not validate against the schema."""


@dataclass(frozen=True)
class Principal:
    """What the policy needs to know about the person acting."""

    id: int
    roles: frozenset[str]
    hired_on: date
    custodian_tiers: frozenset[str] = frozenset()
    departing: bool = False
    disabled: bool = False
    under_review: bool = False

    def tenure_days(self, today: date) -> int:
        """Days of service as of ``today`` (never negative)."""
        return max(0, (today - self.hired_on).days)


@dataclass(frozen=True)
class Target:
    """The record (or, with ``record_id=None``, the client file) an act is about.

    ``None`` in place of a target stands for the vault as a whole.
    """

    record_id: int | None
    client_id: int
    tier: str


@dataclass(frozen=True)
class Decision:
    """The outcome of one decision; falsy when denied, carrying why either way."""

    allowed: bool
    reason: str
    message: str
    policy_ids: tuple[str, ...] = ()
    facts: Mapping[str, object] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.allowed


def _read_packaged(name: str) -> str:
    return resources.files("vault.policy").joinpath(name).read_text(encoding="utf-8")


class PolicyEngine:
    """Evaluates the shipped Cedar policies, plus a site policy file and a loaded site policy."""

    def __init__(
        self,
        tenure_years: Mapping[str, int],
        *,
        site_policy: Path | None = None,
        site_text: str = "",
    ) -> None:
        self.tenure_years = dict(tenure_years)
        self.schema_text = _read_packaged("vault.cedarschema")
        text = _read_packaged("vault.cedar")
        if site_policy is not None:
            text += "\n" + site_policy.read_text(encoding="utf-8")
        # The site policy loaded through the two-person rule (vault.governance.site_policy).
        self.site_text = site_text
        if site_text:
            text += "\n" + site_text
        self.policy_text = text
        self._policies, self._schema, self._annotations = _compiled(text, self.schema_text)
        # Decisions already made, by every fact they were made from (the policy set is this
        # engine's: a changed site policy is a new engine, with an empty memo).
        self._memo: dict[tuple[object, ...], Decision] = {}

    def decide(
        self,
        who: Principal,
        action: Action,
        target: Target | None = None,
        *,
        purpose: str = "",
        quota_exceeded: bool = False,
        granted_actions: frozenset[str] = frozenset(),
        is_requester: bool = True,
        approving: bool = False,
        is_proposer: bool = False,
        is_subject: bool = False,
        is_depositor: bool = False,
        is_self: bool = False,
        by_token: bool = True,
        today: date | None = None,
    ) -> Decision:
        """Decide whether ``who`` may do ``action`` on ``target`` (the vault if ``None``).

        Args:
            purpose, quota_exceeded, granted_actions: context of content acts.
            is_requester: for custody acts, whether ``who`` asked for the access being
                decided; defaults to ``True`` so that forgetting it denies.
            approving, is_proposer, is_subject: for acts under the two-person rule
                (``Action.proposed``), whether a proposal is being decided, whether
                ``who`` proposed it and whether it is about ``who``. The defaults ask
                "may ``who`` do this for someone else" (the route gate's question);
                :mod:`vault.proposals` always passes all three.
            is_depositor: for ``record:attach``, whether ``who`` deposited the record;
                defaults to ``False`` so that forgetting it denies.
            is_self, by_token: for acts on one's own credentials, whether they are the
                caller's and whether the caller came with a bearer token; the defaults deny.
                For questions about a person (``Action.about_person``), ``is_self`` says
                whether the question is about ``who``.

        Returns:
            A :class:`Decision`. A denial with no ``forbid`` behind it is explained
            from the same facts Cedar saw (e.g. ``tenure_too_short``).
        """
        today = today or date.today()
        key = (
            who,
            action,
            target,
            purpose,
            quota_exceeded,
            granted_actions,
            is_requester,
            approving,
            is_proposer,
            is_subject,
            is_depositor,
            is_self,
            by_token,
            today,
        )
        decision = self._memo.get(key)
        if decision is None:
            decision = self._evaluate(*key)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()  # bounded: a full memo starts again
            self._memo[key] = decision
        metrics.decision(action.value, decision.allowed)  # remembered or not, a decision
        return decision

    def _evaluate(
        self,
        who: Principal,
        action: Action,
        target: Target | None,
        purpose: str,
        quota_exceeded: bool,
        granted_actions: frozenset[str],
        is_requester: bool,
        approving: bool,
        is_proposer: bool,
        is_subject: bool,
        is_depositor: bool,
        is_self: bool,
        by_token: bool,
        today: date,
    ) -> Decision:
        """Build Cedar's request from the facts, evaluate it, and explain the outcome.

        A pure function of its arguments and this engine's policies: :meth:`decide`
        keeps what it returns."""
        tenure = who.tenure_days(today)
        entities: list[dict[str, object]] = []
        context: dict[str, object] = {}
        minimum_days = 0
        if target is None:
            resource = {"type": "Vault", "id": "vault"}
            entities.append({"uid": resource, "attrs": {}, "parents": []})
            if action.proposed:
                context = {
                    "approving": approving,
                    "is_proposer": is_proposer,
                    "is_subject": is_subject,
                }
            elif action in BATCH_ACTIONS:
                context = {"is_proposer": is_proposer}
        else:
            client = {"type": "Client", "id": str(target.client_id)}
            entities.append({"uid": client, "attrs": {"tier": target.tier}, "parents": []})
            if target.record_id is None:
                resource = client
            else:
                resource = {"type": "Record", "id": str(target.record_id)}
                entities.append(
                    {"uid": resource, "attrs": {"tier": target.tier}, "parents": [client]}
                )
            minimum_days = self.minimum_days(target.tier)
            if action.on_record:
                context = {
                    "purpose": purpose,
                    "tenure_minimum_days": minimum_days,
                    "quota_exceeded": quota_exceeded,
                    "granted_actions": sorted(granted_actions),
                }
            elif action is Action.RECORD_ATTACH:
                context = {"tenure_minimum_days": minimum_days, "is_depositor": is_depositor}
            elif action.on_target:
                context = {"tenure_minimum_days": minimum_days, "is_requester": is_requester}
                if action in LOOKUP_ACTIONS:
                    context["quota_exceeded"] = quota_exceeded
        if action.on_self:
            context = {"is_self": is_self, "by_token": by_token}
        elif action.about_person:
            context = {"is_self": is_self}
        request = {
            "principal": {"type": "Person", "id": str(who.id)},
            "action": {"type": "Action", "id": action.value},
            "resource": resource,
            "context": context,
        }
        # The person's entity is built once per set of facts (a changed row is a new key);
        # the target's few entities are added as JSON text next to it.
        text = ",".join([_person_entity(who, today), *(json.dumps(e) for e in entities)])
        result = cedarpy.is_authorized(request, self._policies, f"[{text}]", self._schema)
        facts = MappingProxyType({"tenure_days": tenure, "tenure_minimum_days": minimum_days})
        if result.diagnostics.errors:
            # An evaluation error never grants anything (fail closed).
            return Decision(False, "policy_error", "the policy could not be evaluated", (), facts)
        ids = tuple(self._annotations.get(p, {}).get("id", p) for p in result.diagnostics.reasons)
        if result.allowed:
            reason = self._reason_of(result.diagnostics.reasons, "allowed")
            return Decision(True, reason, f"allowed by {', '.join(ids)}", ids, facts)
        if ids:
            reason = self._reason_of(result.diagnostics.reasons, "forbidden")
            return Decision(False, reason, _MESSAGES.get(reason, reason), ids, facts)
        if action in ACCOUNT_ACTIONS and not is_self:
            reason = "not_own_account"
            message = "only the person themselves changes their password or one-time code"
        elif action in ACCOUNT_ACTIONS and by_token:
            reason = "account_browser_only"
            message = "change your password or one-time code from your signed-in page"
        elif action.on_self and not is_self:
            reason, message = "not_own_credential", "API tokens are their holder's alone"
        elif action.on_self and by_token:
            reason = "browser_session_required"
            message = "create API tokens from your own signed-in page, not with a token"
        else:
            reason, message = self._why_not(
                who, action, target, tenure, minimum_days, granted_actions
            )
        return Decision(False, reason, message, (), facts)

    def minimum_days(self, tier: str) -> int:
        """The custody tenure minimum for ``tier``, in days."""
        return int(self.tenure_years.get(tier, max(self.tenure_years.values())) * DAYS_PER_YEAR)

    def _reason_of(self, policy_names: list[str], default: str) -> str:
        """The reason of the most telling matched policy (e.g. disabled before departing)."""
        reasons = [self._annotations.get(n, {}).get("reason") for n in policy_names]
        found = [r for r in reasons if r]
        if not found:
            return default
        return min(found, key=lambda r: _PRECEDENCE.index(r) if r in _PRECEDENCE else 99)

    def _why_not(
        self,
        who: Principal,
        action: Action,
        target: Target | None,
        tenure: int,
        minimum: int,
        granted: frozenset[str] = frozenset(),
    ) -> tuple[str, str]:
        """Explain a default deny from the facts the policy saw."""
        if target is None or not action.on_target:
            return "role_required", f"{action.value} needs a role this person does not hold"
        if action is Action.RECORD_ATTACH and target.tier not in who.custodian_tiers:
            return (
                "not_depositor",
                "only the record's depositor or a custodian of its clients may add files to it",
            )
        if target.tier in who.custodian_tiers and tenure < minimum:
            years = self.tenure_years.get(target.tier, 0)
            return (
                "tenure_too_short",
                f"custody of {target.tier} clients needs {years} years of service; "
                f"this person has served {tenure} days ({tenure / DAYS_PER_YEAR:.1f} years)",
            )
        if action.on_record and granted:
            # A grant on this record, but not for this act: say what it covers.
            verb = next(v for v, a in GRANT_ACTIONS.items() if a is action)
            return (
                f"grant_does_not_cover_{verb}",
                f"your grant on this record covers {', '.join(sorted(granted))}, "
                f"not {verb}: ask for a grant that includes {verb}",
            )
        if who.custodian_tiers:
            return (
                "tier_out_of_scope",
                f"designated for {', '.join(sorted(who.custodian_tiers))}, "
                f"not for {target.tier} clients"
                + ("; ask for a temporary grant" if action.on_record else ""),
            )
        if action.on_record:
            return "no_grant", "only designated custodians or holders of a grant may see content"
        return "not_custodian", f"only custodians of {target.tier} clients may do this"


# When several forbids match, the reason given is the first of these.
_PRECEDENCE = (
    "person_disabled",
    "person_departing",
    "under_review",
    "export_quota_exceeded",
    "auditor_no_content",
    "self_approval",
    "self_proposal",
    "subject_approval",
    "same_person_approval",
)

_MESSAGES = {
    "person_disabled": "this person has left and is disabled",
    "person_departing": "a leaving date is set: access has ended",
    "self_approval": "nobody may decide their own request",
    "under_review": "this person is under review after crossing the export quota",
    "export_quota_exceeded": "too many distinct records opened; an auditor must clear you",
    "auditor_no_content": "auditors read the audit log, never record content",
    "same_person_approval": "a second admin must approve: nobody approves their own proposal",
    "subject_approval": "nobody approves an act about themselves",
    "self_proposal": "nobody proposes an act about themselves: ask another admin",
    "not_own_question": "only admins and auditors ask why about someone else",
}


@functools.lru_cache(maxsize=4096)
def _person_entity(who: Principal, today: date) -> str:
    """The Cedar entity of ``who`` on ``today``, as JSON (cached: the facts are the key)."""
    return json.dumps(
        {
            "uid": {"type": "Person", "id": str(who.id)},
            "attrs": {
                "roles": sorted(who.roles),
                "custodian_tiers": sorted(who.custodian_tiers),
                "tenure_days": who.tenure_days(today),
                "departing": who.departing,
                "disabled": who.disabled,
                "under_review": who.under_review,
            },
            "parents": [],
        }
    )


@functools.lru_cache(maxsize=8)
def _compiled(
    text: str, schema_text: str
) -> tuple[cedarpy.PolicySet, cedarpy.Schema, Mapping[str, Mapping[str, str]]]:
    """The policy set validated against the schema, parsed, with its annotations: the
    same for the same texts, so each process validates and parses a text once (a vault
    opened again, a site policy loaded back; a text that fails is checked each time)."""
    validate(text, schema_text)
    annotations = {name: MappingProxyType(a) for name, a in _annotations(text).items()}
    return (
        cedarpy.PolicySet.from_str(text),
        cedarpy.Schema.from_str(schema_text),
        MappingProxyType(annotations),
    )


def _annotations(text: str) -> dict[str, dict[str, str]]:
    """Map Cedar's ``policyN`` names to each policy's annotations."""
    data = json.loads(cedarpy.policies_to_json_str(text))
    return {name: body.get("annotations", {}) for name, body in data["staticPolicies"].items()}


def validate(policy_text: str, schema_text: str | None = None) -> None:
    """Raise :class:`PolicyError` unless ``policy_text`` validates against the schema."""
    schema_text = schema_text or _read_packaged("vault.cedarschema")
    try:
        result = cedarpy.validate_policies(policy_text, schema_text)
    except (ValueError, RuntimeError) as exc:
        raise PolicyError(f"policy does not parse: {exc}") from None
    if not result.validation_passed:
        raise PolicyError("; ".join(str(e) for e in result.errors) or "policy is invalid")
    names = _annotations(policy_text)
    missing = [n for n, ann in names.items() if "id" not in ann]
    if missing:
        raise PolicyError("every policy needs an @id(...) annotation")
