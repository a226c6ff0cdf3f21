"""Input parsing for the API: every bad value becomes InvalidInput with a stable code."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Any

from flask import request

from vault.errors import InvalidInput


def json_body() -> dict[str, Any]:
    """The request's JSON object, or 400 ``invalid_json``."""
    if not request.is_json:
        raise InvalidInput(
            "send a JSON object with Content-Type: application/json", code="invalid_json"
        )
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", code="invalid_json")
    return data


def string(
    data: dict[str, Any], name: str, *, required: bool = True, max_len: int = 300
) -> str | None:
    """A string field."""
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"{name} is required", code=f"missing_{name}")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", code=f"invalid_{name}")
    if len(value) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters", code=f"invalid_{name}")
    return value


def integer(
    value: Any, name: str, *, required: bool = True, lo: int = 0, hi: int = 2**31 - 1
) -> int | None:
    """An integer field or query value within [lo, hi]."""
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name} is required", code=f"missing_{name}")
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a whole number", code=f"invalid_{name}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a whole number", code=f"invalid_{name}") from None
    if not lo <= number <= hi:
        raise InvalidInput(f"{name} must be between {lo} and {hi}", code=f"invalid_{name}")
    return number


def day(value: Any, name: str) -> date | None:
    """An ISO date (YYYY-MM-DD) or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a date YYYY-MM-DD", code=f"invalid_{name}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date YYYY-MM-DD", code=f"invalid_{name}") from None


def content(data: dict[str, Any]) -> bytes:
    """Record content from ``content`` (text) or ``content_base64`` (bytes)."""
    text, b64 = data.get("content"), data.get("content_base64")
    if (text is None) == (b64 is None):
        raise InvalidInput("give exactly one of content or content_base64", code="missing_content")
    if text is not None:
        if not isinstance(text, str):
            raise InvalidInput("content must be a string", code="invalid_content")
        return text.encode("utf-8")
    if not isinstance(b64, str):
        raise InvalidInput("content_base64 must be a string", code="invalid_content")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("content_base64 is not valid base64", code="invalid_content") from None


def page(max_size: int) -> tuple[int, int]:
    """``limit`` and ``offset`` from the query; a page above the hard cap is refused."""
    limit = integer(request.args.get("limit"), "limit", required=False, lo=1, hi=10**9) or 50
    if limit > max_size:
        raise InvalidInput(f"at most {max_size} rows per page", code="page_too_large")
    offset = integer(request.args.get("offset"), "offset", required=False, lo=0, hi=10**7) or 0
    return limit, offset
