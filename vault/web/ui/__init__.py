"""The server-rendered pages: one blueprint ``ui``, templates under ``templates/<area>/``.

Pages need no JavaScript; every form posts with a CSRF token; every route names its
policy action (``route(...)``) and the navigation bar shows only pages the policy
allows the signed-in person. Views are thin: parse the form, call one service, render.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Flask, g, request, url_for
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context
from jinja2.runtime import Context

from vault.policy import Action
from vault.web import i18n
from vault.web.context import caller, vault
from vault.web.ui import (
    account,
    admin,
    appraisal,
    auditing,
    catalogue,
    custody,
    desk,
    disposal,
    errors,
    grants,
    home,
    intake,
    labels,
    nav,
    profile,
    proposals,
    reading,
    why,
)
from vault.web.ui import stats as stats_pages  # noqa: F401 - registers /stats
from vault.web.ui.blueprint import bp

__all__ = [
    "account",
    "admin",
    "appraisal",
    "auditing",
    "bp",
    "catalogue",
    "custody",
    "desk",
    "disposal",
    "grants",
    "home",
    "init_app",
    "intake",
    "nav",
    "profile",
    "proposals",
    "reading",
    "why",
]

nav.add("ui.catalogue", _l("Catalogue"), Action.RECORD_READ, order=10)
nav.add("ui.clients", _l("Clients"), Action.CLIENT_READ, order=20)
nav.add("ui.deposit_form", _l("Deposit"), Action.RECORD_DEPOSIT, order=30)
nav.add("ui.audit_log", _l("Audit log"), Action.AUDIT_READ, "audit", order=10)
nav.add("ui.audit_verify", _l("Verify the log"), Action.AUDIT_VERIFY, "audit", order=20)
nav.add("ui.people_list", _l("People"), Action.PERSON_READ, "admin", order=10)
nav.add("ui.designations", _l("Designations"), Action.PERSON_READ, "admin", order=20)
nav.add("ui.keys", _l("Keys"), Action.KEY_STATUS, "admin", order=30)
nav.add("ui.why", _l("Why? A decision explained"), Action.POLICY_WHY, "audit", order=90)
nav.add("ui.proposals_page", _l("Proposals"), Action.PROPOSAL_APPROVE, "admin", order=25)


def url_with(**changes: object) -> str:
    """This page's URL with some query values changed (for paging)."""
    args: dict[str, Any] = {**request.args.to_dict(), **changes}
    return url_for(request.endpoint or "ui.home", **(request.view_args or {}), **args)


def _context() -> dict[str, Any]:
    person = caller().person if g.get("who") is not None else None
    lang = i18n.current()

    def can(action: str) -> bool:
        """Whether the policy allows the signed-in person ``action`` (to show a form)."""
        if person is None:
            return False
        return bool(vault().policy.decide(caller().principal(date.today()), Action(action)))

    return {
        "me": person,
        "nav_items": nav.visible(caller()) if person is not None else [],
        "languages": i18n.LANGUAGES,
        "lang": lang,
        "html_lang": i18n.HTML_LANG.get(lang, "en"),
        "here": errors.here(),
        "labels": labels,
        "url_with": url_with,
        "can": can,
        "why_url": why.why_url,
    }


def _per_page(words: Callable[..., Any]) -> Callable[..., Any]:
    """``words`` as a filter Jinja runs on every page. Jinja folds a filter that takes no
    context into the template's code when its argument is a literal (``"held"|label``):
    it would run once, when the process first compiles the template, and every page
    after would show the words in the language of that first one."""

    @pass_context
    def per_page(_context: Context, *args: Any, **kwargs: Any) -> Any:
        return words(*args, **kwargs)

    return per_page


def init_app(app: Flask) -> None:
    """Mount the pages and let errors render as pages."""
    app.register_blueprint(bp)
    app.context_processor(_context)
    app.add_template_filter(_per_page(labels.label), "label")
    app.add_template_filter(_per_page(labels.alert_text), "alert_summary")
    app.extensions["vault_error_page"] = errors.render
