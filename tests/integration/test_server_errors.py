"""gunicorn's own refusals (finding 8): over-long request lines and headers, malformed
requests. Against a real ``archive-vault serve``: every answer is a 4xx problem+json
with a stable code, never gunicorn's HTML page, and nothing of the request echoed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

ATTACK = "<script>x</script>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(vault, config):
    port = _free_port()
    env = {
        **os.environ,
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "test-secret-for-the-server",
        "PYTHONPATH": os.getcwd(),
    }
    proc = subprocess.Popen(
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180  # a loaded machine
        while True:
            try:
                _send(port, b"GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                break
            except OSError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _send(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(body) >= length[0]:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return status, headers, body


CASES = [
    (
        "request_line",
        b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        414,
        "request_line_too_long",
    ),
    (
        "header_size",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 10_000 + b"\r\n\r\n",
        431,
        "header_too_large",
    ),
    (
        "header_count",
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",
        431,
        "header_too_large",
    ),
    ("bad_line", ATTACK.encode() + b"\r\n\r\n", 400, "bad_request"),
    ("bad_method", b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
    ("bad_version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"),
    (
        "bad_header",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header" + ATTACK.encode() + b"\r\n\r\n",
        400,
        "bad_request",
    ),
]


def test_gunicorns_own_refusals_are_problem_json_with_stable_codes(server):
    for name, raw, status, code in CASES:
        got, headers, body = _send(server, raw)
        assert got == status, (name, got, body[:200])
        assert headers["content-type"] == "application/problem+json", name
        doc = json.loads(body)
        assert doc["code"] == code and doc["status"] == status, name
        assert b"<html" not in body and ATTACK.encode() not in body, name
    # The app itself still answers, and its own errors are problem+json as before.
    got, headers, body = _send(server, b"GET /api/v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got == 404 and headers["content-type"] == "application/problem+json"
