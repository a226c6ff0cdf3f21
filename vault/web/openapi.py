"""The OpenAPI 3.1 document, generated from the route declarations and their pydantic
models, so that a documented field, limit or status cannot drift from the enforced one."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from pydantic import BaseModel

from vault.web.api.schema import Form, Problem
from vault.web.routing import Binary, RouteSpec, spec_of

_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "Bad input (a stable code: missing_<field>, invalid_<field>, invalid_json...)",
    401: "Not signed in, or a bad token",
    403: "Denied by policy (audited)",
    404: "Not found",
    413: "Too large",
}


class _Schemas:
    """components/schemas, filled as models are referenced."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: str = "validation") -> dict[str, Any]:
        name = model.__name__
        if name not in self.schemas:
            schema = model.model_json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
            for sub, definition in schema.pop("$defs", {}).items():
                self.schemas.setdefault(sub, definition)
            self.schemas[name] = schema
        return {"$ref": _REF.format(model=name)}

    def inline(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=_REF)
        for sub, definition in schema.pop("$defs", {}).items():
            self.schemas.setdefault(sub, definition)
        return schema


def _parameters(rule: str, spec: RouteSpec, schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
            if conv == "int"
            else {"type": "string"},
        }
        for conv, name in _PARAM.findall(rule)
    ]
    if spec.query is not None:
        schema = schemas.inline(spec.query)
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": {k: v for k, v in prop.items() if k != "description"},
            }
            if prop.get("description"):
                param["description"] = prop["description"]
            params.append(param)
    return params


def _request_body(spec: RouteSpec, schemas: _Schemas) -> dict[str, Any]:
    assert spec.body is not None
    media = "multipart/form-data" if issubclass(spec.body, Form) else "application/json"
    required = any(f.is_required() for f in spec.body.model_fields.values())
    body: dict[str, Any] = {
        "required": required,
        "content": {media: {"schema": schemas.ref(spec.body)}},
    }
    if not required:
        body["description"] = "optional: an empty body (no Content-Type) means no fields"
    return body


def _responses(spec: RouteSpec, has_path: bool, schemas: _Schemas) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, answer in sorted(spec.responses.items()):
        answers = answer if isinstance(answer, tuple) else (answer,)
        content: dict[str, Any] = {}
        descriptions = []
        for what in answers:
            if isinstance(what, Binary):
                for media in what.media_types:
                    content[media] = {"schema": {"type": "string", "contentMediaType": media}}
                descriptions.append(what.description or "The content")
            elif what is not None:
                content["application/json"] = {"schema": schemas.ref(what, "serialization")}
                doc = (what.__doc__ or "OK").strip().splitlines()[0]
                descriptions.append(doc)
        out[str(status)] = {"description": "; ".join(descriptions) or "OK"}
        if content:
            out[str(status)]["content"] = content
    problem = {"application/problem+json": {"schema": schemas.ref(Problem, "serialization")}}
    errors = set()
    if spec.query is not None or spec.body is not None:
        errors |= {400, 413}
    if not spec.public:
        errors |= {401, 403}
    if has_path:
        errors.add(404)
    for status in sorted(errors):
        out.setdefault(str(status), {"description": _ERRORS[status], "content": problem})
    out["default"] = {"description": "An error", "content": problem}
    return out


def document() -> dict[str, Any]:
    """Describe every declared ``/api/v1`` route."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        spec = spec_of(current_app.view_functions[rule.endpoint])
        if spec is None:
            continue
        path = _PARAM.sub(r"{\2}", rule.rule[len("/api/v1") :])
        params = _parameters(rule.rule, spec, schemas)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "operationId": f"{rule.endpoint.split('.')[-1]}_{method.lower()}",
                "summary": spec.summary,
                "x-policy-action": spec.action.value,
                "tags": list(spec.tags),
                "responses": _responses(spec, "<" in rule.rule, schemas),
                "security": [] if spec.public else [{"bearer": []}],
            }
            if params:
                op["parameters"] = params
            if spec.body is not None and method != "GET":
                op["requestBody"] = _request_body(spec, schemas)
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Archive Vault API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": dict(sorted(schemas.schemas.items())),
        },
    }
