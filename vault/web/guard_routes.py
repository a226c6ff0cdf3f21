"""The access gate every request passes: declared route, authenticated, allowed.

Order, as in Indico: find the route's declaration (none -> refuse), authenticate
(401), decide vault-wide acts (403, audited). Acts on one record or client file are
decided against that target by the service: content in :mod:`vault.access`,
custody acts in :mod:`vault.grants`.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request

from vault import auditing, guard
from vault.errors import Denied, Unauthenticated
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
        if g.get("person") is None:
            code = "invalid_token" if g.get("bad_token") else "unauthenticated"
            raise Unauthenticated("sign in or send a valid bearer token", code=code)
        if spec.action.on_target:
            # Decided against the record or client file itself: content acts in
            # vault.access, custody acts (approve, deny, revoke) in vault.grants.
            return
        from datetime import date

        who = caller()
        decision = vault().policy.decide(who.principal(date.today()), spec.action)
        if not decision:
            session = db()
            auditing.record(vault(), session, who, spec.action, decision=decision,
                            details={"route": request.url_rule.rule if request.url_rule else ""})
            if decision.reason == "person_disabled":
                person = who.person
                assert person is not None
                guard.raise_alert(vault(), session, who, "departed_access", person,
                                  f"{person.email} (left {person.leaving_on}) tried "
                                  f"{spec.action.value}")
            session.commit()
            raise Denied(decision.message, code=decision.reason)
