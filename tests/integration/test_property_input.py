"""A property over the JSON and query input of every API operation: whatever a caller
sends, as any role, the answer is never a 5xx, every 4xx is a problem document with a
stable code, and a refused request changes nothing (no domain table changes; the audit
log gains only refusals).

Bodies are built from each operation's request schema in the served document (each field
valid or junk) plus junk of every kind: wrong types, lone surrogates, NUL, numbers past
any range or not finite or not whole, deep nesting, extra fields, bodies that are not JSON
objects. Query strings likewise. The operations are read from ``/api/v1/openapi.json`` at
run time. ``VAULT_FUZZ_EXAMPLES`` (default 2 per operation and role) gives a longer run.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import Factory
from tests.integration.hostile import (
    ROLES,
    Operation,
    World,
    changes,
    is_problem,
    operations,
    resolve,
    snapshot,
    world,
)

EXAMPLES = int(os.environ.get("VAULT_FUZZ_EXAMPLES", "2"))

# Markers replaced in the JSON text after json.dumps, for what Python cannot dump as-is.
_RAW = {"__1E400__": "1e400", "__M1E400__": "-1e400", "__BIGEXP__": "1e99999"}


def _deep(depth: int) -> Any:
    value: Any = 1
    for n in range(depth):
        value = [value] if n % 2 else {"a": value}
    return value


JUNK = st.one_of(
    st.sampled_from(
        [
            *_RAW,
            float("nan"),
            float("inf"),
            float("-inf"),
            10.5,
            1.0,
            -0.0,
            True,
            False,
            None,
            "3",
            "",
            "\x00",
            "a\x00b",
            "a\ud800b",
            "\udfff",
            "\ufeff",
            "x" * 10_000,
            2**31,
            2**63,
            -(2**63) - 1,
            10**40,
            -1,
            0,
            _deep(9),
            _deep(40),
            [],
            {},
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.text(alphabet=st.characters(categories=["Cs", "Cc"]), max_size=4),
    st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _valid(doc: dict[str, Any], name: str, prop: dict[str, Any], w: World) -> st.SearchStrategy:
    """Values the schema allows (the world's real rows for ids)."""
    prop = resolve(doc, prop)
    if "anyOf" in prop:
        return st.one_of(*(_valid(doc, name, option, w) for option in prop["anyOf"]))
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    kind = prop.get("type")
    if kind == "null":
        return st.none()
    if kind == "integer":
        if name in w.ids:
            return st.just(w.ids[name])
        return st.integers(prop.get("minimum"), prop.get("maximum"))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(_valid(doc, name, prop.get("items", {}), w), max_size=3)
    if kind == "string":
        if prop.get("format") == "date":
            return st.dates().map(str)
        if name in ("borrower", "email"):
            return st.sampled_from(sorted(w.emails.values()))
        return st.text(min_size=prop.get("minLength", 0), max_size=prop.get("maxLength", 40))
    return JUNK


def _body(doc: dict[str, Any], op: Operation, w: World) -> st.SearchStrategy[str | bytes]:
    found = op.body_schema(doc)
    props = found[1].get("properties", {}) if found else {}
    fields = st.fixed_dictionaries(
        {},
        optional={name: st.one_of(_valid(doc, name, p, w), JUNK) for name, p in props.items()},
    )
    extra = st.dictionaries(st.text(max_size=8), JUNK, max_size=2)
    objects = st.builds(lambda f, e: {**e, **f}, fields, extra).map(_dump)
    not_objects = st.one_of(
        JUNK.map(_dump),
        st.sampled_from(["", "[" * 50_000, '{"a": 1', "{'a': 1}", "\ufeff{}", "null"]),
        st.binary(max_size=16),
    )
    return st.one_of(objects, objects, not_objects)


def _dump(value: Any) -> str:
    text = json.dumps(value)
    for marker, raw in _RAW.items():
        text = text.replace(f'"{marker}"', raw)
    return text


QUERY_JUNK = st.one_of(
    st.sampled_from(["1e400", "10.5", "-1", "0x10", "1_0", "9" * 30, "\x00", "a\x00", "nan"]),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12),
)


def _query(doc: dict[str, Any], op: Operation, w: World) -> st.SearchStrategy[dict[str, str]]:
    def text(name: str, schema: dict[str, Any]) -> st.SearchStrategy[str]:
        valid = _valid(doc, name, schema, w).map(
            lambda v: str(v).lower() if isinstance(v, bool) else "" if v is None else str(v)
        )
        return st.one_of(valid, QUERY_JUNK)

    named = {name: text(name, p["schema"]) for name, p in op.params("query").items()}
    fields = st.fixed_dictionaries({}, optional=named)
    extra = st.dictionaries(st.text(min_size=1, max_size=6), QUERY_JUNK, max_size=2)
    return st.builds(lambda f, e: {**e, **f}, fields, extra).map(
        lambda q: {k: v for k, v in q.items() if _encodable(k) and _encodable(v)}
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False  # a URL cannot carry a lone surrogate: the client could not send it
    return True


def _path(op: Operation, w: World) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            name: st.sampled_from([w.ids[name], 0, 2**31, 2**63, 10**30])
            if name in w.ids and name != "name"
            else st.sampled_from([w.ids.get(name, "x"), "x", "\u00e9"])
            for name in op.path_params
        }
    )


def _fuzz(api, db, w: World, doc: dict[str, Any], op: Operation, role: str) -> None:
    """Throw ``EXAMPLES`` generated requests at ``op`` as ``role``."""
    method = op.method.upper()
    headers = {**w.headers(role), "Content-Type": "application/json"}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=_body(doc, op, w), query=_query(doc, op, w), path=_path(op, w))
    def call(body: str | bytes, query: dict[str, str], path: dict[str, Any]) -> None:
        before = snapshot(db)
        resp = api.client.open(
            op.url(w.ids, **path),
            method=method,
            query_string=query,
            headers=headers,
            data=body if method != "GET" else None,
        )
        where = (op.label, role, resp.status_code, resp.data[:300])
        assert resp.status_code < 500, where
        if resp.status_code >= 400:
            assert is_problem(resp), where
            assert changes(db, before) == [], where

    call()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.long
def test_no_input_gets_a_server_error_and_a_refusal_changes_nothing(
    api, db, make: Factory, client, role
):
    w = world(make, client)
    doc = api.get("/openapi.json").json
    ops = list(operations(doc))
    assert len(ops) > 30
    for op in ops:
        _fuzz(api, db, w, doc, op, role)
