"""What a consultation must do beyond the lean reference, each part timed alone.

Run ``.venv/bin/python bench/parts_bench.py [--backend postgresql|sqlite|both] [-n 2000]``.
On the pipeline bench's data (16 custodians with a history, 2,000 records of 4 KiB, after
200 consultations through the app), in one process, it times the parts that the audited
consultation adds to the lean reference route (``/bench/lean``: one statement that reads
the record and inserts an event, a commit, an AES-GCM decrypt with a key in memory) and
that the issue's requirements make necessary:

- the policy decision with its context (remembered for the person, and decided anew);
- the audit event: built, its canonical JSON and its MAC;
- the record's data key: the key provider's unwrap and the record's share;
- the facts statement (the record, the caller's covering grants, the quota windows) less
  the lean reference's read of the record, both in a transaction, on the driver's
  connection;
- the audit event's insert (its indexes, the quota trigger) less the lean reference's
  insert into ``bench_events``, in one transaction rolled back at the end;
- sealing, per event: the hash chain, the Merkle tree and the signed checkpoint of a batch
  of 500, amortised.

Prints the median of each (ms), their sum, and the pipeline bench's budget formula: a
consultation reaches 0.80 of the lean reference only if everything it adds to the floor
(``/bench/lean-signed``) costs at most ``2000 / (0.8 * lean) - 2000 / floor`` ms of CPU on
two busy CPUs (0.16 ms in the run of 2026-12-03 in the README). The person's row lock, the
JSON-lines copy of the event and the reply's larger schema are not counted: the sum is the
least a consultation adds. Times vary with the machine; the sum against the budget is what
the run shows.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import _common as common
from sqlalchemy import select

from audit import Event
from vault import access
from vault.caller import Caller
from vault.db import utcnow
from vault.models import Person, Record
from vault.policy import Action, Decision
from vault.runtime import Vault
from vault.web import bench as bench_routes
from vault.web import create_app

PURPOSE = "checking the figures of the parts"


def median_ms(fn: Callable[[], object], n: int) -> float:
    """The median time of one call of ``fn`` (ms), after 50 calls to warm up."""
    for _ in range(50):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def parts(backend: str, n: int) -> dict[str, float]:
    """Build the data, warm the app, time each part; returns {part: median ms}."""
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp, common.database(backend, Path(tmp)) as url:
        v = common.open_vault(Path(tmp) / "var", url, bench_baseline=True)
        try:
            people = common.staff(v, 16, 50, tokens_for=0)
            ids = common.catalogue(
                v, clients=200, records=2000, content_bytes=4096, by=people.employees[0].id
            )
            common.grants(v, people.employees, ids, per_person=3)
            common.past_events(v, people.custodians, ids, per_person=60, distinct=20)
            bench_routes.metadata.create_all(v.engine)
            client = create_app(v.config, vault=v).test_client()
            mine = rng.sample(ids, 30)
            token = people.custodian_tokens[0]
            for i in range(200):  # the app as the bench serves it: quota rows, memo, prepared
                resp = client.get(
                    f"/api/v1/records/{mine[i % 30]}/content?purpose=warming+up",
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert resp.status_code == 200, resp.get_data(as_text=True)
            return _time_parts(v, people.custodians[0].id, mine[0], ids, n)
        finally:
            v.close()


def _time_parts(
    v: Vault, person_id: int, record_id: int, ids: list[int], n: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    with v.sessions() as db:
        caller = Caller(person=db.get(Person, person_id)).with_lock()
        loaded = access._load(v, db, caller, record_id, utcnow())
        assert loaded is not None
        card, facts = loaded
        principal = caller.principal(date.today())

        def decide() -> Decision:
            return v.policy.decide(
                principal,
                Action.RECORD_CONSULT,
                facts.target,
                purpose=PURPOSE,
                quota_exceeded=False,
                granted_actions=facts.granted_actions,
            )

        decision = decide()
        assert decision.allowed, decision
        out["policy decision, remembered"] = median_ms(decide, n)

        def decide_anew() -> Decision:
            v.policy._memo.clear()
            return decide()

        out["policy decision, decided anew (not counted)"] = median_ms(decide_anew, n)

        def event() -> object:
            return v.audit.insert_params(_event(caller, decision, record_id))

        out["audit event: built, canonical JSON, MAC"] = median_ms(event, n)
        out["data key: provider unwrap + share"] = median_ms(lambda: access._data_key(v, card), n)
        db.rollback()

        params = {"record_id": record_id, **access._windows(person_id, record_id, utcnow())}
        lean_read = select(Record.id, Record.content_ct, Record.wrapped_dek).where(
            Record.id == record_id
        )
        facts_ms = median_ms(lambda: v.direct.rows_in(db, access._FACTS, params), n)
        read_ms = median_ms(lambda: v.direct.rows_in(db, lean_read, {}), n)
        out["facts statement less the lean read"] = facts_ms - read_ms
        db.rollback()

        cursor = db.connection().connection.driver_connection.cursor()
        sql = v.audit.insert_sql(v.engine.dialect)
        # Each insert its own event, its arguments made before the clock runs, each of
        # another record: in one transaction, one quota row upserted again and again would
        # grow a chain of row versions that a request's own transaction never sees.
        rows = iter(
            [
                v.audit.insert_args(v.engine.dialect, _event(caller, decision, rid))
                for rid in (ids * 2)[: n + 50]
            ]
        )

        def audit_insert() -> None:
            cursor.execute(sql, next(rows))

        mark = "%s" if v.engine.dialect.name == "postgresql" else "?"
        lean_sql = (
            f"INSERT INTO bench_events (record_id, purpose, at) VALUES ({mark}, {mark}, {mark})"
        )
        now = utcnow() if v.engine.dialect.name == "postgresql" else utcnow().isoformat(sep=" ")

        def lean_insert() -> None:
            cursor.execute(lean_sql, (record_id, PURPOSE, now))

        insert_ms = median_ms(audit_insert, n)
        lean_ms = median_ms(lean_insert, n)
        out["audit insert less the lean insert"] = insert_ms - lean_ms
        db.rollback()
        to_seal = [_event(caller, decision, record_id) for _ in range(2000)]

    with v.engine.begin() as conn:
        for ev in to_seal:
            v.audit.append(conn, ev)
    with v.engine.connect() as conn:
        start = time.perf_counter()
        sealed = v.audit.seal(conn, batch=500, gap_grace=0)
        seconds = time.perf_counter() - start
    out["sealing, per event (batches of 500)"] = seconds / max(1, sealed) * 1e3
    return out


def _event(caller: Caller, decision: Decision, record_id: int) -> Event:
    """The event of an allowed consultation, as ``vault.auditing.record`` builds it."""
    return Event(
        action=Action.RECORD_CONSULT.value,
        actor=caller.actor(),
        decision="allow",
        outcome="ok",
        resource={"record": str(record_id)},
        reason=decision.reason,
        policy_ids=tuple(decision.policy_ids),
        purpose=PURPOSE,
    )


def main() -> None:
    """Time the parts on each backend and print them against the budget."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=(*common.BACKENDS, "both"), default="both")
    parser.add_argument("-n", type=int, default=2000, help="calls timed per part")
    args = parser.parse_args()
    common.quiet()
    backends = common.BACKENDS if args.backend == "both" else (args.backend,)
    print(f"parts bench: median ms per call, {args.n} calls each ({common.when()})")
    for backend in backends:
        got = parts(backend, args.n)
        print(f"\n{backend}:")
        total = 0.0
        for name, value in got.items():
            print(f"  {value:7.3f}  {name}")
            if "not counted" not in name:
                total += value
        print(f"  {total:7.3f}  the least a consultation adds to the floor")
    print(
        "\nbudget: 2000 / (0.8 * lean req/s) - 2000 / (floor req/s) ms, from one run of "
        "bench/pipeline_bench.py (0.16 ms in the README's run)"
    )


if __name__ == "__main__":
    main()
