"""The one CSV writer of the vault: every cell a spreadsheet would run is made text.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or
their full-width forms, which some spreadsheets also read as formulas) is written with
a leading ``'``: Excel and LibreOffice then show it as text instead of running
``=HYPERLINK(...)`` or ``=cmd|...`` (OWASP "CSV injection"). Every CSV the vault
writes (the audit export, the departure report on the web and the command line) goes
through :func:`writer`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["FORMULA_STARTS", "SafeWriter", "cell", "writer"]

FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


class _Stream(Protocol):
    def write(self, s: str, /) -> Any: ...


def cell(value: object) -> str:
    """``value`` as CSV cell text that no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


class SafeWriter:
    """A ``csv.writer`` whose every cell goes through :func:`cell`."""

    __slots__ = ("_out",)

    def __init__(self, stream: _Stream) -> None:
        self._out = csv.writer(stream)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row, each cell escaped."""
        self._out.writerow([cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write each row, each cell escaped."""
        for row in rows:
            self.writerow(row)


def writer(stream: _Stream) -> SafeWriter:
    """A CSV writer on ``stream`` that escapes formula cells."""
    return SafeWriter(stream)
