"""``/metrics``: hidden unless a token is set, refused without it, and true to what happened.

In one world, an operator scrapes: with no token configured the route is 404 (as if it did
not exist); with one, no token or a wrong one is 401. Then a reader consults within a grant,
is refused outside it, and the scrape shows those requests by route rule and status, the
policy's decisions by action and result, the denial by code, the audit appends, the
key-provider unwraps, the seal lag (an event waits; sealed, the lag is 0) and the outbox
depth when its table exists. Then ``archive-vault serve`` with two gunicorn workers: a scrape
adds up the requests both workers answered (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.factories import Factory
from vault.web import create_app

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token-5f1c"
CONSULT = "/api/v1/records/<int:record_id>/content"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(seen, name: str, **labels: str) -> float:
    return seen.get((name, tuple(sorted(labels.items()))), 0.0)


def total(seen, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in seen.items() if n == name and want <= set(ls))


def test_metrics_are_private_and_count_what_happened(config, vault, make: Factory, backend):
    hidden = create_app(config, vault=vault).test_client()
    assert hidden.get("/metrics").status_code == 404
    assert hidden.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404

    client = create_app(config.with_(metrics_token=TOKEN), vault=vault).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.get_json()["code"] == "invalid_token"
        assert b"vault_" not in refused.data

    def scrape():
        resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200
        assert resp.content_type.startswith("text/plain")
        return samples(resp.get_data(as_text=True))

    reader = make.person()
    record, other = make.record(), make.record()
    make.grant(reader, record)
    auth = {"Authorization": f"Bearer {make.token(reader)}"}
    vault.maybe_seal(force=True)
    before = scrape()
    assert value(before, "vault_audit_seal_lag_seconds") == 0
    for _ in range(3):
        got = client.get(f"/api/v1/records/{record.id}/content?purpose=PURPOSECANARY", headers=auth)
        assert got.status_code == 200
    refused = client.get(f"/api/v1/records/{other.id}/content?purpose=PURPOSECANARY", headers=auth)
    assert refused.status_code == 403
    code = refused.get_json()["code"]
    time.sleep(0.05)
    after = scrape()

    def grew(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("vault_http_requests_total", route=CONSULT, method="GET", status="200") == 3
    assert grew("vault_http_requests_total", route=CONSULT, method="GET", status="403") == 1
    assert grew("vault_http_request_duration_seconds_count", route=CONSULT) == 4
    assert grew("vault_policy_decisions_total", action="record:consult", result="allow") == 3
    assert grew("vault_policy_decisions_total", action="record:consult", result="deny") >= 1
    assert grew("vault_denials_total", code=code) == 1
    # Three consultations and one refusal, each audited (deferred with the commit or inline).
    assert grew("vault_audit_append_duration_seconds_count") >= 4
    key_seconds = "vault_key_provider_duration_seconds_count"
    unwraps = grew(key_seconds, provider="local", operation="unwrap")
    assert unwraps >= 3
    # The events wait for the sealer (off in tests): the lag shows them, then goes to 0.
    assert value(after, "vault_audit_unsealed_events") >= 4
    assert value(after, "vault_audit_seal_lag_seconds") > 0
    vault.maybe_seal(force=True)
    assert value(scrape(), "vault_audit_seal_lag_seconds") == 0
    # The outbox depth shows once the outbox table exists (the worker's migration).
    with vault.engine.begin() as conn:
        has_outbox = vault.engine.dialect.has_table(conn, "outbox_messages")
    assert (("vault_outbox_depth", ()) in after) == has_outbox
    # Nothing of a person or a purpose is in a scrape.
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(True)
    assert reader.email not in text
    assert "PURPOSECANARY" not in text


def test_gunicorn_workers_add_up(config, vault, make: Factory, tmp_path, backend):
    """Two sync workers answer; any one scrape counts the requests of both, and so does
    the master's private listener (VAULT_METRICS_BIND)."""
    from tests.integration.test_serve_canary import _free_port

    port, private = _free_port(), _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "metrics-serve-secret",
        "VAULT_METRICS_TOKEN": TOKEN,
        # The same numbers on a private address, from the gunicorn master (no token).
        "VAULT_METRICS_BIND": f"127.0.0.1:{private}",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "serve.log").open("wb")
    serve = ["serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        [sys.executable, "-c", "from vault.cli import main; main()", *serve],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def get(path: str, token: str | None = None) -> tuple[int, str]:
        req = urllib.request.Request(base + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        # Concurrent requests, until both workers have answered (each keeps its own files).
        folder = config.home / "run" / "metrics"
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while len({f.name.rsplit("_", 1)[-1] for f in folder.glob("*.db")}) < 2:
                assert sent < 2000, "only one worker answered"
                assert all(c == 200 for c, _ in pool.map(lambda _: get("/readyz"), range(40)))
                sent += 40
        status, text = get("/metrics", TOKEN)
        assert status == 200, text
        seen = samples(text)
        assert total(seen, "vault_http_requests_total", route="/readyz", status="200") == sent
        assert get("/metrics")[0] == 401
        with urllib.request.urlopen(f"http://127.0.0.1:{private}/metrics", timeout=10) as resp:
            seen = samples(resp.read().decode())
        assert total(seen, "vault_http_requests_total", route="/readyz", status="200") == sent
        assert ("vault_audit_seal_lag_seconds", ()) in seen
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        log.close()
