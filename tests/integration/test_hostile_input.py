"""Finding 8, item by item, over every operation of the served OpenAPI document that takes
such input: deep JSON, numbers past any range (``1e400``), lone surrogates, NUL, ids past
the 32-bit column or past 2**63, ``10.5`` and ``"3"`` as ids. Each is a 4xx problem+json
with the stable code the same field gets for plain bad input, the same on SQLite and
PostgreSQL, and changes nothing (only refusal events reach the audit log).

Each request is sent as every role: the gate answers first (an unauthorised caller never
learns what input an act wants), so each case asserts that at least one role got past the
gate to the input layer, and that every answer, refused or not, is a problem document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.factories import Factory
from tests.integration.hostile import (
    ROLES,
    Operation,
    World,
    changes,
    is_problem,
    kinds,
    last_event,
    new_events,
    operations,
    resolve,
    snapshot,
    world,
)

INT32 = 2**31 - 1


@pytest.fixture
def doc(api) -> dict[str, Any]:
    return api.get("/openapi.json").json


@pytest.fixture
def w(make: Factory, client, db) -> Iterator[World]:
    """The world; when the test is done, no domain table changed and the audit log holds
    only refusals."""
    built = world(make, client)
    before = snapshot(db)
    yield built
    assert changes(db, before) == []


# ---- Building bodies and queries from the document --------------------------------------


def _valid(doc: dict[str, Any], name: str, prop: dict[str, Any], w: World) -> Any:
    """A value the schema accepts for ``name`` (using the world's rows for ids)."""
    prop = resolve(doc, prop)
    if "anyOf" in prop:
        options = [o for o in prop["anyOf"] if resolve(doc, o).get("type") != "null"]
        return _valid(doc, name, options[0], w) if options else None
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if kind == "integer":
        if name in w.ids:
            return w.ids[name]
        low = max(prop.get("minimum", 1), prop.get("exclusiveMinimum", 0) + 1)
        return min(low, prop.get("maximum", low))
    if kind == "number":
        return prop.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "array":
        items = resolve(doc, prop.get("items", {}))
        if "enum" in items:
            return [items["enum"][0]]
        return [_valid(doc, name, items, w)] * prop.get("minItems", 0)
    if kind == "object":
        return {}
    if prop.get("format") == "date":
        return "2027-06-01"
    if prop.get("format") == "date-time":
        return "2027-06-01T09:00:00Z"
    if name in ("borrower", "email") or prop.get("format") == "email":
        return w.emails["custodian"]
    if name == "reason":
        return "renewing the payment terms with this client"
    text = "x" * max(prop.get("minLength", 1), 1)
    if "pattern" in prop:
        fits = [c for c in (text, "ACME01", "a1", "x@y.z") if re.search(prop["pattern"], c)]
        assert fits, (name, prop["pattern"])
        return fits[0]
    return text


def _body(doc: dict[str, Any], schema: dict[str, Any], w: World) -> dict[str, Any]:
    """A body holding every required field with a valid value."""
    props = schema.get("properties", {})
    return {name: _valid(doc, name, props[name], w) for name in schema.get("required", ())}


# Refused to every bearer token before any input is read (a token never mints another):
# no role reaches their input here; the signed-in browser's case is test_own_tokens.py.
BROWSER_ONLY = {("post", "/me/tokens")}


def _token_reachable(doc: dict[str, Any]) -> list[Operation]:
    return [op for op in operations(doc) if (op.method, op.path) not in BROWSER_ONLY]


def _json_ops(doc: dict[str, Any]) -> list[tuple[Operation, dict[str, Any]]]:
    out = []
    for op in _token_reachable(doc):
        found = op.body_schema(doc)
        if found is not None and found[0] == "application/json":
            out.append((op, found[1]))
    return out


def _send(api, w: World, role: str, op: Operation, *, raw: str | bytes | None = None, query=""):
    headers = w.headers(role)
    if raw is not None:
        headers["Content-Type"] = "application/json"
    return api.client.open(
        op.url(w.ids) + query, method=op.method.upper(), headers=headers, data=raw
    )


def _as_every_role(
    api, db, w: World, op: Operation, roles: tuple[str, ...] = ROLES, **send: Any
) -> dict[str, Any]:
    """The answers of every role, each a problem 4xx (the test checks nothing changed)."""
    answers = {}
    for role in roles:
        resp = _send(api, w, role, op, **send)
        assert is_problem(resp), (op.label, role, resp.status_code, resp.data[:300])
        answers[role] = resp
    return answers


def _field_refusal(answers: dict[str, Any], field: str) -> str:
    """The code of the answers that reached the input layer and blamed ``field``."""
    codes = {
        resp.json["code"]
        for resp in answers.values()
        if resp.status_code == 400 and resp.json.get("detail", "").startswith(f"{field}:")
    }
    assert len(codes) == 1, {role: (r.status_code, r.json) for role, r in answers.items()}
    return codes.pop()


_BASELINES: dict[tuple[Any, ...], tuple[tuple[str, ...], str]] = {}


def _baseline(api, db, w: World, op: Operation, field: str, **send: Any):
    """The roles that get past the gate to ``field``'s refusal, and its code for plainly
    bad input. The gate decides before any input is parsed, so the hostile values are
    then sent as those roles only (the others are refused whatever they send)."""
    key = (id(w), op.label, field, repr(send))
    if key not in _BASELINES:
        answers = _as_every_role(api, db, w, op, **send)
        code = _field_refusal(answers, field)
        roles = tuple(r for r, resp in answers.items() if resp.json["code"] == code)
        _BASELINES[key] = (roles, code)
    return _BASELINES[key]


def _fields(doc: dict[str, Any], schema: dict[str, Any], *want: str) -> list[str]:
    return [
        name for name, prop in schema.get("properties", {}).items() if kinds(doc, prop) & set(want)
    ]


# ---- The checks ------------------------------------------------------------------------


def check_malformed_json(api, db, w: World, doc: dict[str, Any], raws: list[str | bytes]):
    """Every JSON body refuses each text as ``invalid_json``."""
    ops = _json_ops(doc)
    assert ops
    past_gate: dict[str, tuple[str, ...]] = {}
    for raw in raws:
        for op, _ in ops:
            # As every role the first time, then as those the gate let through.
            answers = _as_every_role(api, db, w, op, past_gate.get(op.label, ROLES), raw=raw)
            reached = [r for r in answers.values() if r.status_code == 400]
            past_gate[op.label] = tuple(r for r, a in answers.items() if a.status_code == 400)
            where = (op.label, str(raw)[:40])
            assert reached, (where, {role: r.json for role, r in answers.items()})
            assert {r.json["code"] for r in reached} == {"invalid_json"}, where


def check_body_values(api, db, w: World, doc: dict[str, Any], values: list[tuple[str, tuple]]):
    """Every JSON body field of a matching kind refuses each value (sent as JSON text, so
    1e400 and lone surrogates go out as written) with the code the same field gets for a
    plainly wrong type: whatever code a model names for its field."""
    for text, targets in values:
        tried = 0
        for op, schema in _json_ops(doc):
            base = _body(doc, schema, w)
            for field in _fields(doc, schema, *targets):
                wrong = json.dumps({**base, field: {"not": "a value"}})
                roles, baseline = _baseline(api, db, w, op, field, raw=wrong)
                body = json.dumps({**base, field: "__HOSTILE__"}).replace('"__HOSTILE__"', text)
                answers = _as_every_role(api, db, w, op, roles, raw=body)
                assert _field_refusal(answers, field) == baseline, (op.label, field, text)
                tried += 1
        assert tried, f"no body field takes {targets}"


def _query_ops(doc: dict[str, Any]) -> list[Operation]:
    return [op for op in _token_reachable(doc) if op.params("query")]


def _query_base(doc: dict[str, Any], op: Operation, w: World) -> dict[str, str]:
    out = {}
    for name, param in op.params("query").items():
        if param["required"]:
            value = _valid(doc, name, param["schema"], w)
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def check_query_values(api, db, w: World, doc: dict[str, Any], values: list[tuple[str, str]]):
    """Every query parameter of a matching kind refuses each (percent-encoded) value: an
    integer parameter with the code it gets for ``{}``, free text with a code of its own."""
    for value, kind in values:
        tried = 0
        for op in _query_ops(doc):
            base = _query_base(doc, op, w)
            for name, param in op.params("query").items():
                accepted = kinds(doc, param["schema"])
                if kind not in accepted or (kind == "string" and "format" in param["schema"]):
                    continue
                query = "?" + urlencode({**base, name: "HOSTILE"}).replace("HOSTILE", value)
                bad = "{}" if kind == "integer" else "%00"
                wrong = "?" + urlencode({**base, name: "HOSTILE"}).replace("HOSTILE", bad)
                roles, baseline = _baseline(api, db, w, op, name, query=wrong)
                answers = _as_every_role(api, db, w, op, roles, query=query)
                code = _field_refusal(answers, name)
                if kind == "integer":
                    assert code == baseline, (op.label, name, value[:20])
                tried += 1
        assert tried, f"no query parameter takes {kind}"


def _id_ops(doc: dict[str, Any]) -> list[tuple[Operation, str]]:
    return [
        (op, name)
        for op in _token_reachable(doc)
        for name, param in op.params("path").items()
        if param["schema"].get("type") == "integer"
    ]


def _json_body(doc: dict[str, Any], op: Operation, w: World) -> str | None:
    found = op.body_schema(doc)
    if found is None or found[0] != "application/json":
        return None
    return json.dumps(_body(doc, found[1], w))


def check_big_path_ids(api, db, w: World, doc: dict[str, Any], bigs: list[int]):
    """A path id past the column gets the answer and the audit events of an unknown id
    within range (2**31 - 1), as every role, in every operation with an id in its path."""
    ops = _id_ops(doc)
    assert ops
    for op, name in ops:
        body = _json_body(doc, op, w)
        for role in ROLES:
            answers = []
            for value in (INT32, *bigs):
                since = last_event(db)
                resp = api.client.open(
                    op.url(w.ids, **{name: value}),
                    method=op.method.upper(),
                    headers={**w.headers(role), "Content-Type": "application/json"},
                    data=body,
                )
                where = (op.label, name, value, role, resp.status_code, resp.data[:200])
                assert is_problem(resp), where
                answers.append((resp.status_code, resp.json["code"], new_events(db, since)))
            assert all(a == answers[0] for a in answers), (op.label, name, role, answers)


def check_path_texts(api, db, w: World, doc: dict[str, Any], texts: list[str]):
    """A path id that is not a whole number names no route: a 404 problem, nothing audited."""
    for text in texts:
        for op, name in _id_ops(doc):
            for role in ("employee",):  # no route matches: the role never comes into it
                since = last_event(db)
                resp = api.client.open(
                    op.url(w.ids, **{name: text}), method=op.method.upper(), headers=w.headers(role)
                )
                where = (op.label, text[:10], role, resp.status_code)
                assert resp.status_code in (404, 405) and is_problem(resp), where
                assert new_events(db, since) == [], where


# ---- Finding 8, item by item -------------------------------------------------------------

SURROGATES = ['"a\\ud800b"', '["\\udfff"]']
NULS = ['"a\\u0000b"', '["\\u0000"]']


def _deep_json(api, db, w, doc):
    check_malformed_json(
        api,
        db,
        w,
        doc,
        [
            '{"a": ' + "[" * 20 + "]" * 20 + "}",
            '{"a": ' + '{"b": ' * 50 + "1" + "}" * 50 + "}",
            "[" * 100_000 + "]" * 100_000,
            '{"a": ' * 100_000,
            '{"a": 1',
            b'{"a": "\xff"}',
            '"a string"',
            "[]",
            '{"a": [' + '{"b": [' * 5 + "]}" * 5 + "]}",
        ],
    )


def _huge_numbers(api, db, w, doc):
    check_malformed_json(api, db, w, doc, ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
    huge = ["1e400", str(2**63), "1" * 400]
    check_body_values(api, db, w, doc, [(n, ("integer",)) for n in huge])
    check_body_values(api, db, w, doc, [("1e400", ("string", "boolean", "array"))])
    check_query_values(api, db, w, doc, [(n, "integer") for n in ("1e400", "9" * 5000)])


def _lone_surrogates(api, db, w, doc):
    check_body_values(api, db, w, doc, [(s, ("string", "array")) for s in SURROGATES])


def _nul(api, db, w, doc):
    check_body_values(api, db, w, doc, [(s, ("string", "array")) for s in NULS])
    check_query_values(api, db, w, doc, [("a%00b", "string")])
    check_query_values(api, db, w, doc, [("1%00", "integer")])


def _big_path_ids(api, db, w, doc):
    check_big_path_ids(api, db, w, doc, [2**31, 2**63, 10**40])


def _non_integral_ids(api, db, w, doc):
    check_body_values(api, db, w, doc, [(v, ("integer",)) for v in ("10.5", '"3"', "true")])
    check_query_values(api, db, w, doc, [(v, "integer") for v in ("10.5", "1_0")])
    check_path_texts(api, db, w, doc, ["10.5", "-1", "0x10", "3%00", "1" * 5000])


FINDING_8 = {
    "deep-json": _deep_json,
    "1e400-and-non-finite": _huge_numbers,
    "lone-surrogates": _lone_surrogates,
    "nul": _nul,
    "path-ids-past-2^31-and-2^63": _big_path_ids,
    "non-integral-ids": _non_integral_ids,
}


@pytest.mark.parametrize("item", list(FINDING_8))
def test_finding_8_hostile_input_is_a_4xx_that_changes_nothing(api, db, w, doc, item):
    """Each item of finding 8, over every operation that takes such input, as every role:
    a 4xx problem+json with a stable code, on both databases; the ``w`` fixture then
    checks no domain table changed and the audit log gained only refusals."""
    FINDING_8[item](api, db, w, doc)
