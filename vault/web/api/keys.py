"""API for the keys: which KEKs exist, which wraps new data keys, and how many each wraps."""

from __future__ import annotations

from flask import Response, jsonify

from vault.keys import status
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.context import caller, db, vault
from vault.web.routing import route


@route(
    bp,
    "/keys/status",
    action=Action.KEY_STATUS,
    summary="Key ids, the active one, and the data keys each wraps (admins; no key material)",
)
def key_status() -> Response:
    return jsonify(status.status(vault(), db(), caller()).as_json())
