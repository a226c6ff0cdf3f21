"""Traceable copies: every copy carries who, when and a unique copy id, visibly and for machines.

Formats and where the mark goes:

- PDF: every page gets a diagonal mark and a footer line (drawn with reportlab,
  merged with pypdf); the document info gets ``/ArchiveVaultCopy``.
- PNG: a banner with the mark drawn on the image (Pillow); a ``tEXt`` chunk
  ``ArchiveVault-Copy``; and the copy id spread over the least significant bit of
  the first pixels' blue channel, so a copy stripped of its metadata still names itself.
- JPEG: the banner; a ``COM`` segment and the EXIF ImageDescription.
- Text: a header and a footer line.

:func:`trace` reads the copy id back from any of these. The copy id is random
(80 bits), so it names one audited copy and cannot be guessed; the audit log
says whose it is (``archive-vault audit trace-copy``)."""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PyPdfError as PdfError
from reportlab.pdfgen import canvas

from vault.errors import InvalidInput, NotFound

COPY_ID = re.compile(r"AVC-[0-9a-f]{20}")


META_KEY = "ArchiveVault-Copy"


PDF_KEY = "/ArchiveVaultCopy"


_LSB_MAGIC = b"AVC1"


_EXIF_DESCRIPTION = 0x010E


SUPPORTED = frozenset({"application/pdf", "image/png", "image/jpeg"})  # and any text/*


def new_copy_id() -> str:
    """A fresh copy id, ``AVC-`` and 20 hex digits."""
    return "AVC-" + secrets.token_hex(10)


@dataclass(frozen=True)
class Mark:
    """What each copy says about itself."""

    copy_id: str
    who: str  # the person's e-mail (ASCII renders in every format)
    when: datetime

    def __post_init__(self) -> None:
        if not COPY_ID.fullmatch(self.copy_id):
            raise ValueError("copy_id must be AVC- and 20 hex digits")

    @property
    def line(self) -> str:
        """The visible line."""
        return (
            f"ARCHIVE VAULT COPY {self.copy_id} - made for {self.who} at "
            f"{self.when:%Y-%m-%d %H:%M} UTC - do not distribute"
        )


def media_type(content_type: str) -> str:
    """The bare media type of a Content-Type value."""
    return content_type.split(";", 1)[0].strip().lower()


def supports(content_type: str) -> bool:
    """Whether copies of this kind of content can be watermarked."""
    kind = media_type(content_type)
    return kind in SUPPORTED or kind.startswith("text/")


def stamp(data: bytes, content_type: str, mark: Mark) -> bytes:
    """Return a watermarked copy of ``data``.

    Raises:
        InvalidInput: ``copy_format_unsupported`` for other formats, ``copy_unreadable``
            when the bytes are not the format they claim to be.
    """
    kind = media_type(content_type)
    try:
        if kind == "application/pdf":
            return _stamp_pdf(data, mark)
        if kind in ("image/png", "image/jpeg"):
            return _stamp_image(data, kind, mark)
    except (OSError, ValueError, SyntaxError, KeyError, IndexError, TypeError, PdfError) as exc:
        raise InvalidInput(
            f"the record's content is not a readable {kind}", code="copy_unreadable"
        ) from exc
    if kind.startswith("text/"):
        return _stamp_text(data, mark)
    raise InvalidInput(f"copies of {kind} cannot be watermarked", code="copy_format_unsupported")


def trace(data: bytes) -> str:
    """The copy id a copy carries (metadata first, then the visible or hidden mark).

    Raises:
        NotFound: ``no_watermark`` when the file carries none.
    """
    for reader in (_trace_pdf, _trace_image, _trace_text):
        try:
            found = reader(data)
        except Exception:  # noqa: BLE001,S112 - a file that is not this format: try the next
            continue
        if found:
            return found
    raise NotFound("no Archive Vault watermark in this file", code="no_watermark")


