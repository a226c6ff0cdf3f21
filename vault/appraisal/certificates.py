"""Destruction certificates (销毁清册): a PDF that says what was destroyed, signed.

The PDF lists the batch's file numbers, titles, rules and due dates, who proposed and
who approved, and when the records were shredded. It is drawn with reportlab, in a
font that has Chinese (WenQuanYi Zen Hei, embedded; else reportlab's built-in CID
font), and signed with the vault's audit signing key, the key that signs the audit
checkpoints: an Ed25519 signature over the PDF's SHA-256 digest, kept beside it
(detached). The digest goes into the ``disposal:carry_out`` audit event, so the
certificate cannot be swapped without the chain showing it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from vault.runtime import Vault

_CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)


@lru_cache(maxsize=1)
def font() -> str:
    """The name of a registered font that draws Latin and Chinese text."""
    for path in _CJK_FONTS:
        if path.exists():
            try:
                pdfmetrics.registerFont(TTFont("VaultCJK", str(path), subfontIndex=0))
                return "VaultCJK"
            except Exception:  # noqa: BLE001, S112 - a broken font file: try the next one
                continue
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


@dataclass(frozen=True)
class Line:
    """One destroyed record, as the certificate lists it."""

    file_number: str
    title: str
    rule: str
    due_on: date
    # What the four-properties check before the disposal found of it (codes; none: sound).
    faults: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    """Everything the certificate states."""

    batch_id: int
    carried_out_at: datetime
    reason: str
    proposed_by: str
    approved_by: str
    countersigned_by: str | None
    lines: Sequence[Line]
    key_fingerprint: str
    # The four-properties check run before the shredding, and how many faults it found.
    check_run: int | None = None
    check_faults: int = 0


def fingerprint(key: Ed25519PublicKey) -> str:
    """The SHA-256 of the raw public key, hex: how the certificate names its signer."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _clip(c: canvas.Canvas, text: str, size: float, width: float) -> str:
    name = font()
    if pdfmetrics.stringWidth(text, name, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", name, size) > width:
        text = text[:-1]
    return text + "…"


def render(f: Facts) -> bytes:
    """The certificate's PDF."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=True)
    c.setTitle(f"Destruction certificate, disposal batch {f.batch_id}")
    c.setAuthor("Archive Vault")
    name = font()
    width, height = A4
    left, right = 18 * mm, width - 18 * mm
    y = height - 22 * mm

    def line(text: str, size: float = 10, step: float = 6 * mm) -> None:
        nonlocal y
        c.setFont(name, size)
        c.drawString(left, y, _clip(c, text, size, right - left))
        y -= step

    def header() -> None:
        line("Destruction certificate  销毁证明", 16, 9 * mm)
        line(f"Disposal batch 处置批次 #{f.batch_id}", 11)
        line(f"Carried out 执行时间: {f.carried_out_at:%Y-%m-%d %H:%M:%S} UTC", 10)
        line(f"Proposed by 提议人: {f.proposed_by}", 10)
        line(f"Approved by 批准人: {f.approved_by}", 10)
        if f.countersigned_by:
            line(f"Countersigned by 会签保管员: {f.countersigned_by}", 10)
        line(f"Reason 理由: {f.reason}", 10)
        if f.check_run is not None:
            line(
                f"Four-properties check before disposal 销毁前四性检测: run 检测 #{f.check_run}, "
                f"{f.check_faults} fault(s) 项问题",
                10,
            )
        line(f"Records destroyed 销毁记录数: {len(f.lines)}", 10, 9 * mm)
        line("File number 档号 | Rule 规则 | Due 到期 | Title 题名", 9, 5 * mm)

    header()
    for item in f.lines:
        if y < 30 * mm:
            c.showPage()
            y = height - 22 * mm
            header()
        line(
            f"{item.file_number} | {item.rule} | {item.due_on.isoformat()} | {item.title}",
            9,
            5 * mm,
        )
        if item.faults:
            line(f"    check faults 检测问题: {', '.join(item.faults)}", 8, 5 * mm)
    y -= 4 * mm
    line("Each record's data key was destroyed (crypto-shredded) and its ciphertext and", 8, 4 * mm)
    line("attachments removed; the catalogue entries remain, marked disposed.", 8, 4 * mm)
    line("每条记录的数据密钥已销毁，密文与附件已删除；目录条目保留并标记为已处置。", 8, 4 * mm)  # noqa: RUF001
    line(f"Signed (Ed25519, detached, over SHA-256) by key {f.key_fingerprint}", 8, 4 * mm)
    c.showPage()
    c.save()
    return buf.getvalue()


@dataclass(frozen=True)
class Signed:
    """A rendered certificate, its digest and its detached signature."""

    pdf: bytes
    sha256: str
    signature: bytes
    key_fingerprint: str


def sign(v: Vault, facts: Facts) -> Signed:
    """Render and sign with the vault's audit signing key (the checkpoints' key)."""
    pdf = render(facts)
    digest = hashlib.sha256(pdf).digest()
    signature = v.keys.signing_key().sign(digest)
    return Signed(pdf, digest.hex(), signature, facts.key_fingerprint)


def verify(v: Vault, pdf: bytes, signature: bytes, sha256: str | None = None) -> bool:
    """Whether ``signature`` is the vault's over this PDF (and its digest is ``sha256``)."""
    digest = hashlib.sha256(pdf).digest()
    if sha256 is not None and digest.hex() != sha256:
        return False
    try:
        v.keys.verify_key().verify(signature, digest)
    except InvalidSignature:
        return False
    return True
