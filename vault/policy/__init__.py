"""Cedar policies and the adapter that evaluates them (no Flask, no database)."""

from vault.policy.actions import CONTENT_ACTIONS, Action
from vault.policy.engine import Decision, PolicyEngine, PolicyError, Principal, Target, validate

__all__ = [
    "CONTENT_ACTIONS",
    "Action",
    "Decision",
    "PolicyEngine",
    "PolicyError",
    "Principal",
    "Target",
    "validate",
]
