"""Charts for the statistics page, rendered on the server as SVG strings.

No JavaScript, no external fonts or stylesheets, nothing fetched: the page works
offline and under a strict CSP (embed the string inline, or serve it as
``image/svg+xml``). Every label is XML-escaped."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from xml.sax.saxutils import escape

from vault.oversight.statistics import Stats

WIDTH = 560


BAR = 22


GAP = 8


LABEL_W = 150


PALETTE = ("#3b6ea5", "#c0504d", "#9bbb59", "#8064a2", "#4bacc6", "#f79646")


def _svg(height: int, title: str, body: list[str]) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
        f'font-size="12"><title>{escape(title)}</title>'
        f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>'
    )
    return head + "".join(body) + "</svg>"


def bar_chart(title: str, data: Mapping[str, int] | Sequence[tuple[str, int]]) -> str:
    """Horizontal bars, one per label, with the value written at the end of each."""
    items = list(data.items()) if isinstance(data, Mapping) else list(data)
    top = max((n for _, n in items), default=0) or 1
    span = WIDTH - LABEL_W - 60
    body: list[str] = []
    y = 28
    for i, (label, n) in enumerate(items):
        w = round(span * n / top)
        colour = PALETTE[i % len(PALETTE)]
        body.append(
            f'<text x="{LABEL_W - 6}" y="{y + BAR - 7}" text-anchor="end">'
            f"{escape(str(label))}</text>"
            f'<rect x="{LABEL_W}" y="{y}" width="{w}" height="{BAR}" fill="{colour}">'
            f"<title>{escape(str(label))}: {n}</title></rect>"
            f'<text x="{LABEL_W + w + 6}" y="{y + BAR - 7}">{n}</text>'
        )
        y += BAR + GAP
    if not items:
        body.append(f'<text x="0" y="{y + 14}">no data</text>')
        y += 24
    return _svg(y + 4, title, body)


def column_chart(title: str, data: Mapping[str, int]) -> str:
    """Vertical columns over time (e.g. consultations per day), first and last day labelled."""
    items = list(data.items())
    height, base, top_pad = 200, 170, 30
    top = max((n for _, n in items), default=0) or 1
    slot = (WIDTH - 40) / max(len(items), 1)
    body = [
        f'<line x1="30" y1="{base}" x2="{WIDTH - 10}" y2="{base}" stroke="#888"/>',
        f'<text x="26" y="{top_pad + 4}" text-anchor="end">{top}</text>',
    ]
    for i, (label, n) in enumerate(items):
        h = round((base - top_pad) * n / top)
        x = 34 + i * slot
        body.append(
            f'<rect x="{x:.1f}" y="{base - h}" width="{max(slot - 2, 1):.1f}" height="{h}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {n}</title></rect>'
        )
    if items:
        body.append(f'<text x="34" y="{base + 16}">{escape(items[0][0])}</text>')
        body.append(
            f'<text x="{WIDTH - 10}" y="{base + 16}" text-anchor="end">'
            f"{escape(items[-1][0])}</text>"
        )
    else:
        body.append(f'<text x="40" y="{base - 10}">no data</text>')
    return _svg(height, title, body)


TITLES = {
    "holdings_by_tier": "Records by tier",
    "holdings_by_section": "Records by section",
    "holdings_by_year": "Records by year",
    "loans": "Loans out and overdue",
    "requests_by_status": "Access requests by status",
    "consultations_per_day": "Consultations per day",
    "top_readers": "Top readers",
    "denials_by_action": "Denials by action",
}


def _same(code: str, vocabulary: str) -> str:
    return code


def charts(
    stats: Stats,
    titles: Mapping[str, str] | None = None,
    words: Callable[[str, str], str] = _same,
) -> dict[str, str]:
    """Every chart of the statistics page, by name; ``titles`` translates the headings and
    ``words(code, vocabulary)`` the codes on the bars (tiers, sections, statuses, actions)."""
    t = {**TITLES, **(titles or {})}

    def named(data: Mapping[str, int], vocabulary: str) -> dict[str, int]:
        return {words(code, vocabulary): n for code, n in data.items()}

    return {
        "holdings_by_tier": bar_chart(
            t["holdings_by_tier"],
            named({tier: v["records"] for tier, v in stats.holdings_by_tier.items()}, "tier"),
        ),
        "holdings_by_section": bar_chart(
            t["holdings_by_section"], named(stats.holdings_by_section, "section")
        ),
        "holdings_by_year": bar_chart(
            t["holdings_by_year"], {str(y): n for y, n in stats.holdings_by_year.items()}
        ),
        "loans": bar_chart(
            t["loans"],
            named({"out": stats.loans_out, "overdue": stats.loans_overdue}, "loan_status"),
        ),
        "requests_by_status": bar_chart(
            t["requests_by_status"], named(stats.requests_by_status, "request_status")
        ),
        "consultations_per_day": column_chart(
            t["consultations_per_day"], stats.consultations_per_day
        ),
        "top_readers": bar_chart(
            t["top_readers"], [(r["email"], r["consultations"]) for r in stats.top_readers]
        ),
        "denials_by_action": bar_chart(
            t["denials_by_action"], named(stats.denials_by_action, "action")
        ),
    }


def timeline_chart(
    title: str,
    data: Sequence[tuple[str, int]],
    *,
    series: Sequence[tuple[str, Sequence[float]]] = (),
    levels: Sequence[tuple[str, float]] = (),
) -> str:
    """Columns per day with lines over them: ``series`` (one value per day, e.g. the peers'
    median) as polylines, ``levels`` (e.g. a baseline or a quota) as labelled dashed lines."""
    items = list(data)
    height, base, top_pad, left = 230, 180, 30, 34
    right = WIDTH - 90
    peak = max(
        [n for _, n in items]
        + [x for _, values in series for x in values]
        + [x for _, x in levels],
        default=0,
    )
    top = peak or 1
    slot = (right - left) / max(len(items), 1)

    def y_of(value: float) -> float:
        return base - (base - top_pad) * min(value, top) / top

    body = [
        f'<line x1="{left - 4}" y1="{base}" x2="{right}" y2="{base}" stroke="#888"/>',
        f'<text x="{left - 8}" y="{top_pad + 4}" text-anchor="end">{top:g}</text>',
    ]
    for i, (label, n) in enumerate(items):
        h = base - y_of(n)
        body.append(
            f'<rect x="{left + i * slot:.1f}" y="{y_of(n):.1f}" width="{max(slot - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{escape(label)}: {n}</title></rect>'
        )
    for k, (name, values) in enumerate(series):
        colour = PALETTE[(k + 2) % len(PALETTE)]
        points = " ".join(
            f"{left + (i + 0.5) * slot:.1f},{y_of(x):.1f}" for i, x in enumerate(values)
        )
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(name)}</title></polyline>"
        )
    for k, (name, value) in enumerate(levels):
        colour = PALETTE[(k + 1) % len(PALETTE)] if k < 3 else "#555"
        y = y_of(value)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-dasharray="5,3"><title>{escape(name)}: {value:g}</title></line>'
            f'<text x="{right + 4}" y="{y + 4:.1f}" font-size="10">{escape(name)} {value:g}</text>'
        )
    if items:
        body.append(f'<text x="{left}" y="{base + 16}">{escape(items[0][0])}</text>')
        body.append(
            f'<text x="{right}" y="{base + 16}" text-anchor="end">{escape(items[-1][0])}</text>'
        )
    else:
        body.append(f'<text x="40" y="{base - 10}">no data</text>')
    return _svg(height, title, body)


def heat_chart(title: str, rows: Sequence[str], grid: Sequence[Sequence[int]]) -> str:
    """A grid of cells (rows: e.g. weekdays; columns: hours 0..23), darker for more."""
    cell, left, top_pad = 19, 40, 40
    peak = max((n for row in grid for n in row), default=0) or 1
    body = [
        f'<text x="{left + h * cell + cell / 2:.1f}" y="{top_pad - 6}" text-anchor="middle" '
        f'font-size="9">{h}</text>'
        for h in range(0, 24, 3)
    ]
    for r, (label, row) in enumerate(zip(rows, grid, strict=True)):
        y = top_pad + r * cell
        body.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        for h, n in enumerate(row):
            shade = 0.08 + 0.92 * n / peak if n else 0.0
            body.append(
                f'<rect x="{left + h * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{PALETTE[0]}" fill-opacity="{shade:.2f}" stroke="#ddd">'
                f"<title>{escape(label)} {h:02d}:00: {n}</title></rect>"
            )
    return _svg(top_pad + len(rows) * cell + 8, title, body)
