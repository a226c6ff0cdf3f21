"""One structlog setup: JSON lines for operations and for the audit copy.

Operational logs never carry content; the audit copy carries events, which hold
ids only. Both go to files under the vault's log folder so an operator (and the
canary test) can read every byte the vault logs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import structlog

_configured = False


def configure(json: bool = True) -> None:
    """Configure structlog once per process (JSON lines, ISO timestamps)."""
    global _configured
    if _configured:
        return
    _configured = True
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("vault")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def audit_logger(log_dir: Path) -> Any:
    """A structlog logger writing the audit JSON-lines copy to ``log_dir/audit.jsonl``."""
    configure()
    log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"audit.{log_dir.resolve()}"
    std = logging.getLogger(name)
    if not std.handlers:
        handler = logging.FileHandler(log_dir / "audit.jsonl", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        std.addHandler(handler)
        std.setLevel(logging.INFO)
        std.propagate = False
    return structlog.get_logger(name)
