"""moto's S3 *emulator* (``moto_server``, its server mode) for the tests of the s3 blob store.

It speaks the S3 HTTP API on 127.0.0.1: it is not Amazon S3 nor any S3-compatible
product (none installs here); boto3 and the vault talk to it over HTTP exactly as they
would to a real endpoint. ``running()`` starts one on a free port and stops it; the
``s3`` fixture (tests/conftest.py) is one per test session and worker, and each test
that writes blobs takes a bucket of its own (``S3Emulator.bucket``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests

from tests.keyproviders import free_port

# Credentials the emulator accepts (any); set in the environment while it runs, so the
# vault's processes (which inherit it) and boto3 in the tests find them the usual way.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "emulator",
    "AWS_SECRET_ACCESS_KEY": "emulator",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Emulator:
    url: str

    def bucket(self, prefix: str = "vault-blobs") -> str:
        """A new, empty bucket of its own."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        boto3.client("s3", endpoint_url=self.url).create_bucket(Bucket=name)
        return name

    def env(self, bucket: str) -> dict[str, str]:
        """What a vault process needs to keep its blobs in ``bucket`` here."""
        return {
            **CREDENTIALS,
            "VAULT_BLOB_STORE": "s3",
            "VAULT_S3_BUCKET": bucket,
            "VAULT_S3_ENDPOINT_URL": self.url,
        }


@contextmanager
def running() -> Iterator[S3Emulator]:
    """moto_server on a free port (the credentials in ``os.environ`` meanwhile)."""
    binary = str(Path(sys.executable).with_name("moto_server"))
    if not Path(binary).is_file():
        raise RuntimeError(f"moto's server is missing ({binary}): pip install 'moto[server]'")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.RequestException:
                if proc.poll() is not None:
                    raise RuntimeError("moto_server exited") from None
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield S3Emulator(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for k, value in saved.items():
            if value is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = value
