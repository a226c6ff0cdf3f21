"""Sensitive values never travel in a URL (DESIGN §3.1: logs, proxies, browser history).

A tax id or bank account is looked up through ``POST /api/v1/clients/lookup`` (or the
custodians' form), with the value in the body. A query string that names such a field,
on any route, is refused before anything else looks at the request (``sensitive_in_url``),
and the pages never echo it back in a link they build (:func:`without_sensitive`).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, request

from vault.errors import InvalidInput

# Field names as people and scripts spell them: tax_id, taxId, tax-id, bank_account...
_SENSITIVE = frozenset({"taxid", "bankaccount"})


def is_sensitive(name: str) -> bool:
    """Whether a query parameter's name is one of the sensitive fields (any spelling)."""
    folded = "".join(ch for ch in name.casefold() if ch.isalnum())
    return folded in _SENSITIVE


def without_sensitive(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Query pairs with every sensitive one left out."""
    return [(k, v) for k, v in pairs if not is_sensitive(k)]


def init_app(app: Flask) -> None:
    """Refuse any request whose query string carries a sensitive field (400)."""

    @app.before_request
    def _no_sensitive_query() -> None:
        if any(is_sensitive(name) for name in request.args):
            raise InvalidInput(
                "tax ids and bank accounts are never sent in a URL: "
                "POST them to /api/v1/clients/lookup",
                code="sensitive_in_url",
            )
