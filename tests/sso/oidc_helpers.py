"""Drive the test OpenID Connect provider's built-in (devInteractions) pages with ``requests``.

The provider is ``tests/sso/provider/server.mjs`` (npm ``oidc-provider`` 9). Its login page
is a form posting ``prompt=login, login=<account id>, password=<anything>`` to
``/interaction/<uid>``; its consent page posts ``prompt=consent`` to the same kind of URL.
Every redirect is followed by hand (``allow_redirects=False``) so the final redirect to the
relying party's ``redirect_uri`` is returned, never requested.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

__all__ = [
    "LoginRejected",
    "OIDCFlowError",
    "login_through_provider",
    "logout_through_provider",
]

MAX_STEPS = 25
TIMEOUT = 10

_FORM_ACTION = re.compile(r'<form\b[^>]*\baction="([^"]*)"', re.IGNORECASE)
_PROMPT = re.compile(r'<input\b[^>]*\bname="prompt"[^>]*\bvalue="([^"]*)"', re.IGNORECASE)
_XSRF = re.compile(r'<input\b[^>]*\bname="xsrf"[^>]*\bvalue="([^"]*)"', re.IGNORECASE)
_INTERACTION_UID = re.compile(r"/interaction/([^/?#]+)")


class OIDCFlowError(AssertionError):
    """The provider answered something the helper did not expect."""


class LoginRejected(OIDCFlowError):
    """The provider showed its login form again after the account was submitted."""


def _redirect_uri_of(url: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get("redirect_uri")
    return values[0] if values else None


def _describe(resp: requests.Response) -> str:
    return f"{resp.request.method} {resp.url} -> {resp.status_code}: {resp.text[:500]!r}"


def _form(resp: requests.Response) -> tuple[str, str | None]:
    """The absolute form action and the value of its ``prompt`` input (None if absent)."""
    action = _FORM_ACTION.search(resp.text)
    if not action:
        raise OIDCFlowError(f"no form on the provider page: {_describe(resp)}")
    prompt = _PROMPT.search(resp.text)
    return (urljoin(resp.url, html.unescape(action.group(1))), prompt.group(1) if prompt else None)


def login_through_provider(
    session: requests.Session,
    authorize_url: str,
    account: str,
    *,
    password: str = "x",
    redirect_uris: Iterable[str] = (),
) -> str:
    """Sign ``account`` in at the provider and return the redirect back to the client.

    ``authorize_url`` is the provider's authorization URL, or any URL that redirects to it
    (an app's ``/login``). Redirects are followed by hand until a ``Location`` starts with one
    of ``redirect_uris`` or with the ``redirect_uri`` parameter of an authorization URL seen on
    the way; that URL (carrying ``code``, ``state`` and ``iss``, or ``error``) is returned
    without being requested. If the session already holds a provider login and grant, no form
    is shown. The test provider answers an unknown account id with a redirect carrying
    ``error=access_denied``, which is returned like any other. Raises ``LoginRejected`` if the
    provider shows its login form again, ``OIDCFlowError`` on anything else unexpected.
    """
    stops = [u for u in redirect_uris if u]
    url = authorize_url
    resp = None
    logins = 0
    for _ in range(MAX_STEPS):
        seen = _redirect_uri_of(url)
        if seen and seen not in stops:
            stops.append(seen)
        if resp is None:
            resp = session.get(url, allow_redirects=False, timeout=TIMEOUT)
        if resp.is_redirect:
            url = urljoin(resp.url, resp.headers["Location"])
            if any(url.startswith(stop) for stop in stops):
                return url
            resp = None
            continue
        if resp.status_code != 200 or not _INTERACTION_UID.search(resp.url):
            raise OIDCFlowError(f"unexpected provider answer: {_describe(resp)}")
        action, prompt = _form(resp)
        if prompt == "login":
            logins += 1
            if logins > 1:
                raise LoginRejected(f"the provider did not accept account {account!r}")
            data = {"prompt": "login", "login": account, "password": password}
        elif prompt == "consent":
            data = {"prompt": "consent"}
        else:
            raise OIDCFlowError(f"unknown interaction prompt {prompt!r}: {_describe(resp)}")
        resp = session.post(action, data=data, allow_redirects=False, timeout=TIMEOUT)
    raise OIDCFlowError(f"no redirect to {stops or 'the client'} after {MAX_STEPS} steps")


def logout_through_provider(
    session: requests.Session,
    end_session_url: str,
    *,
    stop_at: Iterable[str] = (),
) -> str:
    """Confirm an RP-initiated logout at the provider and return where it sends the browser.

    ``end_session_url`` is the provider's ``end_session_endpoint`` with its parameters
    (``id_token_hint``, ``post_logout_redirect_uri``, ``state``, ...), or an app URL that
    redirects to it. The confirmation form is submitted with ``logout=yes``; redirects are
    followed by hand until a ``Location`` starts with one of ``stop_at`` or with the
    ``post_logout_redirect_uri`` parameter seen on the way, which is returned unrequested.
    Without a post-logout redirect the URL of the provider's "Sign-out Success" page is
    returned.
    """
    stops = [u for u in stop_at if u]
    url = end_session_url
    resp = None
    confirmed = False
    for _ in range(MAX_STEPS):
        seen = parse_qs(urlsplit(url).query).get("post_logout_redirect_uri")
        if seen and seen[0] not in stops:
            stops.append(seen[0])
        if resp is None:
            resp = session.get(url, allow_redirects=False, timeout=TIMEOUT)
        if resp.is_redirect:
            url = urljoin(resp.url, resp.headers["Location"])
            if any(url.startswith(stop) for stop in stops):
                return url
            resp = None
            continue
        if resp.status_code != 200:
            raise OIDCFlowError(f"unexpected provider answer: {_describe(resp)}")
        xsrf = _XSRF.search(resp.text)
        if xsrf is None:
            if confirmed:
                return resp.url
            raise OIDCFlowError(f"no logout confirmation form: {_describe(resp)}")
        if confirmed:
            raise OIDCFlowError(f"logout confirmation shown twice: {_describe(resp)}")
        action, _prompt = _form(resp)
        confirmed = True
        resp = session.post(
            action,
            data={"xsrf": html.unescape(xsrf.group(1)), "logout": "yes"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
    raise OIDCFlowError(f"logout did not finish after {MAX_STEPS} steps")
