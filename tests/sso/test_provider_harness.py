"""The OpenID Connect test provider works on its own (no Archive Vault code involved)."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.sso.conftest import OIDCProvider
from tests.sso.oidc_helpers import login_through_provider, logout_through_provider

TIMEOUT = 10


@pytest.fixture(scope="module")
def discovery(oidc_provider: OIDCProvider) -> dict[str, Any]:
    resp = requests.get(oidc_provider.discovery_url, timeout=TIMEOUT)
    resp.raise_for_status()
    return resp.json()


@pytest.fixture(scope="module")
def jwks(discovery: dict[str, Any]) -> KeySet:
    resp = requests.get(discovery["jwks_uri"], timeout=TIMEOUT)
    resp.raise_for_status()
    return KeySet.import_key_set(resp.json())


def client(provider: OIDCProvider, redirect_uri: str | None = None) -> OAuth2Session:
    return OAuth2Session(
        provider.client_id,
        provider.client_secret,
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri or provider.redirect_uris[0],
        token_endpoint_auth_method="client_secret_basic",
        code_challenge_method="S256",
    )


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Flow:
    callback: str
    token: dict[str, Any]
    id_claims: dict[str, Any]


def code_flow(
    provider: OIDCProvider,
    discovery: dict[str, Any],
    jwks: KeySet,
    account: str,
    browser: requests.Session | None = None,
) -> Flow:
    """Authorization code flow with PKCE and a nonce; the ID token is verified."""
    rp = client(provider)
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = rp.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = login_through_provider(browser or requests.Session(), url, account)
    params = query(callback)
    assert callback.startswith(provider.redirect_uris[0] + "?")
    assert params["state"] == state
    assert params["iss"] == provider.issuer  # RFC 9207
    token = rp.fetch_token(
        discovery["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    decoded = jwt.decode(token["id_token"], jwks, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True, "value": account.split("+")[0]},
        exp={"essential": True},
    ).validate(decoded.claims)
    return Flow(callback=callback, token=dict(token), id_claims=dict(decoded.claims))


def expected_claims(provider: OIDCProvider, account: str) -> dict[str, Any]:
    a = provider.accounts[account]
    out = {
        "sub": account,
        "email": a["email"],
        "email_verified": True,
        "name": a["name"],
        "groups": a["groups"],
    }
    out.update({k: a[k] for k in ("hired_on", "leaving_on") if k in a})
    return out


def userinfo(discovery: dict[str, Any], access_token: str) -> dict[str, Any]:
    resp = requests.get(
        discovery["userinfo_endpoint"],
        timeout=TIMEOUT,
        headers={"Authorization": f"Bearer {access_token}"},
    )
    resp.raise_for_status()
    return resp.json()


def test_discovery_names_the_issuer(oidc_provider: OIDCProvider, discovery: dict[str, Any]) -> None:
    assert discovery["issuer"] == oidc_provider.issuer
    for endpoint in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ):
        assert discovery[endpoint].startswith(oidc_provider.issuer + "/")
    assert set(oidc_provider.scopes) <= set(discovery["scopes_supported"])
    assert {"groups", "hired_on", "leaving_on"} <= set(discovery["claims_supported"])
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert discovery["response_types_supported"] == ["code"]


def test_alice_code_flow_with_pkce(
    oidc_provider: OIDCProvider, discovery: dict[str, Any], jwks: KeySet
) -> None:
    flow = code_flow(oidc_provider, discovery, jwks, "alice")
    claims = flow.id_claims
    assert claims["email"] == "alice@corp.test"
    assert claims["name"] == "Alice Employee"
    assert claims["groups"] == ["staff"]
    assert claims["hired_on"] == "2019-03-01"
    assert "leaving_on" not in claims
    info = userinfo(discovery, flow.token["access_token"])
    assert info == expected_claims(oidc_provider, "alice")
    assert {k: claims[k] for k in info} == info


@pytest.mark.parametrize("account", ["audrey", "adam", "leo", "carl"])
def test_every_account_signs_in_with_its_claims(
    oidc_provider: OIDCProvider, discovery: dict[str, Any], jwks: KeySet, account: str
) -> None:
    flow = code_flow(oidc_provider, discovery, jwks, account)
    want = expected_claims(oidc_provider, account)
    assert {k: flow.id_claims.get(k) for k in want} == want
    assert userinfo(discovery, flow.token["access_token"]) == want


def test_leo_is_leaving_in_two_weeks(
    oidc_provider: OIDCProvider, discovery: dict[str, Any], jwks: KeySet
) -> None:
    flow = code_flow(oidc_provider, discovery, jwks, "leo")
    leaving = dt.date.fromisoformat(flow.id_claims["leaving_on"])
    assert leaving == dt.date.today() + dt.timedelta(days=14)
    assert flow.id_claims["hired_on"] == "2018-01-01"


def test_carl_merely_claims_a_custodian_group(
    oidc_provider: OIDCProvider, discovery: dict[str, Any], jwks: KeySet
) -> None:
    flow = code_flow(oidc_provider, discovery, jwks, "carl")
    assert flow.id_claims["groups"] == ["staff", "custodian"]


def test_unknown_account_cannot_log_in(
    oidc_provider: OIDCProvider, discovery: dict[str, Any]
) -> None:
    url, state = client(oidc_provider).create_authorization_url(
        discovery["authorization_endpoint"],
        code_verifier=generate_token(48),
        nonce=generate_token(20),
    )
    callback = login_through_provider(requests.Session(), url, "mallory")
    params = query(callback)
    assert callback.startswith(oidc_provider.redirect_uris[0] + "?")
    assert params["error"] == "access_denied"
    assert params["state"] == state
    assert "code" not in params


def test_pkce_is_required(oidc_provider: OIDCProvider, discovery: dict[str, Any]) -> None:
    url, _state = OAuth2Session(
        oidc_provider.client_id,
        oidc_provider.client_secret,
        scope="openid",
        redirect_uri=oidc_provider.redirect_uris[0],
    ).create_authorization_url(discovery["authorization_endpoint"], nonce=generate_token(20))
    callback = login_through_provider(requests.Session(), url, "alice")
    params = query(callback)
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    assert "code" not in params


def test_code_exchange_needs_the_client_secret(
    oidc_provider: OIDCProvider, discovery: dict[str, Any]
) -> None:
    rp = client(oidc_provider)
    verifier = generate_token(48)
    url, _state = rp.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(20)
    )
    code = query(login_through_provider(requests.Session(), url, "alice"))["code"]
    resp = requests.post(
        discovery["token_endpoint"],
        timeout=TIMEOUT,
        auth=(oidc_provider.client_id, "not-the-secret"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": oidc_provider.redirect_uris[0],
        },
    )
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"


def test_second_redirect_uri_is_registered(
    oidc_provider: OIDCProvider, discovery: dict[str, Any]
) -> None:
    redirect_uri = oidc_provider.redirect_uris[1]
    url, state = client(oidc_provider, redirect_uri).create_authorization_url(
        discovery["authorization_endpoint"],
        code_verifier=generate_token(48),
        nonce=generate_token(20),
    )
    callback = login_through_provider(requests.Session(), url, "alice")
    assert callback.startswith(redirect_uri + "?")
    assert query(callback)["state"] == state


def test_provider_session_then_rp_initiated_logout(
    oidc_provider: OIDCProvider, discovery: dict[str, Any], jwks: KeySet
) -> None:
    browser = requests.Session()
    first = code_flow(oidc_provider, discovery, jwks, "adam", browser)
    # Still signed in at the provider: no form is shown the second time (any account name).
    code_flow(oidc_provider, discovery, jwks, "adam", browser)

    state = secrets.token_urlsafe(8)
    target = oidc_provider.post_logout_redirect_uris[0]
    end = (
        discovery["end_session_endpoint"]
        + "?"
        + urlencode(
            {
                "id_token_hint": first.token["id_token"],
                "post_logout_redirect_uri": target,
                "state": state,
                "client_id": oidc_provider.client_id,
            }
        )
    )
    back = logout_through_provider(browser, end)
    assert back.startswith(target)
    assert query(back)["state"] == state
    # Signed out: the next flow asks for a login again, and a different account can use it.
    assert code_flow(oidc_provider, discovery, jwks, "audrey", browser).id_claims["sub"] == (
        "audrey"
    )


def test_logout_without_redirect_ends_on_the_provider(
    oidc_provider: OIDCProvider, discovery: dict[str, Any], jwks: KeySet
) -> None:
    browser = requests.Session()
    code_flow(oidc_provider, discovery, jwks, "alice", browser)
    page = logout_through_provider(browser, discovery["end_session_endpoint"])
    assert page.startswith(oidc_provider.issuer + "/session/end/success")


def test_stop_and_start(
    oidc_provider: OIDCProvider, discovery: dict[str, Any], jwks: KeySet
) -> None:
    with oidc_provider.down():
        assert not oidc_provider.running
        with pytest.raises(requests.ConnectionError):
            requests.get(oidc_provider.discovery_url, timeout=TIMEOUT)
    assert oidc_provider.running
    resp = requests.get(oidc_provider.discovery_url, timeout=TIMEOUT)
    assert resp.status_code == 200
    assert resp.json()["issuer"] == oidc_provider.issuer
    # Same signing keys after a restart: the JWKS fetched before still verifies new tokens.
    code_flow(oidc_provider, discovery, jwks, "alice")

    oidc_provider.stop()
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(oidc_provider.discovery_url, timeout=TIMEOUT)
    finally:
        oidc_provider.start()
    assert requests.get(oidc_provider.discovery_url, timeout=TIMEOUT).ok


def test_the_login_chooses_amr_and_acr(
    oidc_provider: OIDCProvider, discovery: dict[str, Any], jwks: KeySet
) -> None:
    plain = code_flow(oidc_provider, discovery, jwks, "adam").id_claims
    assert plain["amr"] == ["pwd"] and "acr" not in plain
    strong = code_flow(oidc_provider, discovery, jwks, "adam+otp+hwk+acr=urn:test:mfa")
    assert strong.id_claims["sub"] == "adam"
    assert strong.id_claims["amr"] == ["pwd", "otp", "hwk"]
    assert strong.id_claims["acr"] == "urn:test:mfa"
