"""Shared fixtures: a fresh vault per test on each database backend.

Backends come from ``VAULT_TEST_BACKENDS`` (default ``sqlite,postgresql``). A backend
that is asked for and unreachable fails the run: a missing service is never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import databases, s3emulator
from tests.databases import PG_URL
from vault.config import Config

BACKENDS = [b for b in os.environ.get("VAULT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def _share_url_builders() -> None:
    """Each test builds its own Flask app, and for every app werkzeug compiles two URL
    builders per rule from generated Python source: most of what building an app costs.
    A builder is a function of the rule's text and parsed parts alone (it reaches the
    converters through the rule it is bound to), so the apps of one test process share
    the builders of identical rules: the functions werkzeug would compile again. A rule
    with defaults (folded into its builder) is compiled as usual."""
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    built: dict[tuple[object, ...], Callable[..., tuple[str, str]]] = {}

    def shared(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        if self.defaults:
            return compile_builder(self, append_unknown)
        key = (self.rule, tuple(self._trace), append_unknown)
        found = built.get(key)
        if found is None:
            found = built[key] = compile_builder(self, append_unknown)
        return found

    Rule._compile_builder = shared  # type: ignore[method-assign]


_share_url_builders()


def _share_template_code() -> None:
    """Each test's app has its own Jinja environment, which parses and compiles every
    template it renders from source again. The apps of one test process share the
    compiled code through Jinja's own bytecode cache (in memory), keyed by the
    template's name and file, the settings that change what it compiles to, and (Jinja
    checks it on every load) the checksum of its source."""
    import jinja2
    from flask import Flask

    # What the parser and the code generator read of the environment, beside its
    # extensions (autoescape is Flask's function of the template's name, in the key).
    COMPILE_OPTIONS = (
        "block_start_string",
        "block_end_string",
        "variable_start_string",
        "variable_end_string",
        "comment_start_string",
        "comment_end_string",
        "line_statement_prefix",
        "line_comment_prefix",
        "trim_blocks",
        "lstrip_blocks",
        "newline_sequence",
        "keep_trailing_newline",
        "optimized",
        "is_async",
        "newstyle_gettext",  # set by the i18n extension
    )

    class Shared(jinja2.BytecodeCache):
        def __init__(self) -> None:
            self.code: dict[str, bytes] = {}

        def get_bucket(
            self, environment: jinja2.Environment, name: str, filename: str | None, source: str
        ) -> jinja2.bccache.Bucket:
            settings = repr(
                (
                    sorted(environment.extensions),
                    environment.policies.get("ext.i18n.trimmed"),
                    *(getattr(environment, option, None) for option in COMPILE_OPTIONS),
                )
            )
            return super().get_bucket(environment, name, f"{filename}\0{settings}", source)

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            code = self.code.get(bucket.key)
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            self.code[bucket.key] = bucket.bytecode_to_string()

    Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": Shared()}


_share_template_code()


@pytest.hookimpl(trylast=True)  # after pytest has grouped the items by their fixtures
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` (each runs for seconds: servers, killed processes, fuzzing)
    go first, the longest-first rule of scheduling: pytest-xdist's workers then share the
    many short tests at the end, and no core is left waiting for one long test."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = BACKENDS
        if metafunc.definition.get_closest_marker("postgres"):  # of PostgreSQL alone
            backends = [b for b in BACKENDS if b == "postgresql"]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An engine on the PostgreSQL test database, used to make and drop databases."""
    engine = databases.admin()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL}: {exc.__class__.__name__}. "
            "Start it, or set VAULT_TEST_BACKENDS=sqlite to test SQLite only."
        )
    yield engine


@pytest.fixture(scope="session", autouse=True)
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each worker's migrated templates (``tests/databases.py``), dropped at the end."""
    databases.scratch = tmp_path_factory.mktemp("templates")
    yield
    databases.drop_templates()


@pytest.fixture(scope="session")
def s3_emulator() -> Iterator[s3emulator.S3Emulator]:
    """moto's S3 emulator (server mode, not a real S3), one per session and worker; a test
    takes a bucket of its own (``s3_emulator.bucket()``)."""
    try:
        with s3emulator.running() as emulator:
            yield emulator
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL to a database of the backend under test (its own PostgreSQL database) that
    ``tests.databases.upgrade`` brings to the migrations' head: on PostgreSQL made at the
    head already (a copy of the migrated template), on SQLite a file not yet made."""
    yield from _database(databases.migrated, backend, tmp_path, request)


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL to an empty database of the backend under test, for the migrations' own
    tests (``tests.databases.upgrade`` runs them on it, or copies the template)."""
    yield from _database(databases.empty, backend, tmp_path, request)


def _database(
    made: Callable[[str, Path], str], backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    if backend == "postgresql":
        request.getfixturevalue("pg_admin")
    url = made(backend, tmp_path)
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    """Settings for a vault living in ``tmp_path``."""
    return Config(
        home=tmp_path / "var",
        database_url=db_url,
        testing=True,
        secret_key="test-secret",
        seal_interval_s=0.0,
        seal_in_background=False,
    )
