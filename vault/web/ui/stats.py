"""The statistics page (统计): figures and server-rendered SVG charts, for auditors and admins.

The charts are inline SVG built by :mod:`vault.stats_charts` (no script, nothing
fetched), so the page works offline and under the pages' strict CSP.
"""

from __future__ import annotations

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from vault.oversight import statistics
from vault.policy import Action
from vault.web.api import parse
from vault.web.context import caller, db, vault
from vault.web.routing import route
from vault.web.ui import charts as charts_
from vault.web.ui import labels, nav
from vault.web.ui.blueprint import bp

nav.add("ui.stats_page", _l("Statistics"), Action.STATS_READ, "audit")

TITLES = {
    "holdings_by_tier": _l("Records by tier"),
    "holdings_by_section": _l("Records by section"),
    "holdings_by_year": _l("Records by year"),
    "loans": _l("Loans out and overdue"),
    "requests_by_status": _l("Access requests by status"),
    "consultations_per_day": _l("Consultations per day"),
    "top_readers": _l("Top readers"),
    "denials_by_action": _l("Denials by action"),
}


def _words(code: str, vocabulary: str) -> str:
    return str(labels.label(code, vocabulary))


@route(bp, "/stats", action=Action.STATS_READ, summary="Statistics with charts")
def stats_page() -> str:
    days = parse.integer(request.args.get("days"), "days", required=False, lo=1, hi=366) or 30
    figures = statistics.collect(vault(), db(), caller(), days=days)
    titles = {name: str(title) for name, title in TITLES.items()}
    # The SVG is built from numbers and XML-escaped labels only (see vault.stats_charts).
    charts = {
        name: Markup(svg)  # noqa: S704
        for name, svg in charts_.charts(figures, titles=titles, words=_words).items()
    }
    return render_template("stats/stats.html", s=figures, charts=charts, days=days)
