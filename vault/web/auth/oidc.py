"""OpenID Connect sign-in (authlib): discovery, code flow with PKCE, state, nonce, logout.

The flow state (state, nonce, PKCE verifier, where to go next) lives in the signed
session cookie for ``PENDING_MAX_S`` and is used once. At the callback, in order:
the provider's error (if any) is reported; the state must match; the ``iss``
parameter (RFC 9207), when sent, must name the configured issuer; the code is
exchanged with the verifier; the ID token's signature, issuer, audience, expiry and
nonce are checked; userinfo must be about the same subject. Each failure has a
stable code; nothing from the provider is trusted before these checks pass.
"""

from __future__ import annotations

import hmac
import re
import time
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, session, url_for
from joserfc.errors import ClaimError, JoseError

from vault.config import AuthSettings
from vault.errors import Denied, InvalidInput, NotFound, Unavailable
from vault.identity.accounts import SsoIdentity

PENDING_MAX_S = 600
METADATA_MAX_AGE_S = 3600
MAX_GROUPS = 200
_ERROR_NAME = re.compile(r"^[a-z_]{1,40}$")

log = structlog.get_logger("vault.sso")


class Provider:
    """The configured identity provider, as seen through authlib's Flask client."""

    def __init__(self, app: Flask, settings: AuthSettings) -> None:
        self.settings = settings
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.oauth = OAuth(app)
        self.client: Any = self.oauth.register(
            "sso",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.oidc_scopes,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "default_timeout": settings.oidc_timeout_s,
            },
        )

    @property
    def origin(self) -> str:
        """The provider's origin (the browser is sent there by our forms)."""
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, checked to name the configured issuer."""
        meta: dict[str, Any] = self.client.server_metadata
        if time.time() - meta.get("_loaded_at", 0) > METADATA_MAX_AGE_S:
            meta.clear()  # re-read now and then: endpoints and keys may change
        try:
            meta = self.client.load_server_metadata()
        except (requests.RequestException, ValueError) as exc:
            meta.clear()
            log.warning("identity provider unreachable", error=type(exc).__name__)
            raise Unavailable(
                "the identity provider cannot be reached", code="sso_unavailable"
            ) from None
        if str(meta.get("issuer", "")).rstrip("/") != self.issuer:
            meta.clear()
            raise InvalidInput(
                "the identity provider names another issuer", code="sso_wrong_issuer"
            )
        return meta

    def redirect_uri(self) -> str:
        """Our callback URL, as registered with the provider."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/") + "/auth/callback"
        return url_for("auth.callback", _external=True)

    def begin(self, next_url: str, locale: str) -> str:
        """Start a sign-in: remember the flow in the session, return the provider's URL."""
        self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        redirect_uri = self.redirect_uri()
        try:
            rv = self.client.create_authorization_url(
                redirect_uri,
                state=state,
                nonce=nonce,
                code_verifier=verifier,
                ui_locales=locale.replace("_", "-"),
            )
        except (requests.RequestException, RuntimeError):
            raise Unavailable(
                "the identity provider cannot be reached", code="sso_unavailable"
            ) from None
        session["sso_pending"] = {
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "redirect_uri": redirect_uri,
            "next": next_url,
            "at": int(time.time()),
        }
        return str(rv["url"])

    def complete(self, args: Any) -> tuple[SsoIdentity, str, str]:
        """Finish a sign-in from the callback's query; returns (identity, ID token, next)."""
        pending = session.pop("sso_pending", None)
        error = args.get("error")
        if error:
            name = error if _ERROR_NAME.match(error) else "error"
            if name in ("access_denied", "login_required", "consent_required"):
                raise Denied(
                    "the identity provider refused the sign-in",
                    code="sso_access_denied",
                    provider_error=name,
                )
            raise InvalidInput(
                "the identity provider reported an error",
                code="sso_provider_error",
                provider_error=name,
            )
        state = args.get("state") or ""
        if (
            not isinstance(pending, dict)
            or not isinstance(pending.get("state"), str)
            or time.time() - float(pending.get("at", 0)) > PENDING_MAX_S
            or not hmac.compare_digest(state.encode(), pending["state"].encode())
        ):
            raise InvalidInput(
                "this sign-in was not started here, or took too long", code="sso_bad_state"
            )
        meta = self.metadata()
        iss = args.get("iss")
        if iss is None and meta.get("authorization_response_iss_parameter_supported"):
            raise InvalidInput("the answer does not name its issuer", code="sso_wrong_issuer")
        if iss is not None and iss.rstrip("/") != self.issuer:
            raise InvalidInput("the answer comes from another issuer", code="sso_wrong_issuer")
        code = args.get("code")
        if not code:
            raise InvalidInput("the identity provider sent no code", code="sso_provider_error")
        token = self._exchange(code, pending)
        claims = self._id_claims(token, pending["nonce"])
        info = self._userinfo(token, claims)
        identity = self._identity({**claims, **info}, signed=claims)
        return identity, str(token["id_token"]), str(pending["next"])

    def _exchange(self, code: str, pending: dict[str, Any]) -> dict[str, Any]:
        try:
            token = self.client.fetch_access_token(
                redirect_uri=pending["redirect_uri"],
                code=code,
                code_verifier=pending["verifier"],
            )
        except OAuthError as exc:
            log.warning("code exchange refused", error=str(exc.error)[:40])
            raise InvalidInput(
                "the identity provider refused the code", code="sso_token_exchange_failed"
            ) from None
        except requests.RequestException:
            raise Unavailable(
                "the identity provider cannot be reached", code="sso_unavailable"
            ) from None
        if not isinstance(token, dict) or not token.get("id_token"):
            raise InvalidInput(
                "the identity provider sent no ID token", code="sso_invalid_id_token"
            )
        return token

    def _id_claims(self, token: dict[str, Any], nonce: str) -> dict[str, Any]:
        options = {
            "iss": {"essential": True, "value": self.metadata()["issuer"]},
            "aud": {"essential": True, "value": self.settings.oidc_client_id},
        }
        try:
            claims = self.client.parse_id_token(token, nonce=nonce, claims_options=options)
        except ClaimError as exc:
            code = {"nonce": "sso_bad_nonce", "iss": "sso_wrong_issuer"}.get(
                exc.claim, "sso_invalid_id_token"
            )
            raise InvalidInput("the ID token does not check out", code=code) from None
        except (JoseError, ValueError, KeyError, TypeError):
            raise InvalidInput(
                "the ID token does not check out", code="sso_invalid_id_token"
            ) from None
        except requests.RequestException:
            raise Unavailable(
                "the identity provider cannot be reached", code="sso_unavailable"
            ) from None
        return dict(claims)

    def _userinfo(self, token: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
        if not self.metadata().get("userinfo_endpoint"):
            return {}
        try:
            info = dict(self.client.userinfo(token=token))
        except (requests.RequestException, OAuthError, ValueError):
            raise Unavailable(
                "the identity provider cannot be reached", code="sso_unavailable"
            ) from None
        if info.get("sub") != claims.get("sub"):
            raise InvalidInput("userinfo is about someone else", code="sso_invalid_id_token")
        return info

    def _identity(self, claims: dict[str, Any], signed: dict[str, Any]) -> SsoIdentity:
        s = self.settings
        email, sub = claims.get("email"), claims.get("sub")
        if not isinstance(email, str) or not isinstance(sub, str) or not sub or len(sub) > 255:
            raise InvalidInput(
                "the identity provider sent no usable identity", code="sso_bad_claims"
            )
        raw_groups = claims.get(s.oidc_groups_claim, [])
        if isinstance(raw_groups, str):
            raw_groups = [raw_groups]
        groups: tuple[str, ...] = ()
        if isinstance(raw_groups, list):
            groups = tuple(g for g in raw_groups[:MAX_GROUPS] if isinstance(g, str))
        name = claims.get("name")
        hired_on = _claim_date(claims, s.oidc_hired_on_claim)
        # Only the ID token is signed by the provider; userinfo may say otherwise. How the
        # person was authenticated is read from the signed ID token only, too.
        signed_hire = _claim_date(signed, s.oidc_hired_on_claim)
        raw_amr = signed.get("amr")
        amr: tuple[str, ...] = ()
        if isinstance(raw_amr, list):
            amr = tuple(m for m in raw_amr[:20] if isinstance(m, str) and len(m) <= 40)
        acr = signed.get("acr")
        return SsoIdentity(
            subject=sub,
            email=email.strip().lower(),
            name=name if isinstance(name, str) else email,
            email_verified=claims.get("email_verified") is True,
            groups=groups,
            hired_on=hired_on,
            hired_on_signed=hired_on is not None and signed_hire == hired_on,
            leaving_on=_claim_date(claims, s.oidc_leaving_on_claim),
            amr=amr,
            acr=acr if isinstance(acr, str) and len(acr) <= 200 else None,
        )

    def logout_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """The provider's end-session URL for RP-initiated logout (None if it has none)."""
        meta = self.metadata()
        if not meta.get("end_session_endpoint"):
            return None
        rv = self.client.create_logout_url(
            post_logout_redirect_uri=post_logout_redirect_uri,
            id_token_hint=id_token,
            client_id=self.settings.oidc_client_id,
        )
        return str(rv["url"])


def _claim_date(claims: dict[str, Any], name: str) -> date | None:
    """A YYYY-MM-DD claim; a malformed one refuses the sign-in rather than be guessed."""
    if not name or claims.get(name) in (None, ""):
        return None
    value = claims[name]
    try:
        return date.fromisoformat(value) if isinstance(value, str) else _bad(name)
    except ValueError:
        return _bad(name)


def _bad(name: str) -> date:
    raise InvalidInput(f"the {name} claim is not a date", code="sso_bad_claims")


def provider() -> Provider:
    """The app's identity provider, or 404 ``sso_not_configured``."""
    found: Provider | None = current_app.extensions.get("vault_sso")
    if found is None:
        raise NotFound("single sign-on is not configured", code="sso_not_configured")
    return found


def init_app(app: Flask) -> None:
    """Register the identity provider when single sign-on is configured."""
    settings: AuthSettings = app.extensions["vault"].config.auth
    if settings.oidc_enabled:
        app.extensions["vault_sso"] = Provider(app, settings)
