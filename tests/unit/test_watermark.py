"""Watermarks: each format carries who, when and the copy id, and trace() reads it back."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from vault.custody.watermarks import Mark, new_copy_id, stamp, supports, trace
from vault.errors import InvalidInput, NotFound

WHEN = datetime(2026, 3, 14, 9, 26, tzinfo=UTC)


def mark() -> Mark:
    return Mark(copy_id=new_copy_id(), who="li.wei@example.test", when=WHEN)


def pdf(pages: int = 3) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(595, 842))
    for n in range(pages):
        c.drawString(72, 720, f"Supply contract page {n + 1}")
        c.showPage()
    c.save()
    return buf.getvalue()


def image(fmt: str, size=(400, 300)) -> bytes:
    img = Image.new("RGB", size, (240, 240, 230))
    for x in range(0, size[0], 7):
        img.putpixel((x, size[1] // 2), (10, 20, 30))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def test_pdf_every_page_is_stamped_and_traced():
    m = mark()
    copy = stamp(pdf(3), "application/pdf", m)
    reader = PdfReader(io.BytesIO(copy))
    assert len(reader.pages) == 3
    for page in reader.pages:
        text = page.extract_text()
        assert m.copy_id in text and "li.wei@example.test" in text
        assert "2026-03-14 09:26 UTC" in text
        assert "Supply contract page" in text  # the original is still there
    assert reader.metadata["/ArchiveVaultCopy"] == m.copy_id
    assert trace(copy) == m.copy_id


def test_pdf_mark_survives_losing_its_metadata():
    m = mark()
    copy = stamp(pdf(2), "application/pdf", m)
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(copy)).pages:
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    stripped = out.getvalue()
    assert b"ArchiveVaultCopy" not in stripped
    assert trace(stripped) == m.copy_id


def test_png_visible_banner_text_chunk_and_hidden_bits():
    m = mark()
    original = image("PNG")
    copy = stamp(original, "image/png", m)
    img = Image.open(io.BytesIO(copy))
    assert img.format == "PNG" and img.size == (400, 300)
    assert img.text["ArchiveVault-Copy"] == m.copy_id
    assert m.copy_id in img.text["Description"]
    before = Image.open(io.BytesIO(original)).convert("RGB")
    changed = sum(
        1
        for x in range(0, 400, 2)
        for y in range(285, 300)
        if sum(
            abs(a - b) for a, b in zip(img.getpixel((x, y)), before.getpixel((x, y)), strict=True)
        )
        > 30
    )
    assert changed > 50  # the visible banner text
    assert trace(copy) == m.copy_id

    # Metadata stripped (re-saved without text chunks): the bits in the pixels remain.
    resaved = io.BytesIO()
    Image.open(io.BytesIO(copy)).save(resaved, format="PNG")
    assert b"ArchiveVault-Copy" not in resaved.getvalue()
    assert trace(resaved.getvalue()) == m.copy_id


def test_jpeg_visible_banner_comment_and_exif():
    m = mark()
    copy = stamp(image("JPEG"), "image/jpeg", m)
    img = Image.open(io.BytesIO(copy))
    assert img.format == "JPEG"
    assert m.copy_id.encode() in img.info["comment"]
    assert m.copy_id in img.getexif()[0x010E]
    assert trace(copy) == m.copy_id
    # Without its comment, the EXIF description still names the copy.
    no_comment = io.BytesIO()
    img.save(no_comment, format="JPEG", exif=img.getexif())
    assert trace(no_comment.getvalue()) == m.copy_id


def test_text_has_a_header_and_a_footer():
    m = mark()
    copy = stamp("付款条件: net 60\n".encode(), "text/plain; charset=utf-8", m)
    lines = copy.decode().splitlines()
    assert lines[0].startswith(f"[ARCHIVE VAULT COPY {m.copy_id} - made for li.wei@example.test")
    assert "付款条件: net 60" in lines
    assert lines[-1] == lines[0]
    assert trace(copy) == m.copy_id
    # Someone cut the header off; the footer still names it.
    assert trace("\n".join(lines[1:]).encode()) == m.copy_id


def test_copy_ids_are_unique_and_well_formed():
    ids = {new_copy_id() for _ in range(1000)}
    assert len(ids) == 1000
    with pytest.raises(ValueError):
        Mark(copy_id="AVC-1234", who="x", when=WHEN)


def test_unsupported_and_unreadable_content_is_refused():
    assert supports("application/pdf") and supports("text/csv") and supports("image/png")
    assert not supports("application/zip")
    with pytest.raises(InvalidInput) as exc:
        stamp(b"PK\x03\x04", "application/zip", mark())
    assert exc.value.code == "copy_format_unsupported"
    for kind in ("application/pdf", "image/png", "image/jpeg"):
        with pytest.raises(InvalidInput) as exc:
            stamp(b"not really " + kind.encode(), kind, mark())
        assert exc.value.code == "copy_unreadable"


def test_files_without_a_mark_are_not_traced():
    for data in (pdf(1), image("PNG"), image("JPEG"), b"plain text", b""):
        with pytest.raises(NotFound) as exc:
            trace(data)
        assert exc.value.code == "no_watermark"
