"""Who is calling: a bearer token (API) or the browser session (flask-login)."""

from __future__ import annotations

from flask import Flask, g, request
from flask_login import LoginManager, UserMixin

from vault.models import Person
from vault.people import person_for_token
from vault.web.context import db

login_manager = LoginManager()


class WebUser(UserMixin):  # type: ignore[misc]
    """flask-login's view of a person."""

    def __init__(self, person: Person) -> None:
        self.person = person

    def get_id(self) -> str:
        return str(self.person.id)


@login_manager.user_loader
def _load_user(user_id: str) -> WebUser | None:
    person = db().get(Person, int(user_id)) if user_id.isdigit() else None
    return WebUser(person) if person is not None else None


@login_manager.request_loader
def _load_from_bearer(req) -> WebUser | None:  # type: ignore[no-untyped-def]
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    person = person_for_token(db(), token.strip())
    return WebUser(person) if person is not None else None


def init_app(app: Flask) -> None:
    """Install flask-login and resolve the caller before each request."""
    login_manager.init_app(app)

    @app.before_request
    def _resolve_person() -> None:
        from flask_login import current_user

        g.person = current_user.person if current_user.is_authenticated else None
        g.bad_token = bool(request.headers.get("Authorization")) and g.person is None
