"""Retention dates for every kind of rule (DESIGN §2.3), and a schedule's validation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from vault.appraisal import retention
from vault.errors import InvalidInput
from vault.models import Client, Record

TODAY = date(2026, 12, 2)


def _record(section: int, **kw) -> Record:
    return Record(
        id=kw.pop("id", 1),
        section=section,
        year=kw.pop("year", 2015),
        doc_type=kw.pop("doc_type", ""),
        doc_date=kw.pop("doc_date", None),
        valid_until=kw.pop("valid_until", None),
        disposed_at=kw.pop("disposed_at", None),
    )


def _client(kind: str = "company", ended: date | None = None) -> Client:
    return Client(
        kind=kind, relationship="former" if ended else "active", relationship_ended_on=ended
    )


def _of(schedule, record, client, held=False):
    return retention.retention_of(schedule, record, client, held=held, today=TODAY)


def test_every_rule_kind_gives_its_date():
    shipped = retention.parse(retention.default_text())
    ended = _client(ended=date(2014, 3, 31))
    # Contracts: 10 years after the relationship ends; until then, no date.
    contract = _record(3, doc_type="Contract")
    got = _of(shipped, contract, ended)
    assert (got.rule, got.due_on, got.state) == ("contracts", date(2024, 3, 31), "due")
    open_ = _of(shipped, contract, _client())
    assert (open_.due_on, open_.state) == (None, "until_relationship_ends")
    # Government contracts are kept permanently (the client's kind decides).
    gov = _of(shipped, contract, _client("government", ended=date(2000, 1, 1)))
    assert (gov.rule, gov.due_on, gov.state) == ("government_contracts", None, "permanent")
    # Credit reports: 3 years after they lapse (else after the record's year).
    lapsed = _of(shipped, _record(2, valid_until=date(2023, 6, 30)), ended)
    assert (lapsed.rule, lapsed.due_on, lapsed.state) == (
        "credit_reports",
        date(2026, 6, 30),
        "due",
    )
    valid = _of(shipped, _record(2, valid_until=date(2026, 6, 30), year=2026), ended)
    assert (valid.due_on, valid.state) == (date(2029, 6, 30), "kept")
    no_date = _of(shipped, _record(2, year=2020), ended)
    assert no_date.due_on == date(2023, 12, 31)
    # Visit notes: 5 years after the end of the record's year.
    visit = _of(shipped, _record(1, doc_type="visit_note", year=2021), _client())
    assert (visit.rule, visit.due_on, visit.state) == ("visit_notes", date(2026, 12, 31), "kept")
    # The document date, and 29 February in a common year.
    custom = retention.parse(
        retention.default_text()
        + '\n[[rules]]\nid = "dated"\ntitle = "Dated"\nsection = "*"\nanchor = "document_date"\n'
        "years = 3\n"
    )
    custom = retention.Schedule(rules=(custom.rules[-1], *custom.rules[:-1]))
    leap = _of(custom, _record(4, doc_date=date(2020, 2, 29)), _client())
    assert (leap.rule, leap.due_on) == ("dated", date(2023, 2, 28))
    # A hold wins over any date; a disposed record says so.
    assert _of(shipped, contract, ended, held=True).state == "held"
    gone = _record(3, doc_type="contract", disposed_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert _of(shipped, gone, ended).state == "disposed"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("rules = [", "not valid TOML"),
        ("version = 1\nrules = []\n", "at least 1 item"),
        (
            '[[rules]]\nid = "x"\ntitle = "X"\nsection = "*"\nanchor = "permanent"\nyears = 3\n',
            "a permanent rule has no years",
        ),
        (
            '[[rules]]\nid = "x"\ntitle = "X"\nsection = "*"\nanchor = "record_year"\n',
            "give years",
        ),
        (
            '[[rules]]\nid = "x"\ntitle = "X"\nsection = "*"\nanchor = "record_year"\nyears = 1\n'
            '[[rules]]\nid = "x"\ntitle = "Y"\nsection = "*"\nanchor = "record_year"\nyears = 1\n',
            "unique",
        ),
        (
            '[[rules]]\nid = "x"\ntitle = "X"\nsection = "*"\nanchor = "record_year"\nyears = 1\n'
            'colour = "red"\n',
            "Extra inputs",
        ),
        (
            '[[rules]]\nid = "x"\ntitle = "X"\nsection = "*"\nanchor = "forever"\n',
            "anchor",
        ),
    ],
)
def test_a_bad_schedule_is_refused_with_its_first_problem(text, words):
    with pytest.raises(InvalidInput, match=words) as refused:
        retention.parse(text)
    assert refused.value.code == "invalid_schedule"
