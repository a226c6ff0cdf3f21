"""Where an audited consultation spends its time: queries per request and a profile.

Run ``.venv/bin/python bench/profile_consult.py [--backend postgresql] [-n 2000]
[--route me|bare] [--all-frames] [--explain] [--turns]``. Drives ``GET
/api/v1/records/<id>/content`` (or, with ``--route me``, the token-authenticated ``GET
/api/v1/me``; with ``--route bare``, the benchmarks' bare JSON route, without a token)
in-process (Flask test client, no HTTP server) as 16 custodians in turn, counts the SQL
statements each request sends, and, when ``pyinstrument`` is installed
(``.venv/bin/pip install pyinstrument``; not a dependency of the project), prints where
the time goes. Also prints the mean time per request, which is only comparable between
runs on an equally idle machine. ``--explain`` (PostgreSQL) ends with the plan of the
consultation's facts statement and the pages it read (``Buffers: shared hit``), a measure
of its work that does not vary with the machine. ``--turns`` (SQLite) prints how long
each request holds the writer's turn (from ``BEGIN IMMEDIATE`` to the end of its commit):
the workers of one SQLite file write in turns, so one over that span is the most
consultations per second that any number of workers can reach.
The vault's info logs are off here (the audit log's JSON-lines copy included), as they are
not under gunicorn: ``bench/pipeline_bench.py`` measures the served path.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import _common as common
from sqlalchemy import event

from vault import access
from vault import db as vault_db
from vault.db import utcnow
from vault.runtime import Vault
from vault.web import create_app

CUSTODIANS = 16
RECORDS_EACH = 30


def main() -> None:
    """Set up, drive, count, profile."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=common.BACKENDS, default="postgresql")
    parser.add_argument("-n", type=int, default=2000, help="requests to profile")
    parser.add_argument("--no-profile", action="store_true", help="time only")
    parser.add_argument("--route", choices=("consult", "me", "bare"), default="consult")
    parser.add_argument("--all-frames", action="store_true", help="library frames too")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="after driving: PostgreSQL's plan of the consultation's facts statement, with "
        "its buffers (pages read: a measure of the work that does not vary with the machine)",
    )
    parser.add_argument(
        "--turns",
        action="store_true",
        help="(SQLite) how long each request holds the writer's turn, and what that bounds",
    )
    args = parser.parse_args()
    common.quiet()
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp, common.database(args.backend, Path(tmp)) as url:
        v = common.open_vault(Path(tmp) / "var", url, bench_baseline=True)
        try:
            people = common.staff(v, CUSTODIANS, 50, tokens_for=0)
            ids = common.catalogue(
                v, clients=200, records=2000, content_bytes=4096, by=people.employees[0].id
            )
            common.grants(v, people.employees, ids, per_person=3)
            common.past_events(v, people.custodians, ids, per_person=60, distinct=20)
            sets = [rng.sample(ids, RECORDS_EACH) for _ in range(CUSTODIANS)]
            order = [
                (sets[c][k], people.custodian_tokens[c])
                for k in range(RECORDS_EACH)
                for c in range(CUSTODIANS)
            ]
            client = create_app(v.config, vault=v).test_client()
            statements: Counter[str] = Counter()

            @event.listens_for(v.engine, "before_cursor_execute")
            def _count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
                statements[" ".join(statement.split())[:110]] += 1

            def drive(n: int) -> float:
                start = time.perf_counter()
                for i in range(n):
                    rid, token = order[i % len(order)]
                    path = {
                        "me": "/api/v1/me",
                        "bare": "/bench/bare",
                    }.get(args.route, f"/api/v1/records/{rid}/content?purpose=profiling")
                    # The bare route authenticates nobody: no token goes with it.
                    signed = args.route != "bare"
                    resp = client.get(
                        path, headers={"Authorization": f"Bearer {token}"} if signed else {}
                    )
                    assert resp.status_code == 200, resp.get_data(as_text=True)
                return time.perf_counter() - start

            drive(200)  # warm up: caches, connections, the first seal
            statements.clear()
            spans = time_turns(url) if args.turns else None
            seconds = drive(args.n)
            print(
                f"profile {args.route}, {args.backend}, {args.n} requests in process: "
                f"{seconds / args.n * 1e3:.3f} ms per request"
            )
            print("SQL statements per request (mean):")
            for text, count in statements.most_common():
                print(f"  {count / args.n:6.2f}  {text}")
            if args.turns:
                print_turns(spans, args.n)
            if args.explain:
                explain_facts(v, people.custodians[0].id, sets[0][0])
            if not args.no_profile:
                try:
                    from pyinstrument import Profiler
                except ImportError:
                    print("(pyinstrument is not installed: no profile)")
                    return
                profiler = Profiler(interval=0.0002)
                profiler.start()
                drive(args.n)
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=args.all_frames))
        finally:
            v.close()


def time_turns(url: str) -> list[float] | None:
    """Time each writer's turn on the SQLite file at ``url`` from now on (the spans, in
    seconds, are appended to the list returned); None on PostgreSQL."""
    found = [t for t in vault_db._TURNS if t._path.startswith(url.removeprefix("sqlite:///"))]
    if not found:
        return None
    spans: list[float] = []
    began: dict[int, float] = {}
    for turns in found:
        take, give_back = turns.take, turns.give_back

        def timed_take(conn, take=take):  # type: ignore[no-untyped-def]
            take(conn)
            began[id(vault_db._driver(conn))] = time.perf_counter()

        def timed_give_back(conn, give_back=give_back):  # type: ignore[no-untyped-def]
            start = began.pop(id(vault_db._driver(conn)), None)
            give_back(conn)
            if start is not None:
                spans.append(time.perf_counter() - start)

        turns.take, turns.give_back = timed_take, timed_give_back  # type: ignore[method-assign]
    return spans


def print_turns(spans: list[float] | None, n: int) -> None:
    if spans is None:
        print("(--turns: SQLite only)")
        return
    if not spans:
        print("writer's turn: no request took one")
        return
    mean = statistics.mean(spans)
    print(
        f"writer's turn: {len(spans) / n:.2f} per request, median "
        f"{statistics.median(spans) * 1e3:.3f} ms, mean {mean * 1e3:.3f} ms: at most "
        f"{1 / mean:,.0f} requests/s for all the workers together, before any wait"
    )


def explain_facts(v: Vault, person_id: int, record_id: int) -> None:
    """Print ``EXPLAIN (ANALYZE, BUFFERS)`` of the facts statement for one custodian's
    consultation of one record, as the request sends it (PostgreSQL only)."""
    if v.engine.dialect.name != "postgresql":
        print("(--explain: PostgreSQL only)")
        return
    params = {"record_id": record_id, **access._windows(person_id, record_id, utcnow())}
    with v.engine.connect() as conn:
        sent: list[tuple[str, object]] = []

        def grab(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            sent.append((statement, parameters))

        event.listen(conn, "before_cursor_execute", grab)
        conn.execute(access._FACTS, params).all()  # as SQLAlchemy sends it
        event.remove(conn, "before_cursor_execute", grab)
        statement, parameters = sent[0]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for _ in range(2):  # the second plan is the warm one
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
            plan = [line for (line,) in cursor.fetchall()]
        print("the facts statement's plan:")
        for line in plan:
            print(f"  {line}")


if __name__ == "__main__":
    main()
