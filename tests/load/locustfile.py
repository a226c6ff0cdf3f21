"""The load mix (locust): catalogue search, consultations within grants (a record's
content, and its attachment from the blob store under test), access requests and
approvals, check-outs and returns, the auditor's listing.

Run by tests/load/run.py (``make load``), which builds the world, starts the servers and
passes ``LOAD_WORLD`` (the world's JSON) and ``LOAD_HOSTS`` (the app servers, one picked
per simulated person). Only the answers a correct vault gives count as success; a 403 or
409 counts only where it is the expected answer (the export quota, a decided request, an
item already out or already back), and is tallied on its own. Anything else (a 5xx, a
400, an unexpected 403) is a failure.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
from collections import Counter
from pathlib import Path

from locust import HttpUser, between, events, task

from tests.load.content import attachment_bytes

WORLD = json.loads(Path(os.environ["LOAD_WORLD"]).read_text())
HOSTS = os.environ["LOAD_HOSTS"].split(",")
EXPECTED: Counter[str] = Counter()  # "name status code" -> how many expected refusals
_pools = {k: itertools.cycle(WORLD[k]) for k in ("readers", "greedy", "requesters")}
_pools.update(custodians=itertools.cycle(WORLD["custodians"]))
_pools.update(auditors=itertools.cycle(WORLD["auditors"]))
QUOTA_CODES = {"export_quota_exceeded", "under_review"}
SEARCH_WORDS = ["record", "terms", "Client", "A", "credit", "report"]


class Vault(HttpUser):
    abstract = True
    wait_time = between(0.05, 0.3)
    pool = ""

    def on_start(self) -> None:
        self.host = random.choice(HOSTS)
        self.client.base_url = self.host
        self.me = next(_pools[self.pool])
        self.client.headers["Authorization"] = f"Bearer {self.me['token']}"

    def call(self, method: str, path: str, name: str, ok=(200,), refusals=(), body=None, **kw):
        """One request; ``refusals`` are (status, code) pairs that are the right answer;
        ``body``, if given, is the exact content a success must carry."""
        with self.client.request(method, path, name=name, catch_response=True, **kw) as resp:
            if resp.status_code in ok:
                if body is not None and resp.content != body:
                    resp.failure(f"{resp.status_code} wrong content ({len(resp.content)} bytes)")
                    return resp
                resp.success()
                return resp
            code = ""
            with contextlib.suppress(ValueError):
                code = resp.json().get("code", "")
            if (resp.status_code, code) in refusals or (resp.status_code, "*") in refusals:
                EXPECTED[f"{name} {resp.status_code} {code}"] += 1
                resp.success()
            else:
                resp.failure(f"{resp.status_code} {code}")
            return resp

    @task(3)
    def search(self) -> None:
        word = random.choice(SEARCH_WORDS)
        self.call("GET", f"/api/v1/records?q={word}&limit=20", "search")


class Reader(Vault):
    weight = 8
    pool = "readers"

    @task(10)
    def consult(self) -> None:
        rid = random.choice(self.me["records"])
        self.call("GET", f"/api/v1/records/{rid}/content?purpose=load", "consult")

    @task(3)
    def download(self) -> None:
        """An attachment, streamed from the blob store under test (and checked whole)."""
        rid = random.choice(self.me["records"])
        att = WORLD["attachments"][str(rid)]
        self.call(
            "GET",
            f"/api/v1/records/{rid}/attachments/{att}/content?purpose=load",
            "consult attachment",
            body=attachment_bytes(rid),
        )


class Greedy(Vault):
    """Holds grants on more records than the quota: the guard stops them at the quota."""

    weight = 2
    pool = "greedy"

    @task(10)
    def consult(self) -> None:
        rid = random.choice(self.me["records"])
        self.call(
            "GET",
            f"/api/v1/records/{rid}/content?purpose=load",
            "consult (over quota)",
            refusals={(403, c) for c in QUOTA_CODES},
        )


class Requester(Vault):
    weight = 3
    pool = "requesters"

    @task(4)
    def ask(self) -> None:
        rid = random.choice(WORLD["records"])
        self.call(
            "POST",
            "/api/v1/access-requests",
            "request access",
            ok=(201,),
            # One pending request per person and record: asking again is a conflict.
            refusals={(409, "*")},
            json={"record_id": rid, "reason": "load test: renewing the client's terms"},
        )


class Custodian(Vault):
    weight = 3
    pool = "custodians"

    @task(3)
    def approve(self) -> None:
        waiting = self.call("GET", "/api/v1/access-requests?waiting=1&limit=5", "waiting list")
        if waiting.status_code != 200:
            return
        for req in waiting.json().get("items", [])[:2]:
            self.call(
                "POST",
                f"/api/v1/access-requests/{req['id']}/approve",
                "approve",
                # Another custodian decided it first, or it needs a second approver.
                refusals={(409, "*"), (403, "already_approved"), (403, "same_approver")},
                json={},
            )

    @task(4)
    def lend(self) -> None:
        item = random.choice(WORLD["items"])
        out = self.call(
            "POST",
            f"/api/v1/items/{item}/checkout",
            "check out",
            ok=(201,),
            refusals={(409, "*")},  # out already (another custodian has it)
            json={"borrower": self.me["email"], "pages": 3, "purpose": "load test review"},
        )
        if out.status_code == 201:
            self.call(
                "POST",
                f"/api/v1/items/{item}/checkin",
                "check in",
                refusals={(409, "*")},
                json={"pages": 3, "condition": "good"},
            )


class Auditor(Vault):
    weight = 1
    pool = "auditors"

    @task
    def listing(self) -> None:
        self.call("GET", "/api/v1/audit/events?limit=50", "audit listing")


@events.quitting.add_listener
def _summary(environment, **_kw) -> None:
    out = {"kinds": {}, "expected_refusals": dict(EXPECTED)}
    for (name, method), entry in environment.stats.entries.items():
        out["kinds"][name] = {
            "method": method,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p99_ms": entry.get_response_time_percentile(0.99),
        }
    out["errors"] = {
        f"{e.name} {e.error}": e.occurrences for e in environment.stats.errors.values()
    }
    Path(os.environ["LOAD_SUMMARY"]).write_text(json.dumps(out, indent=1))
