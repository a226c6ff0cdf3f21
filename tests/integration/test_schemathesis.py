"""schemathesis over the served OpenAPI document: every operation, as each role, with
bounded examples (valid input on the world's real rows, valid input on generated ids, and
input the document forbids). No answer is a server error, and every answer matches the
document: a listed status, its media type, its schema.

The operations come from ``/api/v1/openapi.json`` at run time, so a new route is covered
as soon as it is declared. ``VAULT_FUZZ_EXAMPLES`` (default 3 per operation and role) gives
a longer run: ``VAULT_FUZZ_EXAMPLES=200 pytest tests/integration/test_schemathesis.py``.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import Factory
from tests.integration.hostile import ROLES, world

EXAMPLES = int(os.environ.get("VAULT_FUZZ_EXAMPLES", "3"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.long
def test_every_operation_answers_as_documented(app, client, make: Factory, role):
    w = world(make, client)
    headers = w.headers(role)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1
        real = {p.name: w.ids[p.name] for p in op.path_parameters if p.name in w.ids}
        strategy = (
            op.as_strategy(GenerationMode.POSITIVE, path_parameters=real)
            | op.as_strategy(GenerationMode.POSITIVE)
            | op.as_strategy(GenerationMode.NEGATIVE)
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def call(case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            call()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures.append(f"{op.label}: {str(exc)[:2000]}")
    assert operations > 30
    assert not failures, "\n\n".join(failures)
