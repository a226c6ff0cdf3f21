"""No page shows a raw code: every code the vault can put on a page has words in both
languages (``vault.web.ui.labels``), and no page rendered in Chinese shows one.

The codes are collected from the code itself (the enums, the policy's reasons, every
``code=``/``outcome=``/``reason=``/``kind=`` string and every alert and notification kind),
so a new code without words fails here, not on an auditor's screen.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flask_babel import LazyString

from audit import query_events
from tests.integration.test_ui_routes import CASES
from tests.integration.test_ui_routes import cast as cast  # the fixture, shared
from tests.webclient import text_of
from vault import uow
from vault.caller import Caller
from vault.custody.loans import ITEM_KINDS
from vault.models import Role
from vault.models.clients import ClientKind, Relationship, Tier
from vault.models.custody import Condition
from vault.models.grants import GrantAction, RequestStatus
from vault.models.proposals import ProposalStatus
from vault.models.records import Section
from vault.oversight import alerts
from vault.policy import Action
from vault.policy import engine as policy_engine
from vault.proposals import kinds as proposal_kinds
from vault.web.ui import labels
from vault.web.ui.auditing import DECISION_VALUES

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"^[a-z][a-z_]*(?::[a-z_]+)?$|^n/a$")
KEYWORDS = {"code", "outcome", "reason", "kind", "status"}
# Calls whose positional string arguments are kinds: raise_alert(v, db, caller, KIND, ...),
# notifications.send(v, db, person, KIND, ...).
KIND_ARGUMENT = {"raise_alert": 3, "send": 3}
# The pages' own error codes are shown on purpose, next to their translated sentence.
ERROR_CODE = re.compile(r'<code\b[^>]*\bclass="error-code"[^>]*>[^<]*</code>')
TOKEN = re.compile(r"[A-Za-z0-9_:/@.+-]+")


def _constant(node: ast.AST, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    return None


def _from_source() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "vault").rglob("*.py"):
        if "migrations" in path.parts or "web" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        names = {
            t.id: n.value.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
            for t in n.targets
            if isinstance(t, ast.Name) and t.id.isupper() and isinstance(n.value.value, str)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    value = _constant(kw.value, names) if kw.arg in KEYWORDS else None
                    if kw.arg in KEYWORDS and isinstance(kw.value, ast.IfExp):
                        for branch in (kw.value.body, kw.value.orelse):
                            if (v := _constant(branch, names)) is not None:
                                found.add(v)
                    if value is not None:
                        found.add(value)
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                at = KIND_ARGUMENT.get(name)
                if at is not None and len(node.args) > at:
                    arg = node.args[at]
                    branches = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
                    for branch in branches:
                        if (v := _constant(branch, names)) is not None:
                            found.add(v)
                if name in {"Decision", "_Problem"}:
                    for arg in node.args[1:2] if name == "Decision" else node.args[:1]:
                        if (v := _constant(arg, names)) is not None:
                            found.add(v)
            # The policy's reasons for a default deny: ``return ("tenure_too_short", msg)``.
            if (
                path.name == "engine.py"
                and isinstance(node, ast.Tuple)
                and node.elts
                and (v := _constant(node.elts[0], names)) is not None
                and "_" in v
            ):
                found.add(v)
    return {c for c in found if CODE.match(c)}


def known_codes() -> set[str]:
    """Every code or enum value the vault can put on a page."""
    codes = {a.value for a in Action} | set(DECISION_VALUES) | set(ITEM_KINDS)
    for enum in (Role, Tier, ClientKind, Relationship, GrantAction, RequestStatus):
        codes |= {m.value for m in enum}
    codes |= {m.value for m in ProposalStatus} | {m.value for m in Condition}
    codes |= {s.name.lower() for s in Section}
    codes |= set(proposal_kinds())
    codes |= set(policy_engine._PRECEDENCE)
    cedar = (ROOT / "vault/policy/vault.cedar").read_text()
    codes |= set(re.findall(r'@reason\("([a-z_]+)"\)', cedar))
    codes |= _from_source()
    return codes


def test_the_codes_are_collected_from_the_code():
    codes = known_codes()
    # A few that must be there, so a broken collector cannot pass quietly.
    for code in (
        "record:consult",
        "ok",
        "denied",
        "custodian",
        "tenure_too_short",
        "loan_returned_short",
        "request_waiting",
        "quota_exceeded",
        "admin",
        "core",
        "pending",
    ):
        assert code in codes, code
    assert len(codes) > 150


def test_every_code_has_words():
    missing = sorted(c for c in known_codes() if not isinstance(labels.label(c), LazyString))
    assert missing == [], f"codes without words in vault/web/ui/labels.py: {missing}"


# Text marked as English on purpose (the import page's accepted English words, which a
# spreadsheet may hold) is not a code leaking through.
ENGLISH = re.compile(r'<(\w+)\b[^>]*\blang="en"[^>]*>.*?</\1>', re.S)


def leaked_codes(page: str, codes: set[str]) -> list[str]:
    """Codes shown as visible text (tags stripped, so attributes and URLs do not count)."""
    text = text_of(ERROR_CODE.sub(" ", ENGLISH.sub(" ", page)))
    tokens = {t.strip(".:,;") for t in TOKEN.findall(text)}
    return sorted(tokens & codes)


def test_the_check_sees_a_code():
    codes = {"record:consult", "ok", "tenure_too_short"}
    page = '<td><a href="/audit?action=record:consult">查阅</a></td><td><code>ok</code></td>'
    assert leaked_codes(page, codes) == ["ok"]
    assert leaked_codes("<p>原因 tenure_too_short.</p>", codes) == ["tenure_too_short"]
    assert leaked_codes('<td lang="en">ok</td><td>ok</td>', codes) == ["ok"]
    assert leaked_codes('<td lang="en">ok</td>', codes) == []


# One alert of each kind as its service raises it: the English line and its values.
ALERTS: dict[str, tuple[str, dict[str, str | int | float | None]]] = {
    "quota_exceeded": (
        "ann@example.com crossed the export quota (6/5 per hour, 6/20 per day) opening record 7",
        {
            "email": "ann@example.com",
            "hour": 6,
            "hour_limit": 5,
            "day": 6,
            "day_limit": 20,
            "record": 7,
            "lookup": None,
        },
    ),
    "page_quota_exceeded": (
        "ann@example.com read too many list pages (31/30 per hour, 31/200 per day), "
        "the last of the catalogue",
        {
            "email": "ann@example.com",
            "hour": 31,
            "hour_limit": 30,
            "day": 31,
            "day_limit": 200,
            "page": "catalogue",
        },
    ),
    "departed_access": (
        "ann@example.com (left 2026-11-30) tried record:consult",
        {"email": "ann@example.com", "leaving_on": "2026-11-30", "action": "record:consult"},
    ),
    "departing_access": (
        "ann@example.com (leaving 2026-12-31) tried to open record 7",
        {"email": "ann@example.com", "leaving_on": "2026-12-31", "record": 7},
    ),
    "loan_returned_short": (
        "Folder A (F-7) came back with 9 of 10 pages, condition good",
        {
            "label": "Folder A",
            "file_number": "F-7",
            "pages_in": 9,
            "pages_out": 10,
            "condition": "good",
        },
    ),
    "loan_damaged": (
        "Folder B (F-8) came back with 10 of 10 pages, condition damaged",
        {
            "label": "Folder B",
            "file_number": "F-8",
            "pages_in": 10,
            "pages_out": 10,
            "condition": "damaged",
        },
    ),
    "departure_use_rise": (
        "ann@example.com (leaving 2026-12-31) used records 12 times a week since notice on "
        "2026-11-01, against 3 before",
        {
            "email": "ann@example.com",
            "leaving_on": "2026-12-31",
            "weekly_after": "12",
            "weekly_before": "3",
            "notice_on": "2026-11-01",
        },
    ),
    "check_failed": (
        "four-properties check 3 (all) found 2 faults: authenticity 1, integrity 0, "
        "usability 1, security 0",
        {
            "run": 3,
            "scope": "all",
            "failures": 2,
            "authenticity": 1,
            "integrity": 0,
            "usability": 1,
            "security": 0,
        },
    ),
}
# A piece of each kind's summary in Chinese (vault/web/translations).
ALERTS_ZH = {
    "quota_exceeded": "超出导出限额（每小时 6/5，每天 6/20），当时在打开档案 7",  # noqa: RUF001
    "page_quota_exceeded": "读取的列表页过多（每小时 31/30，每天 31/200），最后一页属于档案目录",  # noqa: RUF001
    "departed_access": "（已于 2026-11-30 离职）试图：",  # noqa: RUF001
    "departing_access": "（离职日期 2026-12-31）试图打开档案 7",  # noqa: RUF001
    "loan_returned_short": "Folder A（F-7）归还时为 9 页（借出时 10 页），状况：",  # noqa: RUF001
    "loan_damaged": "Folder B（F-8）归还时为 10 页（借出时 10 页），状况：",  # noqa: RUF001
    "departure_use_rise": "自 2026-11-01 通知离职以来每周使用档案 12 次，此前每周 3 次",  # noqa: RUF001
    "check_failed": "四性检测批次 3 发现 2 处问题：真实性 1，完整性 0，可用性 1，安全性 0",  # noqa: RUF001
}


def test_every_alert_kind_has_a_summary_in_words():
    assert set(labels.ALERT_KINDS) == set(ALERTS) == set(ALERTS_ZH)
    assert set(labels.ALERT_KINDS) <= set(labels.ALERT_SUMMARIES)


def test_alert_summaries_show_in_the_readers_language(cast, vault, db, make):
    """/alerts and /alerts/<id> in Chinese write each kind's summary from its values; a
    row from before alerts kept them shows its stored line; the API keeps the English."""
    watched = make.person()
    ids = {}
    for kind, (summary, params) in ALERTS.items():
        alert = uow.run(
            db,
            alerts.raise_alert,
            vault,
            db,
            Caller.operator(),
            kind,
            watched,
            summary,
            params=params,
        )
        ids[kind] = alert.id
    old = uow.run(
        db,
        alerts.raise_alert,
        vault,
        db,
        Caller.operator(),
        "quota_exceeded",
        watched,
        "an old row as stored",
    )
    browser = cast["browsers"]["auditor"]
    browser.lang = "zh-CN,zh;q=0.9"
    listing = browser.get("/alerts").get_data(as_text=True)
    assert "an old row as stored" in listing
    missing, english = {}, {}
    for kind, (summary, _params) in ALERTS.items():
        page = browser.get(f"/alerts/{ids[kind]}").get_data(as_text=True)
        for where, text in (("list", listing), ("alert", page)):
            if ALERTS_ZH[kind] not in text:
                missing.setdefault(kind, []).append(where)
            if summary in text:
                english.setdefault(kind, []).append(where)
    assert missing == {} and english == {}
    # The auditor's notification of an alert carries the summary in Chinese too.
    notes = browser.get("/notifications").get_data(as_text=True)
    assert ALERTS_ZH["departure_use_rise"] in notes
    assert ALERTS["departure_use_rise"][0] not in notes
    assert "an old row as stored" in browser.get(f"/alerts/{old.id}").get_data(as_text=True)
    browser.lang = "en"
    page = browser.get(f"/alerts/{ids['loan_damaged']}").get_data(as_text=True)
    assert "Folder B (F-8) came back with 10 of 10 pages, condition: Damaged" in page


PAGES = [
    c for c in CASES if c.method == "GET" and c.allowed is not None and not c.path.endswith(".csv")
]


def test_no_chinese_page_shows_a_code(cast, vault, db, make):
    """Every page, as the role it is for, in Chinese (one cast for all: GETs change no
    state a page shows; every page's leaks are listed together)."""
    codes = known_codes()
    # An alert of each kind, so the alerts and statistics pages show their kinds too.
    watched = make.person()
    for kind in labels.ALERT_KINDS:
        summary, params = ALERTS[kind]
        uow.run(
            db,
            alerts.raise_alert,
            vault,
            db,
            Caller.operator(),
            kind,
            watched,
            summary,
            params=params,
        )
    leaks, wrong = {}, {}
    for case in PAGES:
        browser = cast["browsers"][case.allowed]
        browser.lang = "zh-CN,zh;q=0.9"
        resp = browser.get(case.path.format(**cast["ids"]))
        page = resp.get_data(as_text=True)
        if resp.status_code != case.status or '<html lang="zh-Hans">' not in page:
            wrong[case.endpoint] = (resp.status_code, page[:200])
        elif found := leaked_codes(page, codes):
            leaks[case.endpoint] = found
    assert len(PAGES) > 20 and wrong == {} and leaks == {}
    # The alerts' summaries are written in Chinese too: no stored English line shows.
    page = cast["browsers"]["auditor"].get("/alerts").get_data(as_text=True)
    assert [k for k, (summary, _p) in ALERTS.items() if summary in page] == []


def test_no_event_page_shows_a_code_in_chinese(cast, vault):
    """Every event the cast's acts wrote, on its own page, in Chinese."""
    codes = known_codes()
    browser = cast["browsers"]["auditor"]
    browser.lang = "zh-CN,zh;q=0.9"
    with vault.engine.connect() as conn:
        seqs = [seq for seq, _ev in query_events(conn, limit=500)]
    assert len(seqs) > 20
    leaks = {}
    for seq in seqs:
        page = browser.get(f"/audit/events/{seq}").get_data(as_text=True)
        if found := leaked_codes(page, codes):
            leaks[seq] = found
    assert leaks == {}
