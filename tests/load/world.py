"""The people and holdings a load run acts on, built through the real services."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.factories import Factory
from tests.load.content import attachment_bytes
from vault import uow
from vault.archive import records as archive
from vault.caller import Caller
from vault.custody import loans
from vault.runtime import Vault

READERS = 8  # consult within their grants (a client of 10 records each), always allowed
GREEDY = 2  # hold grants on 2x the hourly quota: the guard must stop them at the quota
REQUESTERS = 4  # ask for access to records they have no grant on
CUSTODIANS = 4  # approve requests; check items out and in (racing on a shared shelf)
AUDITORS = 2
RECORDS_EACH = 10
ITEMS = 8


@dataclass
class World:
    readers: list[dict] = field(default_factory=list)  # {"email", "token", "records": [...]}
    greedy: list[dict] = field(default_factory=list)
    requesters: list[dict] = field(default_factory=list)
    custodians: list[dict] = field(default_factory=list)
    auditors: list[dict] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    quota_hour: int = 0
    attachments: dict[str, int] = field(default_factory=dict)  # record id -> attachment id

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> World:
        return cls(**json.loads(path.read_text()))


def build(v: Vault, make: Factory) -> World:
    """People, clients, records, grants and items; every act audited as in production."""
    world = World(quota_hour=v.config.quota_hour)
    depositor = make.person()
    # Four clients of RECORDS_EACH records (two readers hold a client-wide grant on each),
    # two of more (the greedy ones hold grants on both: more records than the quota).
    sizes = [RECORDS_EACH] * 4 + [world.quota_hour // 2 + 5] * 2
    clients, held_by_client = [], []
    n = 0
    for size in sizes:
        client = make.client("general")
        clients.append(client)
        ids = []
        for _ in range(size):
            record = make.record(client, by=depositor, content=f"terms {n} ".encode() * 64)
            ids.append(record.id)
            n += 1
        held_by_client.append(ids)
    world.records = [rid for ids in held_by_client for rid in ids]
    for rid in (rid for ids in held_by_client[:4] for rid in ids):
        att = uow.run(
            make.db,
            archive.attach,
            v,
            make.db,
            Caller(person=depositor),
            rid,
            filename=f"scan-{rid}.pdf",
            content_type="application/pdf",
            stream=io.BytesIO(attachment_bytes(rid)),
        )
        world.attachments[str(rid)] = att.id
    custodians = [make.custodian("general") for _ in range(CUSTODIANS)]
    for i in range(READERS):
        person = make.person()
        make.grant(person, client=clients[i % 4])
        world.readers.append(_who(make, person, held_by_client[i % 4]))
    for _ in range(GREEDY):
        person = make.person()
        for c in clients[4:]:
            make.grant(person, client=c)
        held = held_by_client[4] + held_by_client[5]
        assert len(held) > world.quota_hour
        world.greedy.append(_who(make, person, held))
    world.requesters = [_who(make, make.person(), []) for _ in range(REQUESTERS)]
    world.custodians = [_who(make, c, []) for c in custodians]
    world.auditors = [
        _who(make, make.person(roles=("employee", "auditor")), []) for _ in range(AUDITORS)
    ]
    keeper = Caller(person=custodians[0])
    for i in range(ITEMS):
        item = uow.run(
            make.db,
            loans.add_item,
            v,
            make.db,
            keeper,
            world.records[i],
            kind="folder",
            label=f"Folder {i}",
            location="Shelf L",
        )
        world.items.append(item.id)
    return world


def _who(make: Factory, person, records: list[int]) -> dict:
    return {"email": person.email, "id": person.id, "token": make.token(person), "records": records}