def _stamp_pdf(data: bytes, mark: Mark) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        page.merge_page(_overlay(width, height, mark))
    writer.add_metadata({PDF_KEY: mark.copy_id, "/Subject": mark.line})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _overlay(width: float, height: float, mark: Mark) -> PageObject:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(width, height))
    c.setFillColorRGB(0.55, 0.55, 0.55, alpha=0.35)
    c.setFont("Helvetica-Bold", max(10.0, min(width, height) / 22))
    c.saveState()
    c.translate(width / 2, height / 2)
    c.rotate(35)
    c.drawCentredString(0, 12, "ARCHIVE VAULT COPY")
    c.drawCentredString(0, -12 - min(width, height) / 22, mark.copy_id)
    c.restoreState()
    c.setFillColorRGB(0.2, 0.2, 0.2, alpha=0.9)
    c.setFont("Helvetica", 7)
    c.drawString(18, 12, mark.line)
    c.save()
    return PdfReader(io.BytesIO(buf.getvalue())).pages[0]


def _trace_pdf(data: bytes) -> str | None:
    if not data.startswith(b"%PDF"):
        return None
    reader = PdfReader(io.BytesIO(data))
    value = str(reader.metadata.get(PDF_KEY, "")) if reader.metadata else ""
    if COPY_ID.fullmatch(value):
        return value
    for page in reader.pages:
        found = COPY_ID.search(page.extract_text() or "")
        if found:
            return found.group(0)
    return None


def _stamp_image(data: bytes, kind: str, mark: Mark) -> bytes:
    with Image.open(io.BytesIO(data)) as src:
        src.load()
        img = src.convert("RGB")
    width, height = img.size
    size = max(10, min(width // 40, 28))
    font = ImageFont.load_default(size=size)
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    band = size + 10
    draw.rectangle((0, height - band, width, height), fill=(255, 255, 255, 200))
    draw.text((6, height - band + 4), mark.line, font=font, fill=(160, 0, 0, 255))
    for y in range(band, height - band, max(band * 6, 60)):
        draw.text((6, y), f"COPY {mark.copy_id}", font=font, fill=(160, 0, 0, 70))
    img = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
    out = io.BytesIO()
    if kind == "image/png":
        img = _embed_lsb(img, mark.copy_id)
        info = PngImagePlugin.PngInfo()
        info.add_text(META_KEY, mark.copy_id)
        info.add_text("Description", mark.line)
        img.save(out, format="PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif[_EXIF_DESCRIPTION] = mark.line
        img.save(out, format="JPEG", quality=90, comment=mark.line.encode(), exif=exif)
    return out.getvalue()


def _embed_lsb(img: Image.Image, copy_id: str) -> Image.Image:
    """Write magic + copy id into the lowest bits of the first pixels' blue channel."""
    payload = _LSB_MAGIC + copy_id.encode()
    bits = [(byte >> (7 - i)) & 1 for byte in payload for i in range(8)]
    r, g, b = img.split()
    blue = bytearray(b.tobytes())
    if len(blue) < len(bits):
        return img  # too small to carry it; the metadata and the banner still do
    for i, bit in enumerate(bits):
        blue[i] = (blue[i] & 0xFE) | bit
    b = Image.frombytes("L", img.size, bytes(blue))
    return Image.merge("RGB", (r, g, b))


def _read_lsb(img: Image.Image) -> str | None:
    blue = img.convert("RGB").split()[2].tobytes()
    n = (len(_LSB_MAGIC) + 24) * 8
    if len(blue) < n:
        return None
    raw = bytes(sum((blue[k * 8 + i] & 1) << (7 - i) for i in range(8)) for k in range(n // 8))
    if not raw.startswith(_LSB_MAGIC):
        return None
    text = raw[len(_LSB_MAGIC) :].decode("ascii", "replace")
    return text if COPY_ID.fullmatch(text) else None


def _trace_image(data: bytes) -> str | None:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        for value in (
            getattr(img, "text", {}).get(META_KEY),
            img.info.get("comment"),
            img.getexif().get(_EXIF_DESCRIPTION),
        ):
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            found = COPY_ID.search(value or "")
            if found:
                return found.group(0)
        return _read_lsb(img) if img.format == "PNG" else None


def _stamp_text(data: bytes, mark: Mark) -> bytes:
    line = f"[{mark.line}]".encode()
    return line + b"\n\n" + data + (b"" if data.endswith(b"\n") else b"\n") + b"\n" + line + b"\n"


def _trace_text(data: bytes) -> str | None:
    found = COPY_ID.search(data.decode("utf-8", "replace"))
    return found.group(0) if found else None
