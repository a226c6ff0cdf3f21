"""Printable PDFs of tables (registers, dossiers), with a font that renders Chinese.

reportlab's platypus lays out a title, a few lines and tables; the text face is
WenQuanYi Zen Hei (Debian's ``fonts-wqy-zenhei``, installed by ``scripts/test-deps``),
embedded in the file so the PDF reads the same anywhere. Without that font the PDF is
refused (``pdf_font_missing``) rather than printed with boxes for every Chinese word."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from vault.errors import Unavailable

FONT = "WenQuanYiZenHei"
FONT_FILES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)


@functools.cache
def font() -> str:
    """Register the CJK font once; its name for styles."""
    for path in FONT_FILES:
        if path.is_file():
            pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=0))
            return FONT
    raise Unavailable(
        "no font that renders Chinese is installed (fonts-wqy-zenhei)", code="pdf_font_missing"
    )


@dataclass
class Section:
    """A heading, some lines, and a table (header row first)."""

    heading: str
    lines: Sequence[str] = ()
    rows: Sequence[Sequence[object]] = field(default_factory=list)
    widths: Sequence[float] | None = None


def document(title: str, subtitle: str, sections: Sequence[Section], *, wide: bool = True) -> bytes:
    """A PDF: the title, a subtitle line, then each section."""
    face = font()
    h1 = ParagraphStyle("h1", fontName=face, fontSize=15, leading=19, spaceAfter=4)
    h2 = ParagraphStyle("h2", fontName=face, fontSize=11.5, leading=15, spaceBefore=8)
    body = ParagraphStyle("body", fontName=face, fontSize=8.5, leading=11)
    cell = ParagraphStyle("cell", fontName=face, fontSize=7.5, leading=9.5)
    story: list[object] = [Paragraph(escape(title), h1), Paragraph(escape(subtitle), body)]
    for sec in sections:
        story.append(Paragraph(escape(sec.heading), h2))
        story.extend(Paragraph(escape(line), body) for line in sec.lines)
        if sec.rows:
            data = [
                [Paragraph(escape("" if c is None else str(c)), cell) for c in row]
                for row in sec.rows
            ]
            table = Table(data, repeatRows=1, colWidths=list(sec.widths) if sec.widths else None)
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.92, 0.95)),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story += [Spacer(1, 2 * mm), table]
    out = io.BytesIO()
    size = landscape(A4) if wide else A4
    SimpleDocTemplate(
        out,
        pagesize=size,
        title=title,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
    ).build(story)
    return out.getvalue()
