"""Attachments of a record: upload a file, consult one (audited)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from flask import Response, stream_with_context
from pydantic import Field

from vault import access
from vault.archive import records
from vault.models import Attachment
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import NO_STORE, Form, Query, Reply, Upload
from vault.web.context import caller, db, vault
from vault.web.routing import Binary, route


class AttachmentCard(Reply):
    """An attachment's catalogue entry."""

    id: int
    filename: str
    content_type: str
    size: int

    @classmethod
    def of(cls, a: Attachment) -> AttachmentCard:
        return cls(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size)


class FileUpload(Form):
    """A file sent as the multipart field ``file``."""

    file: Upload


class ConsultQuery(Query):
    """Why the caller consults it (audited)."""

    codes: ClassVar[Mapping[str, str]] = {"purpose": "purpose_required"}

    purpose: str | None = Field(None, max_length=500, description="why you consult it (required)")


@route(
    bp,
    "/records/<int:record_id>/attachments",
    action=Action.RECORD_ATTACH,
    methods=["POST"],
    summary="Add a file to a record (multipart field 'file')",
    body=FileUpload,
    responses={201: AttachmentCard},
)
def upload(record_id: int, body: FileUpload) -> AttachmentCard:
    file = body.file
    att = records.attach(
        vault(),
        db(),
        caller(),
        record_id,
        filename=file.filename or "attachment",
        content_type=file.mimetype or "application/octet-stream",
        stream=file.stream,
    )
    return AttachmentCard.of(att)


@route(
    bp,
    "/records/<int:record_id>/attachments/<int:attachment_id>/content",
    action=Action.RECORD_CONSULT,
    summary="Consult an attachment (audited; purpose required)",
    query=ConsultQuery,
    responses={
        200: Binary(
            ("application/octet-stream", "*/*"),
            "The attachment's bytes, served with the media type it was stored with",
        )
    },
)
def consult_attachment(record_id: int, attachment_id: int, query: ConsultQuery) -> Response:
    got = access.consult_attachment(
        vault(), db(), caller(), record_id, attachment_id, query.purpose
    )
    headers = dict(NO_STORE)
    headers["Content-Disposition"] = "inline"
    return Response(
        stream_with_context(got.chunks), mimetype=got.attachment.content_type, headers=headers
    )
