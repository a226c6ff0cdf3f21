"""The access gate every request passes: declared route, authenticated, allowed.

Order, as in Indico: find the route's declaration (none -> refuse), authenticate
(401), decide (403, audited), and only then let the view parse its input. Vault-wide
acts are decided here in full. Acts on one record or client file are decided
against that target by the service (content in :mod:`vault.access`, custody acts
in :mod:`vault.grants.requests` and :mod:`vault.custody.loans`); for custody acts the gate first
refuses anyone who could not do the act on a client of any tier, so that a caller
without the right never learns what input the act would want."""

from __future__ import annotations

from datetime import date

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from vault import authz
from vault.caller import Caller
from vault.config import TIERS
from vault.errors import Denied, Unauthenticated
from vault.oversight import alerts
from vault.policy import Action, Decision, Target
from vault.web.context import caller, db, vault
from vault.web.routing import spec_of


def init_app(app: Flask) -> None:
    """Install the gate as the last ``before_request`` hook."""

    @app.before_request
    def _gate() -> None:
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None:
            return  # no route matched: Flask answers 404/405
        spec = spec_of(view)
        if spec is None:
            # Deny by default: a route without a declared action is never served.
            raise Denied("this route declares no policy action", code="undeclared_route")
        if spec.public:
            return
        if g.get("who") is None:
            code = "invalid_token" if g.get("bad_token") else "unauthenticated"
            raise Unauthenticated("sign in or send a valid bearer token", code=code)
        if spec.action.on_record:
            return  # decided in vault.access with the record, its grants and the quota
        who = caller()
        decision = _decide(who, spec.action)
        if decision is not None and not decision:
            _refuse(who, spec.action, decision)


def _decide(who: Caller, action: Action) -> Decision | None:
    """The vault-wide decision; for a custody act, a refusal only when it holds for every
    tier and the reason does not depend on the target (no designation, or a hard line).
    ``None`` leaves the decision to the service, which knows the target."""
    principal = who.principal(date.today())
    policy = vault().policy
    if action.on_self:
        # Routes of one's own credentials act on the caller by construction; the service
        # decides again on the credential itself (is it the caller's?).
        return policy.decide(principal, action, is_self=True, by_token=who.via_token)
    if action.about_person:
        # Anyone may ask about themselves; the service decides again on whom it is about.
        return policy.decide(principal, action, is_self=True)
    if not action.on_target:
        return policy.decide(principal, action)
    decisions = [
        # The best case the target could offer (not the requester, the depositor): a
        # refusal here holds whatever the target; the service decides with its facts.
        policy.decide(
            principal,
            action,
            Target(record_id=None, client_id=0, tier=tier),
            is_requester=False,
            is_depositor=True,
        )
        for tier in TIERS
    ]
    if any(decisions):
        return None
    first = decisions[0]
    if first.policy_ids:
        return first  # a hard line (leaving, under review...) whatever the target
    if not principal.custodian_tiers and action is not Action.RECORD_ATTACH:
        return Decision(False, "not_custodian", "only designated custodians may do this")
    return None


def _refuse(who: Caller, action: Action, decision: Decision) -> None:
    """Raise 403 through :func:`vault.authz.require`: the refusal's audit event (and an
    alert when a departed person knocks) is written by the boundary after the rollback."""
    resource = {k: v for k, v in (request.view_args or {}).items() if k.endswith("_id")}
    v = vault()

    def alert(session: Session) -> None:
        person = who.person
        if decision.reason == "person_disabled" and person is not None:
            alerts.raise_alert(
                v,
                session,
                who,
                "departed_access",
                person,
                f"{person.email} (left {person.leaving_on}) tried {action.value}",
                params={
                    "email": person.email,
                    "leaving_on": str(person.leaving_on),
                    "action": action.value,
                },
            )

    authz.require(
        v,
        db(),
        who,
        action,
        decision=decision,
        resource={k.removesuffix("_id"): val for k, val in resource.items()},
        details={"route": request.url_rule.rule if request.url_rule else ""},
        on_denial=(alert,),
    )
