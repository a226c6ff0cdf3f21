"""The keys: which KEKs exist, which wraps new data keys, and how many each wraps."""

from __future__ import annotations

from vault.keys import status
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Reply
from vault.web.context import caller, db, vault
from vault.web.routing import route


class KeyStatus(Reply):
    """Key ids, the active one, and the data keys each wraps (never key material)."""

    provider: str
    active_key_id: str
    key_ids: list[str]
    audit_key_fingerprint: str
    wrapped_keys: dict[str, dict[str, int]]
    outdated: int


@route(
    bp,
    "/keys/status",
    action=Action.KEY_STATUS,
    summary="Key ids, the active one, and the data keys each wraps (admins; no key material)",
    responses={200: KeyStatus},
)
def key_status() -> KeyStatus:
    return KeyStatus.model_validate(status.status(vault(), db(), caller()).as_json())
