"""The benchmark reference routes (vault/web/bench.py): absent unless asked for, and when
asked for, the lean route does what the benchmark says it does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from vault.config import Config
from vault.runtime import Vault
from vault.web import bench, create_app

ROUTES = ("/bench/bare", "/bench/baseline/1", "/bench/lean/1", "/bench/lean-signed/1")


@pytest.mark.parametrize("path", ROUTES)
def test_bench_routes_are_absent_without_the_setting(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 404


@pytest.fixture
def bench_client(config: Config, vault: Vault) -> FlaskClient:
    bench.metadata.create_all(vault.engine)
    app: Flask = create_app(dataclasses.replace(config, bench_baseline=True), vault=vault)
    return app.test_client()


def _events(vault: Vault) -> list[tuple[int, str]]:
    with vault.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.select(bench.events.c.record_id, bench.events.c.purpose))
        ]


def test_bare_answers_json(bench_client: FlaskClient) -> None:
    resp = bench_client.get("/bench/bare")
    assert resp.status_code == 200 and resp.json["ok"] is True


def test_lean_reads_decrypts_and_records_an_event(bench_client, vault, make) -> None:
    record = make.record(content=b"payment terms " * 300)
    make.db.commit()
    for _ in range(2):  # the second request reuses the worker's connection and key
        resp = bench_client.get(f"/bench/lean/{record.id}?purpose=renewal")
        assert resp.status_code == 200
        assert resp.json["record"] == record.id and resp.json["ciphertext_bytes"] > 4200
        assert len(resp.json["text"]) == 4096
        # Record content leaves through vault.access alone, never through a bench route.
        assert "payment terms" not in resp.get_data(as_text=True)
    assert _events(vault) == [(record.id, "renewal"), (record.id, "renewal")]


def test_lean_on_a_missing_record_is_404_and_records_nothing(bench_client, vault) -> None:
    resp = bench_client.get("/bench/lean/999999")
    assert resp.status_code == 404 and "record_not_found" in resp.get_data(as_text=True)
    assert _events(vault) == []


def test_signed_lean_asks_for_a_token_and_then_does_what_lean_does(
    bench_client, vault, make
) -> None:
    record = make.record()
    token = make.token(make.person())
    make.db.commit()
    resp = bench_client.get(f"/bench/lean-signed/{record.id}?purpose=renewal")
    # Outside /api/v1 an anonymous caller is sent to sign in; nothing was recorded.
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert _events(vault) == []
    headers = {"Authorization": f"Bearer {token}"}
    resp = bench_client.get(f"/bench/lean-signed/{record.id}?purpose=renewal", headers=headers)
    assert resp.status_code == 200 and len(resp.json["text"]) == 4096
    assert _events(vault) == [(record.id, "renewal")]


def test_baseline_reads_and_inserts(bench_client, make) -> None:
    record = make.record()
    make.db.commit()
    resp = bench_client.get(f"/bench/baseline/{record.id}")
    assert resp.status_code == 200 and resp.json["record"] == record.id


def test_the_benchmarks_staff_and_catalogue_build_and_consult(vault: Vault, monkeypatch) -> None:
    """The benchmarks' set-up goes through the services (and so the two-person rule):
    when a service's rules change, this fails here, not in the next benchmark run."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "bench"))
    import _common as common

    staff = common.staff(vault, 2, 3, tokens_for=1)
    ids = common.catalogue(vault, clients=2, records=4, by=staff.employees[0].id)
    assert len(staff.custodian_tokens) == 2 and len(staff.employee_tokens) == 1
    client = create_app(vault.config, vault=vault).test_client()
    headers = {"Authorization": f"Bearer {staff.custodian_tokens[0]}"}
    got = client.get(f"/api/v1/records/{ids[0]}/content?purpose=bench check", headers=headers)
    assert got.status_code == 200, got.json
