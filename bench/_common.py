"""Shared set-up for the benchmarks: a throw-away vault on SQLite or PostgreSQL, filled fast.

Nothing here is a test. People, designations and tokens go through the real services;
the bulk of the catalogue (clients, records, grants, past audit events) is inserted
directly, in large batches, with real wrapped keys, ciphertexts and audit MACs, so the
vault reads it exactly as it reads what it wrote itself.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import structlog

from audit import Actor, Event
from vault import proposals
from vault.caller import Caller
from vault.config import Config
from vault.crypto import DataKey, LocalKeyring, encrypt_field
from vault.crypto.contexts import client_context, record_context
from vault.db import utcnow
from vault.identity import tokens
from vault.migrations import upgrade
from vault.models import AccessRequest, Client, Grant, Person, Record
from vault.people import designations, directory
from vault.runtime import Vault
from vault.uow import unit_of_work

PG_URL = os.environ.get("VAULT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")
TIERS = ("core", "special", "general")
WORDS = (
    "credit",
    "report",
    "contract",
    "renewal",
    "invoice",
    "payment",
    "terms",
    "visit",
    "notes",
    "tax",
    "return",
    "quarterly",
    "statement",
    "bank",
    "guarantee",
    "audit",
    "letter",
    "shipment",
    "dispute",
    "settlement",
    "license",
    "lease",
    "purchase",
    "order",
    "receipt",
    "reconciliation",
    "pledge",
    "mortgage",
    "appraisal",
    "资信调查报告",
    "合同",
    "发票",
    "付款记录",
    "拜访记录",
)
BATCH = 2000


def quiet() -> None:
    """Keep the vault's operational logs and alembic's chatter off the benchmark's output."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for name in ("alembic", "vault", "audit"):
        logging.getLogger(name).setLevel(logging.WARNING)


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file in ``tmp`` or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'vault.db'}"
        return
    if backend != "postgresql":
        raise SystemExit(f"unknown backend {backend!r} (sqlite or postgresql)")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def open_vault(home: Path, url: str, **settings: object) -> Vault:
    """Create the keyring, migrate the database and open the vault."""
    config = Config(home=home, database_url=url, secret_key="bench-secret", **settings)  # type: ignore[arg-type]
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    LocalKeyring.create(config.keyring)
    upgrade(url)
    quiet()
    return Vault.open(config)


def text_of(size: int, rng: random.Random) -> bytes:
    """About ``size`` bytes of ASCII prose (a record's content)."""
    words = [w for w in WORDS if w.isascii()]
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(words)
        out.append(word)
        length += len(word) + 1
    return " ".join(out).encode()[:size]


@dataclass
class Staff:
    """The people a benchmark acts as, with their bearer tokens."""

    admin: Person
    custodians: list[Person]
    custodian_tokens: list[str]
    employees: list[Person]
    employee_tokens: list[str]


def staff(v: Vault, custodians: int, employees: int, *, tokens_for: int | None = None) -> Staff:
    """Two admins, designated custodians (every tier, long tenure) and employees, through
    the services and the two-person rule: the operator adds people, one admin confirms
    their hire dates and proposes designations, the second approves them."""
    op = Caller.operator()
    hired = date.today() - timedelta(days=int(12 * 365.25))
    with unit_of_work(v) as db:
        admin = directory.add_person(
            v,
            db,
            op,
            email="admin@bench.test",
            name="Admin",
            hired_on=hired,
            roles=("employee", "admin"),
        )
        second = directory.add_person(
            v,
            db,
            op,
            email="admin2@bench.test",
            name="Second admin",
            hired_on=hired,
            roles=("employee", "admin"),
        )
        _approve_all(v, db, second, by=admin)
        _approve_all(v, db, admin, by=second)
        by = Caller(person=admin)
        keepers, keeper_tokens = [], []
        for i in range(custodians):
            p = directory.add_person(
                v, db, op, email=f"custodian{i}@bench.test", name=f"Custodian {i}", hired_on=hired
            )
            _approve_all(v, db, p, by=admin)
            proposal = designations.designate(
                v, db, by, p, list(TIERS), reason="long-serving, knows these clients"
            )
            proposals.approve(v, db, Caller(person=second), proposal)
            keepers.append(p)
            keeper_tokens.append(tokens.issue_token(v, db, op, p, "bench"))
        staffers, staff_tokens = [], []
        for i in range(employees):
            p = directory.add_person(
                v,
                db,
                op,
                email=f"employee{i}@bench.test",
                name=f"Employee {i}",
                hired_on=hired + timedelta(days=i),
            )
            _approve_all(v, db, p, by=admin)
            staffers.append(p)
            if tokens_for is None or i < tokens_for:
                staff_tokens.append(tokens.issue_token(v, db, op, p, "bench"))
    return Staff(admin, keepers, keeper_tokens, staffers, staff_tokens)


