"""Audited consultations of 4 KiB records over HTTP, against an unaudited baseline route.

Run ``.venv/bin/python bench/consult_bench.py [--backend postgresql] [--duration 10]``
(needs ``wrk``: ``apt-get install -y wrk``). It builds a vault in a temporary folder
(PostgreSQL: a fresh schema, dropped at the end), serves it with gunicorn (2 sync
workers, ``VAULT_BENCH_BASELINE=1``) on 127.0.0.1 and drives it with wrk at 16
connections, alternating rounds of

- baseline: ``GET /bench/baseline/<id>`` reads the record's row and commits one
  unaudited insert (no token, no policy, no audit);
- consult: ``GET /api/v1/records/<id>/content`` as one of 16 custodians (bearer token,
  policy, quota, unwrap, decrypt, audit, commit), each on a set of records within
  their export quota, so every request is allowed.

Prints req/s and p50/p99 latency of each and the ratios (DESIGN section 8: consult
>= 75 % of the baseline's throughput, p99 <= 30 ms). Every non-2xx answer is counted
and reported; a run with errors says so.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import _common as common

from vault.web import bench as bench_routes

CONNECTIONS = 16
CUSTODIANS = 16
RECORDS_EACH = 30  # within the custodian quota (60 distinct per hour), so all are allowed
RECORDS = 2000
CONTENT_BYTES = 4096
PURPOSE = "bench%3A+renewing+payment+terms"


@dataclass(frozen=True)
class Run:
    """One wrk run's figures, with the CPU the app workers and PostgreSQL spent per request."""

    name: str
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    app_cpu_ms: float
    db_cpu_ms: float


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                head, tail = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            found.append((int(entry.name), int(tail.split()[1]), head.split("(", 1)[1]))
    return found


def _server_pids(master: int) -> tuple[list[int], list[int]]:
    """The gunicorn workers under ``master``, and every PostgreSQL process on the machine."""
    procs = _processes()
    workers = [pid for pid, ppid, _ in procs if ppid == master]
    postgres = [pid for pid, _, name in procs if name.startswith("postgres")]
    return workers, postgres


def _lua(paths: list[str], tokens: list[str]) -> str:
    return common.wrk_rotation_script(paths, tokens)


def _wrk(name: str, base: str, script: Path, seconds: float, master: int) -> Run:
    workers, postgres = _server_pids(master)
    app_before, db_before = _cpu_seconds(workers), _cpu_seconds(postgres)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
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
    app_cpu, db_cpu = _cpu_seconds(workers) - app_before, _cpu_seconds(postgres) - db_before
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    requests, duration_us, p50_us, p99_us, *errors = map(int, line.split()[1:])
    n = max(1, requests)
    return Run(
        name,
        requests / (duration_us / 1e6),
        p50_us / 1000,
        p99_us / 1000,
        sum(errors),
        app_cpu / n * 1000,
        db_cpu / n * 1000,
    )


def main() -> None:
    """Set up, serve, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=common.BACKENDS, default="postgresql")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each (alternating)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    common.quiet()
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp, common.database(args.backend, Path(tmp)) as url:
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
            history = common.past_events(v, people.custodians, ids, per_person=60, distinct=20)
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
        consult_lua = Path(tmp) / "consult.lua"
        consult_lua.write_text(
            _lua(
                [f"/api/v1/records/{rid}/content?purpose={PURPOSE}" for rid, _ in order],
                [tok for _, tok in order],
            )
        )
        baseline_lua = Path(tmp) / "baseline.lua"
        baseline_lua.write_text(
            _lua([f"/bench/baseline/{rid}" for rid, _ in order], ["" for _ in order])
        )

        port = common.free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(
            os.environ,
            VAULT_HOME=str(home),
            VAULT_DATABASE_URL=url,
            VAULT_SECRET_KEY="bench-secret",
            VAULT_BENCH_BASELINE="1",
        )
        gunicorn = Path(sys.executable).parent / "gunicorn"
        proc = subprocess.Popen(
            [
                str(gunicorn),
                "-w",
                str(args.workers),
                "-k",
                "sync",
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "vault.web:create_app()",
            ],
            env=env,
            start_new_session=True,
        )
        try:
            common.wait_ready(base, proc)
            status, body = common.get(
                f"{base}/api/v1/records/{order[0][0]}/content?purpose={PURPOSE}", order[0][1]
            )
            assert status == 200 and len(json.loads(body)["content"]) == CONTENT_BYTES
            assert common.get(f"{base}/bench/baseline/{order[0][0]}")[0] == 200
            _wrk("warmup", base, baseline_lua, args.warmup, proc.pid)
            _wrk("warmup", base, consult_lua, args.warmup, proc.pid)
            runs: list[Run] = []
            for _ in range(args.rounds):
                runs.append(_wrk("baseline", base, baseline_lua, args.duration, proc.pid))
                runs.append(_wrk("consult", base, consult_lua, args.duration, proc.pid))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)

    print(
        f"consult bench, {args.backend}, gunicorn {args.workers} sync workers, wrk "
        f"{CONNECTIONS} connections, {args.rounds} x {args.duration:g} s each, "
        f"{CONTENT_BYTES} B records, {RECORDS} records, {history} past events"
    )
    print(
        f"{'run':<10} {'req/s':>9} {'p50':>10} {'p99':>10} {'errors':>7} "
        f"{'app CPU/req':>12} {'PG CPU/req':>11}"
    )
    for r in runs:
        print(
            f"{r.name:<10} {r.rate:9.0f} {r.p50_ms:7.2f} ms {r.p99_ms:7.2f} ms {r.errors:7d} "
            f"{r.app_cpu_ms:9.2f} ms {r.db_cpu_ms:8.2f} ms"
        )
    base_rate = statistics.median(r.rate for r in runs if r.name == "baseline")
    cons = [r for r in runs if r.name == "consult"]
    cons_rate = statistics.median(r.rate for r in cons)
    print(f"consult / baseline throughput  {cons_rate / base_rate:8.1%}   (target >= 75 %)")
    base_cpu = statistics.median(r.app_cpu_ms + r.db_cpu_ms for r in runs if r.name == "baseline")
    cons_cpu = statistics.median(r.app_cpu_ms + r.db_cpu_ms for r in cons)
    print(
        f"CPU per request, baseline / consult {base_cpu / cons_cpu:6.1%}   (app workers + "
        "PostgreSQL; less sensitive to other load on the machine)"
    )
    print(f"consult p50 (median of rounds) {statistics.median(r.p50_ms for r in cons):8.2f} ms")
    print(
        f"consult p99 (worst round)      {max(r.p99_ms for r in cons):8.2f} ms   (target <= 30 ms)"
    )
    if any(r.errors for r in runs):
        print("WARNING: some requests failed (non-2xx or socket errors); see the errors column")


if __name__ == "__main__":
    main()
