"""The import page (导入): a custodian or an admin sends a spreadsheet and sees the report.

The same importer as ``archive-vault import`` (:mod:`vault.archive.importer`): the whole
file is checked first and nothing is filed when a row is bad, unless the person asks to
skip the bad rows; every filed row is a ``client:create`` / ``record:deposit`` as if by
hand. The page lists the column headers and values accepted, in both languages.
"""

from __future__ import annotations

from flask import render_template, request
from flask_babel import lazy_gettext as _l

from vault.archive import importer, vocabulary
from vault.errors import InvalidInput, VaultError
from vault.policy import Action
from vault.web import i18n
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui import nav
from vault.web.ui.blueprint import bp

nav.add("ui.import_form", _l("Import"), Action.CLIENT_IMPORT, order=35)


def column_label(name: str) -> str:
    """A column as the page names it: its first word in the page's language."""
    words = vocabulary.COLUMNS.get(name)
    if words is None:
        return name
    return words.zh[0] if i18n.current() == "zh_Hans" else words.en[0]


def _named(error: VaultError | None) -> list[str]:
    """The columns an import error is about (a header refused, missing or doubled)."""
    columns = error.extra.get("columns") if error is not None else None
    return [str(c) for c in columns] if isinstance(columns, list) else []


def _page(
    report: importer.ImportReport | None = None,
    error: VaultError | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_template(
        "ui/import.html",
        report=report,
        error=error,
        columns=vocabulary.COLUMNS,
        required=importer.REQUIRED,
        values=vocabulary.VALUES,
        column_label=column_label,
        named=_named(error),
    ), status


@route(bp, "/import", action=Action.CLIENT_IMPORT, summary="The spreadsheet import form")
def import_form() -> tuple[str, int]:
    return _page()


@route(
    bp,
    "/import",
    action=Action.CLIENT_IMPORT,
    methods=["POST"],
    summary="Import clients and records from an .xlsx or .csv file; the report per row",
)
def import_upload() -> tuple[str, int]:
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise InvalidInput("choose an .xlsx or .csv file", code="missing_file")
        report = importer.import_upload(
            vault(),
            db(),
            caller(),
            upload.filename,
            upload.stream,
            skip_bad=request.form.get("skip_bad") == "1",
        )
    except VaultError as exc:
        refused(exc)
        return _page(error=exc, status=exc.status)
    return _page(report, status=400 if report.rejected else 200)