def _approve_all(v: Vault, db: sa.orm.Session, person: Person, *, by: Person) -> None:
    """``by`` approves what waits about ``person`` (their hire date, an admin role)."""
    for proposal in proposals.pending(db, subject=person):
        if proposal.kind in ("hire_date_confirm", "role_grant"):
            proposals.approve(v, db, Caller(person=by), proposal)
    db.flush()
    db.refresh(person)


def catalogue(
    v: Vault,
    *,
    clients: int,
    records: int,
    content_bytes: int = 200,
    by: int | None = None,
    seed: int = 7,
) -> list[int]:
    """Insert ``clients`` clients and ``records`` records in bulk; return the record ids.

    Every record has its own data key wrapped for its place and content sealed under it,
    as a deposit would; titles and file numbers vary, for the catalogue search.
    """
    rng = random.Random(seed)
    now = utcnow()
    client_rows = []
    for cid in range(1, clients + 1):
        dek = DataKey.generate()
        client_rows.append(
            {
                "id": cid,
                "code": f"CL{cid:06d}",
                "name": f"{rng.choice(WORDS).title()} {cid} Ltd",
                "tier": TIERS[cid % 3],
                "kind": "company",
                "relationship": "active",
                "wrapped_dek": v.keys.wrap(dek, client_context(cid)).to_bytes(),
                "created_at": now,
            }
        )
    with v.engine.begin() as conn:
        for first in range(0, len(client_rows), BATCH):
            conn.execute(sa.insert(Client), client_rows[first : first + BATCH])
    ids: list[int] = []
    seqs: dict[tuple[int, int, int], int] = {}
    rows = []
    for rid in range(1, records + 1):
        cid = rng.randint(1, clients)
        section, year = rng.randint(1, 4), rng.randint(2015, 2025)
        seq = seqs[(cid, section, year)] = seqs.get((cid, section, year), 0) + 1
        dek = DataKey.generate()
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
        content = text_of(content_bytes, rng)
        rows.append(
            {
                "id": rid,
                "client_id": cid,
                "section": section,
                "year": year,
                "seq": seq,
                "file_number": f"CL{cid:06d}-{section}-{year}-{seq:04d}",
                "title": title[:300],
                "doc_type": "report",
                "content_type": "text/plain; charset=utf-8",
                "content_size": len(content),
                "content_version": 1,
                "content_ct": encrypt_field(
                    dek, content, record_id=str(rid), field="content", version=1
                ),
                "wrapped_dek": v.keys.wrap(dek, record_context(rid)).to_bytes(),
                "deposited_by_id": by,
                "created_at": now,
            }
        )
        ids.append(rid)
        if len(rows) == BATCH:
            _insert(v, Record, rows)
            rows = []
    if rows:
        _insert(v, Record, rows)
    _fix_sequences(v, ("clients", "records"))
    return ids


def _insert(v: Vault, model: type, rows: list[dict[str, object]]) -> None:
    with v.engine.begin() as conn:
        conn.execute(sa.insert(model), rows)


def _fix_sequences(v: Vault, tables: Sequence[str]) -> None:
    """PostgreSQL: move each serial past the ids inserted by hand; then refresh statistics."""
    if v.engine.dialect.name != "postgresql":
        with v.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
        return
    with v.engine.begin() as conn:
        for table in tables:
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
        conn.execute(sa.text("ANALYZE"))


