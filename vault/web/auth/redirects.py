"""Where a browser may be sent after signing in or switching language: this site only."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_NEXT = 1000


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a plain path on this site, else ``default``.

    Refused: anything with a scheme or host (``https://evil``, ``//evil``), backslashes
    (``/\\evil``, which browsers read as ``//evil``), control characters and spaces
    (browsers drop tabs and newlines, turning ``/\\t/evil`` into ``//evil``), and the
    sign-in pages themselves (no loops).
    """
    if not target or not isinstance(target, str) or len(target) > MAX_NEXT:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    # Checked as sent, and its path once decoded: a proxy or browser that decodes the path
    # must not find a way out either.
    for form in (target, unquote(urlsplit(target).path)):
        if form.startswith("//") or "\\" in form:
            return default
        if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in form):
            return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return default
    if parts.path.startswith("/auth/"):
        return default
    return target
