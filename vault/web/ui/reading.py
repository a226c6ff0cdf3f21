"""The reading room (阅览): a record's content, for a stated purpose, under the reader's name.

The purpose is asked first (a form), the consultation happens on POST through
:func:`vault.access.consult` (decide, audit, then decrypt), and the page shows the
content under an overlay of the reader's name and the time. The page is never
cached and offers no download: a copy is a separate, separately granted act.

The page lists the record's attachments; each opens in the reading room the same way,
for the same purpose, through :func:`vault.access.read_attachment` (the API's path:
decided and audited per opening, then decrypted), under the same overlay.
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
# An attachment larger than this is listed but not shown on the page (read whole there).
ATTACHMENT_SHOWN_MAX = 8 * 1024 * 1024


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
    text, image = _shown(got.record.content_type, got.data)
    return render_template(
        "ui/reading_room.html",
        record=got.record,
        text=text,
        image=image,
        event_id=got.event_id,
        reader=caller().person,
        stamp=_stamp(),
        tiles=range(WATERMARK_TILES),
        attachments=records.attachments_of(db(), record_id),
        purpose=request.form.get("purpose", "")[:600],
        showable=showable,
    ), 200


def _stamp() -> str:
    return format_datetime(utcnow(), "yyyy-MM-dd HH:mm:ss") + " UTC"


def showable(content_type: str, size: int | None = None) -> bool:
    """Whether the reading room shows content of this kind (and size) on its page."""
    kind = content_type.split(";")[0].strip().lower()
    fits = size is None or size <= ATTACHMENT_SHOWN_MAX
    return fits and (kind.startswith("text/") or kind in INLINE_IMAGES)


def _shown(content_type: str, data: bytes | None) -> tuple[str | None, str | None]:
    """The text or the inline image the page shows for content (neither: not shown)."""
    kind = content_type.split(";")[0].strip().lower()
    if data is None:
        return None, None
    if kind.startswith("text/"):
        return data.decode("utf-8", errors="replace"), None
    if kind in INLINE_IMAGES:
        return None, f"data:{kind};base64,{base64.b64encode(data).decode()}"
    return None, None


@route(
    bp,
    "/records/<int:record_id>/attachments/<int:attachment_id>/consult",
    action=Action.RECORD_CONSULT,
    methods=["POST"],
    summary="Open a record's attachment in the reading room (audited; purpose required)",
)
def consult_attachment(record_id: int, attachment_id: int) -> Response | tuple[str, int]:
    try:
        got = access.read_attachment(
            vault(),
            db(),
            caller(),
            record_id,
            attachment_id,
            request.form.get("purpose", "")[:600],
            limit=ATTACHMENT_SHOWN_MAX,
        )
    except VaultError as exc:
        refused(exc)
        return _purpose_form(record_id, exc, exc.status)
    att = got.attachment
    text, image = (None, None)
    if showable(att.content_type, att.size):
        text, image = _shown(att.content_type, got.data)
    page = render_template(
        "ui/reading_attachment.html",
        record=got.record,
        attachment=att,
        text=text,
        image=image,
        event_id=got.event_id,
        reader=caller().person,
        stamp=_stamp(),
        tiles=range(WATERMARK_TILES),
    )
    # As the record's own page: shown in place, never kept (headers.py adds the CSP).
    return Response(
        page,
        mimetype="text/html",
        headers={"Content-Disposition": "inline", "Cache-Control": "no-store"},
    )


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
