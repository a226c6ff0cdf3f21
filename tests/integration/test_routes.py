"""Invariant 3 (deny by default): every route declares its action; anonymous calls fail."""

from __future__ import annotations

import re

from vault.web.routing import spec_of


def _sample_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?\w+>", "1", rule)


def test_every_route_declares_a_policy_action(app):
    undeclared = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and spec_of(app.view_functions[rule.endpoint]) is None
    ]
    assert undeclared == []


def test_an_undeclared_route_is_refused(app, api, make):
    app.add_url_rule("/api/v1/sneaky", "sneaky", lambda: "content!")
    resp = api.get("/sneaky", make.token(make.admin()))
    assert resp.status_code == 403 and resp.json["code"] == "undeclared_route"
    assert "content!" not in resp.get_data(as_text=True)


def test_every_non_public_route_refuses_anonymous_callers(app, client):
    checked = 0
    for rule in app.url_map.iter_rules():
        spec = spec_of(app.view_functions.get(rule.endpoint))
        if spec is None or spec.public:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            resp = client.open(_sample_path(rule.rule), method=method)
            if rule.rule.startswith("/api/"):
                assert resp.status_code == 401, (method, rule.rule)
                assert resp.json["code"] == "unauthenticated"
            elif method == "GET":
                # A page sends the browser to the sign-in page, and back there afterwards.
                assert resp.status_code == 302, (method, rule.rule)
                assert resp.headers["Location"].startswith("/auth/login?next=")
            else:
                assert resp.status_code == 401, (method, rule.rule)
                assert 'class="error-code">unauthenticated<' in resp.get_data(as_text=True)
            checked += 1
    assert checked >= 10


def test_a_bad_token_is_refused(api):
    resp = api.get("/records", "avt_not-a-real-token")
    assert resp.status_code == 401 and resp.json["code"] == "invalid_token"


def test_role_routes_deny_employees_and_audit_the_denial(api, make):
    employee = make.person()
    token = make.token(employee)
    for path in ("/audit/events", "/audit/verify"):
        resp = api.get(path, token)
        assert resp.status_code == 403 and resp.json["code"] == "role_required"
    auditor = make.person(roles=("employee", "auditor"))
    events = api.get(f"/audit/events?person_id={employee.id}", make.token(auditor)).json["items"]
    assert {e["action"] for e in events} == {"audit:read", "audit:verify"}
    assert all(e["decision"] == "deny" for e in events)


def test_openapi_describes_every_api_route(app, api):
    from openapi_spec_validator import validate

    doc = api.get("/openapi.json").json
    validate(doc)
    described = {(path, m) for path, ops in doc["paths"].items() for m in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1") :])
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in described
    consult = doc["paths"]["/records/{record_id}/content"]["get"]
    assert consult["x-policy-action"] == "record:consult"


def test_health_and_readiness_are_public(api):
    assert api.get("/healthz").json == {"status": "ok"}
    assert api.get("/readyz").json == {"status": "ready"}
