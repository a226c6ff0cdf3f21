"""The auditor's desk: access patterns, the departure watch, and each alert explained.

Charts are inline SVG drawn on the server (:mod:`vault.web.ui.charts`): no script,
nothing fetched; each chart has its numbers beside it as an HTML table. The figures are
the services' (:mod:`vault.oversight.patterns`, :mod:`vault.oversight.departure_watch`,
:mod:`vault.oversight.explain`); the pages only ask and show.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from werkzeug.wrappers import Response

from vault.errors import InvalidInput, NotFound
from vault.models import Alert
from vault.oversight import alerts as alerts_
from vault.oversight import departure_watch as watch_
from vault.oversight import explain, patterns
from vault.people import directory
from vault.policy import Action
from vault.web.api import parse
from vault.web.context import caller, db, vault
from vault.web.routing import route
from vault.web.ui import charts, labels, nav
from vault.web.ui.blueprint import bp

nav.add("ui.access_patterns", _l("Access patterns"), Action.AUDIT_PATTERNS, "audit", order=35)
nav.add("ui.departure_watch", _l("Departure watch"), Action.DEPARTURE_REPORT, "audit", order=36)

WEEKDAYS = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))
PEER_GROUPS = {
    "custodian": _l("custodians"),
    "employee": _l("employees who are not custodians"),
}

# What each kind of alert means: the rule in words, its threshold and what was observed
# (filled in with the figures of vault.oversight.explain).
RULES = {
    "quota_exceeded": _l(
        "Opening one more record would have crossed the export quota: the distinct records a "
        "person opens in any hour and any day are limited."
    ),
    "page_quota_exceeded": _l(
        "Reading one more page of the catalogue or the client list would have crossed the page "
        "quota: the list pages a person reads in any hour and any day are limited."
    ),
    "departing_access": _l(
        "A person with a leaving date tried to open a record: their access has ended."
    ),
    "departed_access": _l("A person whose leaving date has come tried to use the vault."),
    "loan_returned_short": _l("An item came back from a loan with fewer pages than it left with."),
    "loan_damaged": _l("An item came back from a loan damaged or incomplete."),
    "departure_use_rise": _l(
        "A person with a leaving date used records markedly more after notice was given than "
        "before: every consultation, copy or borrowing they asked for, allowed or refused."
    ),
}
THRESHOLDS = {
    "quota_exceeded": _l("%(hour)s records per hour, %(day)s per day"),
    "page_quota_exceeded": _l("%(hour)s pages per hour, %(day)s per day"),
    "departing_access": _l("any attempt"),
    "departed_access": _l("any attempt"),
    "loan_returned_short": _l("%(pages_out)s pages, as lent"),
    "loan_damaged": _l("%(pages_out)s pages, as lent, in good condition"),
    "departure_use_rise": _l(
        "a weekly mean after notice above %(factor)s times the weekly mean of the %(days)s days "
        "before, and at least %(min_uses)s uses"
    ),
}
OBSERVED = {
    "quota_exceeded": _l("%(hour)s records in the last hour, %(day)s in the last day"),
    "page_quota_exceeded": _l("%(hour)s pages in the last hour, %(day)s in the last day"),
    "departing_access": _l("an attempt on record %(record)s"),
    "departed_access": _l("an attempt (record %(record)s)"),
    "loan_returned_short": _l("%(pages_in)s pages back"),
    "loan_damaged": _l("%(pages_in)s pages back"),
    "departure_use_rise": _l(
        "%(weekly_after)s a week since notice on %(notice)s (%(uses_after)s uses), against "
        "%(weekly_before)s a week before (%(uses_before)s uses)"
    ),
}


def _svg(svg: str) -> Markup:
    # Built from numbers and XML-escaped labels only (see vault.web.ui.charts).
    return Markup(svg)  # noqa: S704


@route(
    bp,
    "/patterns",
    action=Action.AUDIT_PATTERNS,
    summary="Access patterns: a person against their baseline and peers, heat map, top lists",
)
def access_patterns() -> str:
    days = parse.integer(request.args.get("days"), "days", required=False, lo=1, hi=366) or 30
    who = (request.args.get("person") or "").strip()[:254]
    person = None
    if who:
        try:
            person = (
                directory.get_person(db(), int(who))
                if who.isdigit()
                else directory.get_by_email(db(), who)
            )
        except NotFound:
            raise InvalidInput("no person with that e-mail or id", code="invalid_person") from None
    found = patterns.collect(vault(), db(), caller(), days=days, person=person)
    drawn = {
        "heat": _svg(
            charts.heat_chart(
                str(_("Uses by weekday and hour (UTC)")), [str(d) for d in WEEKDAYS], found.heat
            )
        ),
        "top_people": _svg(
            charts.bar_chart(str(_("Top people")), [(r.label, r.uses) for r in found.top_people])
        ),
        "top_clients": _svg(
            charts.bar_chart(str(_("Top clients")), [(r.label, r.uses) for r in found.top_clients])
        ),
    }
    t = found.timeline
    if t is not None:
        drawn["timeline"] = _svg(
            charts.timeline_chart(
                str(_("Records opened per day")),
                [(r.day.isoformat(), r.opened) for r in t.rows],
                series=[(str(_("Peers' median")), [r.peer_median for r in t.rows])],
                levels=[
                    (str(_("mean")), t.baseline_mean),
                    (str(_("mean + 2 sd")), t.baseline_high),
                    (str(_("daily quota")), t.quotas.export_day),
                ],
            )
        )
    return render_template(
        "audit/patterns.html",
        p=found,
        t=t,
        charts=drawn,
        days=days,
        weekdays=WEEKDAYS,
        peer_groups=PEER_GROUPS,
    )


@route(
    bp,
    "/departure-watch",
    action=Action.DEPARTURE_REPORT,
    summary="Everyone with a leaving date, their use before and after notice, flags",
)
def departure_watch() -> str:
    found = watch_.watch(vault(), db(), caller())
    chart = _svg(
        charts.bar_chart(
            str(_("Weekly uses after notice, per person")),
            [(w.person.email, round(w.weekly_after)) for w in found],
        )
    )
    return render_template(
        "audit/departure_watch.html",
        watched=found,
        chart=chart,
        factor=watch_.RISE_FACTOR,
        baseline_days=watch_.BASELINE_DAYS,
        min_uses=watch_.MIN_USES,
    )


@route(
    bp,
    "/alerts/<int:alert_id>",
    action=Action.ALERT_READ,
    summary="One alert explained: its rule, threshold, observed value and the events behind it",
)
def alert_page(alert_id: int) -> str:
    ex = explain.explain(vault(), db(), caller(), alert_id)
    kind = ex.alert.kind
    rule = RULES.get(kind)
    threshold = THRESHOLDS.get(kind)
    observed = OBSERVED.get(kind)
    return render_template(
        "grants/alert.html",
        ex=ex,
        rule=str(rule) if rule and ex.known else labels.alert_text(ex.alert),
        threshold=str(threshold) % ex.threshold if threshold and ex.known else "",
        observed=str(observed) % ex.observed if observed and ex.known else "",
        log_args=ex.behind.query() if ex.behind else None,
    )


@route(
    bp,
    "/alerts/<int:alert_id>/clear",
    action=Action.REVIEW_CLEAR,
    methods=["POST"],
    summary="Clear one alert, with a note (auditors)",
)
def alert_clear(alert_id: int) -> Response:
    note = request.form.get("note", "").strip()[:500]
    if len(note) < 3:
        raise InvalidInput("say why the alert is cleared", code="note_required")
    alert = db().get(Alert, alert_id)
    if alert is None:
        raise NotFound("no such alert", code="alert_not_found")
    alerts_.clear_alert(vault(), db(), caller(), alert, note)
    flash(_("The alert is cleared."), "ok")
    return redirect(url_for("ui.alert_page", alert_id=alert_id))
