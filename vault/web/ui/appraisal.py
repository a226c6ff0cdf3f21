"""Appraisal pages (鉴定): the four-properties check's reports, the loan and use registers,
a client's dossier and the portfolio of client files.

Each page is metadata and codes only (the check's look at content happens inside the
choke point and returns flags); registers and dossiers are also served as CSV and as a
printable PDF whose words follow the page's language, and reading them is audited by
the services."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import datetime

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from werkzeug.wrappers import Response

from vault import csvout
from vault.appraisal import checks, dossier, pdf, portfolio, registers
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.policy import Action
from vault.web.api import parse
from vault.web.context import caller, db, vault
from vault.web.routing import route
from vault.web.ui import charts as charts_
from vault.web.ui import labels, nav
from vault.web.ui.blueprint import bp

nav.add("ui.checks_page", _l("Four-properties check"), Action.CHECK_READ, "audit", order=60)
nav.add("ui.loan_register", _l("Loan register"), Action.REGISTER_READ, "audit", order=62)
nav.add("ui.use_register", _l("Use register"), Action.REGISTER_READ, "audit", order=63)
nav.add("ui.portfolio_page", _l("Portfolio"), Action.PORTFOLIO_READ, "audit", order=64)


def _fmt(allowed: Sequence[str]) -> str:
    fmt = (request.args.get("format") or "page").strip().lower()
    if fmt not in allowed:
        raise InvalidInput(f"format must be one of {', '.join(allowed)}", code="invalid_format")
    return fmt


def _csv(name: str, header: Sequence[object], rows: Sequence[Sequence[object]]) -> Response:
    out = io.StringIO()
    w = csvout.writer(out)
    w.writerow(header)
    w.writerows(rows)
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM, so spreadsheets read the Chinese correctly
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _pdf(name: str, data: bytes) -> Response:
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.pdf"',
            "Cache-Control": "no-store",
        },
    )


def _t(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "—"


def _w(code: object, vocabulary: str) -> str:
    return str(labels.label(code, vocabulary))


# ---- The four-properties check ---------------------------------------------------------


@route(bp, "/checks", action=Action.CHECK_READ, summary="Four-properties check runs")
def checks_page() -> str:
    runs = checks.runs(vault(), db(), caller())
    return render_template("appraisal/checks.html", runs=runs)


@route(
    bp,
    "/checks/<int:run_id>",
    action=Action.CHECK_READ,
    summary="One four-properties check report (page, ?format=csv or json)",
)
def check_page(run_id: int) -> str | Response:
    fmt = _fmt(("page", "csv", "json"))
    report = checks.report(vault(), db(), caller(), run_id)
    if fmt == "json":
        return Response(
            json.dumps(report.as_json(), ensure_ascii=False, indent=2),
            mimetype="application/json",
        )
    if fmt == "csv":
        return Response(
            "\ufeff" + report.csv(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="check-{run_id}.csv"'},
        )
    chart = Markup(  # noqa: S704 - numbers and XML-escaped labels only (charts module)
        charts_.bar_chart(
            _("Faults by property"),
            [
                (_w(p, "check_property"), report.figures().get(p, 0))
                for p in labels.CHECK_PROPERTIES
            ],
        )
    )
    return render_template("appraisal/check.html", report=report, run=report.run, chart=chart)


# ---- Registers ---------------------------------------------------------------------------


def _period() -> registers.Period:
    start = parse.day(request.args.get("from") or None, "from")
    end = parse.day(request.args.get("to") or None, "to")
    return registers.Period.of(start, end)


def _loan_header() -> list[str]:
    return [
        _("Loan"),
        _("Borrower"),
        _("Lent by"),
        _("Client"),
        _("File number"),
        _("Item"),
        _("Purpose"),
        _("Out"),
        _("Due"),
        _("Back"),
        _("Pages out"),
        _("Pages in"),
        _("Status"),
    ]


def _loan_cells(r: registers.LoanRow) -> list[object]:
    return [
        r.loan_id,
        r.borrower,
        r.lent_by,
        r.client_code,
        r.file_number,
        r.item,
        r.purpose,
        _t(r.out_at),
        _t(r.due_at),
        _t(r.returned_at),
        r.pages_out,
        "—" if r.pages_in is None else r.pages_in,
        _w(r.status, "loan_status"),
    ]


@route(
    bp,
    "/registers/loans",
    action=Action.REGISTER_READ,
    summary="The loan register for a period (page, ?format=csv or pdf)",
)
def loan_register() -> str | Response:
    fmt = _fmt(("page", "csv", "pdf"))
    period = _period()
    rows = registers.loan_register(vault(), db(), caller(), period, fmt=fmt)
    name = f"loan-register-{period.start}-{period.end}"
    if fmt == "csv":
        return _csv(name, _loan_header(), [_loan_cells(r) for r in rows])
    if fmt == "pdf":
        return _pdf(
            name,
            pdf.document(
                _("Loan register"),
                _(
                    "%(start)s to %(end)s · %(n)d loans · printed %(time)s UTC",
                    start=period.start,
                    end=period.end,
                    n=len(rows),
                    time=_t(utcnow()),
                ),
                [pdf.Section(_("Loans"), rows=[_loan_header(), *(_loan_cells(r) for r in rows)])],
            ),
        )
    return render_template(
        "appraisal/register.html",
        kind="loans",
        title=_("Loan register"),
        period=period,
        header=_loan_header(),
        rows=[_loan_cells(r) for r in rows],
    )


def _use_header() -> list[str]:
    return [
        _("Time"),
        _("Use"),
        _("Person"),
        _("Client"),
        _("File number"),
        _("Purpose"),
        _("Decision"),
        _("Outcome"),
        _("Reason"),
        _("Copy id"),
    ]


def _use_cells(r: registers.UseRow) -> list[object]:
    return [
        _t(r.time),
        _w(r.kind, "use_kind"),
        r.person,
        r.client_code,
        r.file_number,
        r.purpose,
        _w(r.decision, "decision"),
        _w(r.outcome, "outcome"),
        str(labels.reason(r.reason)),
        r.copy_id or "—",
    ]


@route(
    bp,
    "/registers/uses",
    action=Action.REGISTER_READ,
    summary="The use register (consultations and copies) for a period (page, csv, pdf)",
)
def use_register() -> str | Response:
    fmt = _fmt(("page", "csv", "pdf"))
    period = _period()
    rows = registers.use_register(vault(), db(), caller(), period, fmt=fmt)
    name = f"use-register-{period.start}-{period.end}"
    if fmt == "csv":
        return _csv(name, _use_header(), [_use_cells(r) for r in rows])
    if fmt == "pdf":
        return _pdf(
            name,
            pdf.document(
                _("Use register"),
                _(
                    "%(start)s to %(end)s · %(n)d uses · printed %(time)s UTC",
                    start=period.start,
                    end=period.end,
                    n=len(rows),
                    time=_t(utcnow()),
                ),
                [
                    pdf.Section(
                        _("Consultations and copies"),
                        rows=[_use_header(), *(_use_cells(r) for r in rows)],
                    )
                ],
            ),
        )
    return render_template(
        "appraisal/register.html",
        kind="uses",
        title=_("Use register"),
        period=period,
        header=_use_header(),
        rows=[_use_cells(r) for r in rows],
    )


# ---- Dossier and portfolio ---------------------------------------------------------------


def _dossier_pdf(d: dossier.Dossier) -> bytes:
    c = d.client
    sections = []
    for (section, year), entries in d.catalogue.items():
        sections.append(
            pdf.Section(
                f"{labels.SECTIONS.get(section, section)} · {year}",
                rows=[
                    [
                        _("File number"),
                        _("Title"),
                        _("Document type"),
                        _("Document date"),
                        _("Valid until"),
                        _("Attached files"),
                    ],
                    *(
                        [
                            e.file_number,
                            e.title,
                            e.doc_type or "—",
                            e.doc_date or "—",
                            e.valid_until or "—",
                            e.attachments,
                        ]
                        for e in entries
                    ),
                ],
            )
        )
    sections.append(
        pdf.Section(
            _("Credit reports and lapses"),
            rows=[
                [_("From"), _("To"), _("Credit report")],
                *([s.start, s.end, s.file_number or _("lapse: no valid report")] for s in d.credit),
            ],
        )
    )
    sections.append(
        pdf.Section(
            _("Loans"),
            rows=[
                [_("File number"), _("Item"), _("Borrower"), _("Out"), _("Due"), _("Back")],
                *(
                    [
                        ln.file_number,
                        ln.item,
                        ln.borrower,
                        _t(ln.out_at),
                        _t(ln.due_at),
                        _t(ln.returned_at),
                    ]
                    for ln in d.loans
                ),
            ],
        )
    )
    sections.append(
        pdf.Section(
            _("Reviews"),
            lines=[_("Next review due on %(day)s", day=d.review_due_on)],
            rows=[[_("Reviewed"), _("By")], *([_t(r.reviewed_at), r.by] for r in d.reviews)],
        )
    )
    sections.append(
        pdf.Section(
            _("Risk notes"),
            lines=[_w(r, "risk") for r in d.risks] or [_("No sign of risk.")],
        )
    )
    return pdf.document(
        _("Dossier of %(code)s — %(name)s", code=c.code, name=c.name),
        _(
            "%(tier)s · %(kind)s · %(relationship)s · compiled %(time)s UTC · copy %(copy)s",
            tier=_w(c.tier, "tier"),
            kind=_w(c.kind, "kind"),
            relationship=_w(c.relationship, "relationship"),
            time=_t(d.compiled_at),
            copy=d.copy_id,
        ),
        sections,
    )


@route(
    bp,
    "/clients/<int:client_id>/dossier",
    action=Action.CLIENT_DOSSIER,
    summary="A client's dossier, metadata only (page, or ?format=pdf watermarked)",
)
def dossier_page(client_id: int) -> str | Response:
    fmt = _fmt(("page", "pdf"))
    d = dossier.compile_dossier(vault(), db(), caller(), client_id, fmt=fmt)
    if fmt == "pdf":
        who = caller().person
        data = dossier.stamp(_dossier_pdf(d), d, who.email if who else "operator")
        return _pdf(f"dossier-{d.client.code}-{d.copy_id}", data)
    return render_template("appraisal/dossier.html", d=d, client=d.client)


@route(bp, "/portfolio", action=Action.PORTFOLIO_READ, summary="Core and high-risk client files")
def portfolio_page() -> str:
    view = portfolio.portfolio(vault(), db(), caller())
    charts = {
        "risks": Markup(  # noqa: S704 - numbers and XML-escaped labels only
            charts_.bar_chart(
                _("Clients by sign of risk"),
                [(_w(r, "risk"), n) for r, n in view.by_risk.items()],
            )
        ),
        "ends": Markup(  # noqa: S704 - numbers and XML-escaped labels only
            charts_.bar_chart(
                _("Both ends and the middle"),
                [
                    (_("Core clients"), len(view.core)),
                    (_("High-risk clients"), len(view.high_risk)),
                    (_("The middle"), view.middle),
                ],
            )
        ),
    }
    return render_template("appraisal/portfolio.html", p=view, charts=charts)
