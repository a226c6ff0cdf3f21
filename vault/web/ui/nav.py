"""The navigation bar: each entry names the policy action behind its page.

An entry shows only to people the policy allows that action, so the bar never offers
a page that would answer 403. Other features add their pages here with :func:`add`
(e.g. requests and grants, lending, statistics) and they appear for the right people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask_babel import LazyString

from vault.caller import Caller
from vault.policy import Action, Principal
from vault.web.context import vault


@dataclass(frozen=True)
class NavItem:
    """One link of the navigation bar."""

    endpoint: str
    label: LazyString
    action: Action
    section: str  # "work", "audit" or "admin": groups the bar and the start page
    # Narrows who sees the link (e.g. designated custodians); never widens the policy.
    when: Callable[[Principal], bool] | None = None
    order: int = 50  # place within its section


SECTIONS = ("work", "audit", "admin")
ITEMS: list[NavItem] = []


def add(
    endpoint: str,
    label: LazyString,
    action: Action,
    section: str = "work",
    when: Callable[[Principal], bool] | None = None,
    order: int = 50,
) -> None:
    """Offer a page in the bar to everyone the policy allows ``action`` (and ``when`` holds)."""
    if all(item.endpoint != endpoint for item in ITEMS):
        ITEMS.append(NavItem(endpoint, label, action, section, when, order))
        ITEMS.sort(key=_place)


def _place(item: NavItem) -> tuple[int, int]:
    section = SECTIONS.index(item.section) if item.section in SECTIONS else len(SECTIONS)
    return section, item.order


def custodians(principal: Principal) -> bool:
    """Designated custodians (for pages that only list work in their scope)."""
    return bool(principal.custodian_tiers)


def visible(caller: Caller) -> list[NavItem]:
    """The entries ``caller`` may use today."""
    principal = caller.principal(date.today())
    policy = vault().policy
    return [
        item
        for item in ITEMS
        if (item.when is None or item.when(principal)) and policy.decide(principal, item.action)
    ]
