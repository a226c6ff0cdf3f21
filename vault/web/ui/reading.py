"""The reading room (阅览): a record's content, for a stated purpose, under the reader's name.

The purpose is asked first (a form), the consultation happens on POST through
:func:`vault.access.consult` (decide, audit, then decrypt), and the page shows the
content under an overlay of the reader's name and the time. The page is never
cached and offers no download: a copy is a separate, separately granted act.
"""

from __future__ import annotations

import base64

from flask import Response, render_template, request
from flask_babel import format_datetime

from vault import access
from vault.archive import records
from vault.db import utcnow
from vault.errors import VaultError
from vault.policy import Action
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui.blueprint import bp

WATERMARK_TILES = 24
# Images the browser can show inline from a data: URL (the page's CSP allows img data:).
INLINE_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _purpose_form(
    record_id: int, error: VaultError | None = None, status: int = 200
) -> tuple[str, int]:
    record = records.get_record(db(), record_id)
    return render_template(
        "ui/consult.html", record=record, error=error, purpose=request.form.get("purpose", "")
    ), status


@route(
    bp,
    "/records/<int:record_id>/consult",
    action=Action.RECORD_READ,
    summary="Ask the purpose of a consultation",
)
def consult_form(record_id: int) -> tuple[str, int]:
    return _purpose_form(record_id)


@route(
    bp,
    "/records/<int:record_id>/consult",
    action=Action.RECORD_CONSULT,
    methods=["POST"],
    summary="Consult a record in the reading room (audited; purpose required)",
)
def consult(record_id: int) -> tuple[str, int]:
    try:
        got = access.consult(
            vault(), db(), caller(), record_id, request.form.get("purpose", "")[:600]
        )
    except VaultError as exc:
        refused(exc)
        return _purpose_form(record_id, exc, exc.status)
    kind = got.record.content_type.split(";")[0].strip().lower()
    text, image = None, None
    if kind.startswith("text/"):
        text = got.data.decode("utf-8", errors="replace")
    elif kind in INLINE_IMAGES:
        image = f"data:{kind};base64,{base64.b64encode(got.data).decode()}"
    reader = caller().person
    stamp = format_datetime(utcnow(), "yyyy-MM-dd HH:mm:ss") + " UTC"
    return render_template(
        "ui/reading_room.html",
        record=got.record,
        text=text,
        image=image,
        event_id=got.event_id,
        reader=reader,
        stamp=stamp,
        tiles=range(WATERMARK_TILES),
    ), 200


COPY_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


@route(
    bp,
    "/records/<int:record_id>/copy",
    action=Action.RECORD_COPY,
    methods=["POST"],
    summary="A traceable copy (watermarked with the reader, the time and a copy id; audited)",
)
def make_copy(record_id: int) -> Response | tuple[str, int]:
    try:
        made = access.copy(
            vault(), db(), caller(), record_id, request.form.get("purpose", "")[:600]
        )
    except VaultError as exc:
        refused(exc)
        return _purpose_form(record_id, exc, exc.status)
    ext = COPY_EXTENSIONS.get(made.media_type, "txt")
    name = f"{made.record.file_number}-{made.copy_id}.{ext}"
    return Response(
        made.data,
        mimetype=made.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Copy-Id": made.copy_id,
        },
    )
