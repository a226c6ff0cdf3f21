"""The statistics page: auditors and admins see the figures and inline SVG charts, offline."""

from __future__ import annotations

from tests.factories import Factory
from tests.integration.test_stats_numbers import build


def test_auditor_sees_figures_and_charts_without_script(web, api, make: Factory, vault, db):
    build(make, vault, db, api)
    auditor = make.person(roles=("employee", "auditor"))
    web.sign_in(auditor)
    page = web.get("/stats")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<svg") == 8
    assert "<script" not in html and "cdn" not in html.lower()
    assert "<title>Core: 4</title>" in html  # records by tier, drawn on the server, in words
    assert 'id="loans"' in html and "Stale credit reports" in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert 'href="/stats"' in web.get("/").get_data(as_text=True)  # offered in the bar
    week = web.get("/stats?days=7")
    assert week.status_code == 200
    assert web.get("/stats?days=1000").status_code == 400


def test_the_page_is_in_chinese_too(web, api, make: Factory, vault, db):
    build(make, vault, db, api)
    zh = web.another(lang="zh-CN")
    zh.sign_in(make.admin())
    html = zh.get("/stats").get_data(as_text=True)
    assert "统计" in html and "按分类统计的档案" in html and "外借与逾期" in html
    # The bars are named in words too: tiers, sections, statuses, actions.
    assert "<title>核心: 4</title>" in html and "<title>基础资料: " in html
    assert "<title>外借中: " in html and "core:" not in html and "basic:" not in html


def test_employees_and_custodians_are_refused(web, make: Factory):
    for person in (make.person(), make.custodian()):
        browser = web.another()
        browser.sign_in(person)
        assert browser.get("/stats").status_code == 403
        assert 'href="/stats"' not in browser.get("/").get_data(as_text=True)
