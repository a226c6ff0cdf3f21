"""Appraisal (鉴定): the retention schedule, legal holds and disposal by crypto-shredding
(``retention``, ``holds``, ``disposal``, ``certificates``); the four-properties check
(``checks``), the registers, the dossier and the portfolio."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Any


def plain(value: Any) -> Any:
    """A register's, dossier's or portfolio's rows as JSON values (dates as ISO text), for
    the API and the command line alike."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
