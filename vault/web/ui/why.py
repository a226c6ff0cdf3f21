"""Why can't I / why can they (为什么): a decision explained, in words.

Anyone signed in asks about themselves ("why can't I consult record 12?"); admins and
auditors also about someone else. The answer comes from :mod:`vault.oversight.decisions`
(the same decision ``archive-vault policy explain`` prints), each question recorded.
A refusal of a use of content links here, the act and the record filled in.
"""

from __future__ import annotations

from datetime import date

from flask import current_app, render_template, request, url_for

from vault.errors import InvalidInput, VaultError
from vault.oversight import decisions
from vault.policy import Action
from vault.web.api import parse
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route, spec_of
from vault.web.ui.blueprint import bp


def _action(value: str | None) -> Action:
    for act in decisions.WHY_ACTIONS:
        if act.value == value:
            return act
    raise InvalidInput("ask about consulting, copying or borrowing", code="invalid_action")


@route(
    bp,
    "/why",
    action=Action.POLICY_WHY,
    summary="Why a decision is what it is (oneself; admins and auditors: anyone)",
)
def why() -> tuple[str, int]:
    args = request.args
    form = {
        "action": (args.get("action") or Action.RECORD_CONSULT.value)[:40],
        "record": (args.get("record") or "")[:20],
        "person": (args.get("person") or "")[:254],
    }
    answer: decisions.Answer | None = None
    error: VaultError | None = None
    if args.get("record"):
        try:
            record_id = parse.integer(form["record"], "record") or 0
            answer = decisions.why(
                vault(), db(), caller(), _action(form["action"]), record_id, form["person"] or None
            )
        except VaultError as exc:
            refused(exc)
            error = exc
    others = bool(
        vault().policy.decide(caller().principal(date.today()), Action.POLICY_WHY, is_self=False)
    )
    return render_template(
        "ui/why.html",
        form=form,
        answer=answer,
        error=error,
        others=others,
        acts=[a.value for a in decisions.WHY_ACTIONS],
    ), (error.status if error else 200)


def why_url() -> str | None:
    """The question page for the act this request was refused, on its record (or None)."""
    spec = spec_of(current_app.view_functions.get(request.endpoint or ""))
    record_id = (request.view_args or {}).get("record_id")
    if spec is None or spec.action not in decisions.WHY_ACTIONS or not record_id:
        return None
    principal = caller().principal(date.today())
    if not vault().policy.decide(principal, Action.POLICY_WHY, is_self=True):
        return None
    return url_for("ui.why", action=spec.action.value, record=record_id)
