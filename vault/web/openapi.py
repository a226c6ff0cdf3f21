"""The OpenAPI 3.1 document, built from the route declarations so it cannot drift."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app

from vault.web.routing import spec_of

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")

PROBLEM = {
    "type": "object",
    "required": ["code", "status", "title"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "stable machine-readable error code"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
    },
}


def document() -> dict[str, Any]:
    """Describe every declared ``/api/v1`` route."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        spec = spec_of(current_app.view_functions[rule.endpoint])
        if spec is None:
            continue
        path = _PARAM.sub(r"{\2}", rule.rule[len("/api/v1") :])
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if conv == "int" else "string"},
            }
            for conv, name in _PARAM.findall(rule.rule)
        ]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "operationId": f"{rule.endpoint.split('.')[-1]}_{method.lower()}",
                "summary": spec.summary,
                "x-policy-action": spec.action.value,
                "tags": list(spec.tags),
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {}}},
                    "default": {
                        "description": "An error",
                        "content": {"application/problem+json": {"schema": PROBLEM}},
                    },
                },
            }
            query = (
                [
                    {
                        "name": n,
                        "in": "query",
                        "required": False,
                        "description": d,
                        "schema": {"type": t},
                    }
                    for n, t, d in spec.query
                ]
                if method == "GET"
                else []
            )
            if params or query:
                op["parameters"] = params + query
            if spec.body and method == "POST":
                op["requestBody"] = {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {k: {"type": t} for k, t in spec.body.items()},
                            }
                        }
                    }
                }
            if not spec.public:
                op["security"] = [{"bearer": []}]
            else:
                op["security"] = []
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Archive Vault API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Problem": PROBLEM},
        },
    }
