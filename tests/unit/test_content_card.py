"""The consultation's record card is a plain value with every column of ``records``."""

from __future__ import annotations

from dataclasses import fields

from vault.access import Card
from vault.models import Record


def test_a_card_has_each_column_of_a_record_in_order_and_its_client():
    """A column added to ``records`` without the card fails here (and the facts
    statement, which selects every column into it, would fail at the first request)."""
    assert [f.name for f in fields(Card)] == [c.name for c in Record.__table__.c] + ["client"]