def grants(
    v: Vault,
    holders: Sequence[Person],
    record_ids: Sequence[int],
    *,
    per_person: int,
    seed: int = 11,
) -> None:
    """Live one-record consult grants, ``per_person`` for each holder, as approvals leave them."""
    rng = random.Random(seed)
    now = utcnow()
    with unit_of_work(v) as db:
        tier_of = dict(db.execute(sa.select(Client.id, Client.tier)).tuples().all())
        client_of = dict(
            db.execute(
                sa.select(Record.id, Record.client_id).where(Record.id.in_(list(record_ids)))
            )
            .tuples()
            .all()
        )
    requests, grant_rows = [], []
    next_id = 1
    for person in holders:
        for rid in rng.sample(list(record_ids), per_person):
            cid = client_of[rid]
            requests.append(
                {
                    "id": next_id,
                    "requester_id": person.id,
                    "client_id": cid,
                    "record_id": rid,
                    "tier": tier_of[cid],
                    "actions": "consult",
                    "reason": "bench: payment terms",
                    "duration_minutes": 480,
                    "approvals_needed": 1,
                    "status": "approved",
                    "created_at": now,
                    "expires_at": now + timedelta(days=7),
                    "decided_at": now,
                    "decision_note": "",
                }
            )
            grant_rows.append(
                {
                    "id": next_id,
                    "request_id": next_id,
                    "person_id": person.id,
                    "client_id": cid,
                    "record_id": rid,
                    "actions": "consult",
                    "starts_at": now - timedelta(hours=1),
                    "expires_at": now + timedelta(hours=7),
                    "revoke_reason": "",
                }
            )
            next_id += 1
    _insert(v, AccessRequest, requests)
    _insert(v, Grant, grant_rows)
    _fix_sequences(v, ("access_requests", "grants"))


def past_events(
    v: Vault,
    readers: Sequence[Person],
    record_ids: Sequence[int],
    *,
    per_person: int,
    distinct: int,
    hours: float = 30,
    seed: int = 13,
) -> int:
    """Audit history: each reader consulted ``distinct`` records ``per_person`` times in all,
    spread over the past ``hours`` (some fall in today's quota windows). Then sealed."""
    rng = random.Random(seed)
    now = utcnow()
    count = 0
    with v.engine.begin() as conn:
        for person in readers:
            mine = rng.sample(list(record_ids), distinct)
            for _ in range(per_person):
                rid = rng.choice(mine)
                ev = Event(
                    action="record:consult",
                    actor=Actor(
                        person_id=person.id, subject=person.email, ip="10.0.0.7", user_agent="bench"
                    ),
                    decision="allow",
                    outcome="ok",
                    resource={"record": str(rid)},
                    reason="custodian",
                    policy_ids=("permit-custodian-content",),
                    purpose="bench history",
                    request_id=uuid.uuid4().hex,
                    time=now - timedelta(seconds=rng.uniform(60, hours * 3600)),
                )
                v.audit.append(conn, ev)
                count += 1
    seal(v)
    return count


def seal(v: Vault) -> None:
    """Link every committed event into the chain now (as the app does after requests)."""
    with v.engine.connect() as conn:
        v.audit.seal(conn, batch=5000, gap_grace=0)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ms(seconds: float) -> str:
    """Seconds as milliseconds, for printing."""
    return f"{seconds * 1000:8.3f} ms"


def when() -> str:
    """The time now, for the report header."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    """GET ``url`` (with a bearer token): status and body."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read()


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Wait until the vault served at ``base`` answers its health check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            with urllib.request.urlopen(f"{base}/api/v1/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not become ready")


# wrk: each thread walks the same list of prepared requests (paths with their bearer
# tokens), and prints one RESULT line the benchmarks parse.
WRK_RESULT = """
done = function(summary, latency, reqs)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""
_WRK_ROTATION = """
local requests = {}
local i = 0
init = function(args)
  for n = 1, #paths do
    local headers = {}
    if tokens[n] ~= "" then headers["Authorization"] = "Bearer " .. tokens[n] end
    requests[n] = wrk.format("GET", paths[n], headers)
  end
end
request = function()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
"""


def wrk_rotation_script(paths: Sequence[str], tokens: Sequence[str]) -> str:
    """A wrk Lua script that sends ``paths`` in turn, each with its token ("" for none)."""

    def table(name: str, items: Sequence[str]) -> str:
        return f"{name} = {{" + ", ".join(json.dumps(x) for x in items) + "}"

    return table("paths", paths) + "\n" + table("tokens", tokens) + _WRK_ROTATION + WRK_RESULT
