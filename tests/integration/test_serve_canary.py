"""Invariant 1 covers logs too (Finding 4): ``archive-vault serve`` for real (gunicorn, its
access log on standard output), a scenario that looks up a tax id, and then every byte the
server printed, the database and the blobs are scanned for the canaries.

Someone also puts a canary tax id in a query string, as the old search asked: the request
is refused, and the access log records its path, never its query string.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.factories import Factory
from tests.integration.test_invariants import forms, written_bytes

ROOT = Path(__file__).resolve().parents[2]
CONTENT_CANARY = "SERVECANARY-客户机密-content-4K"
TAX_CANARY = "TAXSERVE7Q2W9"
BANK_CANARY = "BANKSERVE88410"
MISS_CANARY = "TAXGUESS55130"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(base: str, method: str, path: str, token: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, _parsed(resp.read(), resp.headers.get_content_type())
    except urllib.error.HTTPError as exc:
        return exc.code, _parsed(exc.read(), exc.headers.get_content_type())


def _parsed(raw: bytes, media_type: str) -> dict:
    if media_type.endswith("json"):
        return json.loads(raw or b"{}")
    return {"page": raw.decode("utf-8", errors="replace")}


def test_the_server_prints_no_sensitive_value(make: Factory, vault, config, backend, tmp_path):
    sales, custodian = make.person(), make.custodian()
    s_token, c_token = make.token(sales), make.token(custodian)
    port = _free_port()
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "serve-test-secret",
    }
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from vault.cli import main; main()",
                "serve",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=stdout,
            stderr=stderr,
            cwd=tmp_path,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/v1/healthz", timeout=2).close()
                    break
                except OSError:
                    assert server.poll() is None, err.read_text(errors="replace")
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.2)
            status, client = _call(
                base,
                "POST",
                "/api/v1/clients",
                s_token,
                {
                    "code": "SERVECO",
                    "name": "Serve Co",
                    "tier": "general",
                    "tax_id": TAX_CANARY,
                    "bank_account": BANK_CANARY,
                },
            )
            assert status == 201, client
            status, record = _call(
                base,
                "POST",
                "/api/v1/records",
                s_token,
                {
                    "client_id": client["id"],
                    "section": "credit",
                    "title": "SERVE-CONTROL-title",
                    "content": CONTENT_CANARY,
                },
            )
            assert status == 201, record
            status, found = _call(
                base, "POST", "/api/v1/clients/lookup", c_token, {"tax_id": TAX_CANARY}
            )
            assert status == 200 and [c["code"] for c in found["items"]] == ["SERVECO"]
            status, _ = _call(
                base, "POST", "/api/v1/clients/lookup", c_token, {"bank_account": BANK_CANARY}
            )
            assert status == 200
            status, refused = _call(
                base, "POST", "/api/v1/clients/lookup", s_token, {"tax_id": MISS_CANARY}
            )
            assert status == 403, refused
            # The old way: the value in the URL. Refused, and not written down.
            status, in_url = _call(base, "GET", f"/api/v1/clients?tax_id={TAX_CANARY}", s_token)
            assert status == 400 and in_url["code"] == "sensitive_in_url"
            status, in_url = _call(
                base, "GET", f"/clients?q=serve&bank_account={BANK_CANARY}", s_token
            )
            assert status == 400 and BANK_CANARY not in in_url["page"]
            status, got = _call(
                base,
                "GET",
                f"/api/v1/records/{record['id']}/content?purpose=annual+review",
                c_token,
            )
            assert status == 200 and got["content"] == CONTENT_CANARY
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
    printed = out.read_bytes() + b"\n" + err.read_bytes()
    # The scan sees the access log: each request's path is there, its query string is not.
    assert b"/api/v1/clients/lookup" in printed and b"/api/v1/records/" in printed
    assert b"purpose=" not in printed
    vault.maybe_seal(force=True)
    everything = printed + written_bytes(vault, backend)
    assert b"SERVE-CONTROL-title" in everything
    for secret in (CONTENT_CANARY, TAX_CANARY, BANK_CANARY, MISS_CANARY):
        for form in forms(secret):
            assert form not in everything, f"{secret!r} found as {form!r}"
