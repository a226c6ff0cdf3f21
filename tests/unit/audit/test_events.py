"""Events: validation, canonical JSON (deterministic, ASCII, complete) and its parsing."""

from __future__ import annotations

import dataclasses
import json
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from audit import Actor, Event, canonical_json
from tests.unit.audit.helpers import make_event

FIXED = dict(
    action="record:consult",
    actor=Actor(person_id=7, subject="sso|7", ip="192.0.2.1", user_agent="ua"),
    decision="deny",
    outcome="denied",
    resource={"record": "12", "client": "3"},
    reason="quota",
    policy_ids=("forbid-quota", "permit-grant"),
    purpose="audit",
    grant_id="g1",
    request_id="r1",
    details={"count": 21, "flag": True, "none": None, "copy": "c1"},
    id="0123456789abcdef0123456789abcdef",
    time=datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
)

# Known-answer vector: the exact bytes the MAC covers. Changing the format breaks
# every stored MAC, so this must only change together with FORMAT_VERSION.
FIXED_JSON = (
    b'{"action":"record:consult","actor":{"ip":"192.0.2.1","person_id":7,'
    b'"subject":"sso|7","user_agent":"ua"},"decision":"deny","details":{"copy":"c1",'
    b'"count":21,"flag":true,"none":null},"grant_id":"g1",'
    b'"id":"0123456789abcdef0123456789abcdef","outcome":"denied",'
    b'"policy_ids":["forbid-quota","permit-grant"],"purpose":"audit","reason":"quota",'
    b'"request_id":"r1","resource":{"client":"3","record":"12"},'
    b'"time":"2025-01-02T03:04:05.000006Z","v":1}'
)


def test_canonical_json_known_answer() -> None:
    assert canonical_json(Event(**FIXED)) == FIXED_JSON


def test_canonical_json_round_trips_every_field() -> None:
    event = make_event(5, actor=Actor(), purpose=None, details={"a": None, "b": False})
    again = Event.from_canonical(canonical_json(event))
    assert again == event
    assert canonical_json(again) == canonical_json(event)
    assert {f.name for f in dataclasses.fields(Event)} <= set(json.loads(canonical_json(event)))


def test_canonical_json_is_deterministic_whatever_the_mapping_order() -> None:
    one = Event(**{**FIXED, "resource": {"record": "12", "client": "3"}})
    two = Event(**{**FIXED, "resource": {"client": "3", "record": "12"}})
    assert canonical_json(one) == canonical_json(two) == canonical_json(one)


def test_time_in_another_utc_zone_object_is_normalised() -> None:
    zero = timezone(timedelta(0), "Z0")
    event = Event(**{**FIXED, "time": FIXED["time"].astimezone(zero)})
    assert canonical_json(event) == FIXED_JSON
    assert event.time.tzinfo is UTC


def test_body_is_pure_ascii_with_escaped_chinese_and_emoji() -> None:
    event = make_event(purpose="审计 \U0001f600", reason="naïve")
    body = canonical_json(event)
    assert body.isascii()
    assert b"\\u5ba1\\u8ba1 \\ud83d\\ude00" in body
    assert Event.from_canonical(body).purpose == "审计 \U0001f600"


def test_defaults_are_fresh_ids_and_aware_utc_now() -> None:
    one, two = make_event(), make_event()
    assert one.id != two.id and len(one.id) == 32
    assert one.time.tzinfo is UTC
    assert abs(datetime.now(UTC) - one.time) < timedelta(seconds=5)


@pytest.mark.parametrize(
    "overrides",
    [
        {"action": "consult"},
        {"action": "Record:consult"},
        {"action": "record:"},
        {"action": "record:consult "},
        {"action": "a:" + "b" * 63},
        {"decision": "maybe"},
        {"outcome": "fine"},
        {"time": datetime(2025, 1, 1)},
        {"time": datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=8)))},
        {"id": "not-hex"},
        {"id": "0123456789ABCDEF0123456789ABCDEF"},
        {"resource": {"record": 12}},
        {"resource": {"record": "x" * 65}},
        {"details": {"ratio": 0.5}},
        {"details": {"nested": {"a": "b"}}},
        {"policy_ids": "forbid-quota"},
        {"actor": Actor(person_id=1), "reason": None},
    ],
)
def test_malformed_events_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_event(**overrides)


@pytest.mark.parametrize(
    "fields",
    [{"person_id": "7"}, {"person_id": True}, {"subject": 3}, {"ip": b"10.0.0.1"}],
)
def test_malformed_actors_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Actor(**fields)  # type: ignore[arg-type]


def test_events_cannot_be_changed_after_creation() -> None:
    resource = {"record": "1"}
    event = make_event(resource=resource)
    resource["record"] = "2"
    assert event.resource["record"] == "1"
    with pytest.raises(TypeError):
        event.resource["record"] = "3"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.action = "record:copy"  # type: ignore[misc]


def test_events_pickle_through_their_canonical_form() -> None:
    event = make_event()
    assert pickle.loads(pickle.dumps(event)) == event


def test_events_are_hashable() -> None:
    event = make_event()
    assert {event, Event.from_canonical(canonical_json(event))} == {event}


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        FIXED_JSON.replace(b'"v":1', b'"v":2'),
        FIXED_JSON.replace(b',"v":1', b""),
        FIXED_JSON.replace(b'"v":1', b'"v":1,"extra":1'),
        FIXED_JSON.replace(b".000006Z", b".000006+00:00"),
        FIXED_JSON.replace(b'"ip":"192.0.2.1",', b""),
        FIXED_JSON.replace(b'"decision":"deny"', b'"decision":"perhaps"'),
    ],
)
def test_from_canonical_refuses_anything_else(data: bytes) -> None:
    with pytest.raises(ValueError):
        Event.from_canonical(data)
