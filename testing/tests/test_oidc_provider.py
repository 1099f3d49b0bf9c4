"""The test OpenID provider (testing/oidc.py) is a real one: discovery, PKCE required, the code
exchanged for an ID token signed with its published key and carrying the nonce and the email."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt

from testing.oidc import oidc_provider

REDIRECT = "http://127.0.0.1:9/callback"
CLIENT = {"client_id": "engram", "client_secret": "s3cret-of-the-test", "redirect_uris": [REDIRECT]}
ADA = {"sub": "ada-1", "email": "ada@example.com", "email_verified": True, "name": "Ada"}


def authorize_url(issuer: str, *, challenge: str | None, nonce: str, state: str) -> str:
    query = {
        "client_id": CLIENT["client_id"],
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid email profile",
        "state": state,
        "nonce": nonce,
    }
    if challenge is not None:
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{issuer}/auth?{urlencode(query)}"


def test_the_code_flow_with_pkce_ends_in_a_signed_id_token_with_the_nonce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    with oidc_provider(clients=[CLIENT], accounts=[ADA]) as provider:
        discovery = httpx.get(provider.discovery_url).json()
        assert discovery["issuer"] == provider.issuer
        assert discovery["code_challenge_methods_supported"] == ["S256"]

        back = provider.sign_in(
            authorize_url(
                provider.issuer, challenge=challenge.rstrip(b"=").decode(), nonce="n-1", state="s-1"
            ),
            login="ada@example.com",
        )
        query = parse_qs(urlsplit(back).query)
        assert back.startswith(REDIRECT) and query["state"] == ["s-1"]
        token = httpx.post(
            discovery["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
                "client_id": CLIENT["client_id"],
                "client_secret": CLIENT["client_secret"],
            },
        )
        assert token.status_code == 200, token.text
        keys = jwt.PyJWKClient(discovery["jwks_uri"])
        id_token = token.json()["id_token"]
        claims = jwt.decode(
            id_token,
            keys.get_signing_key_from_jwt(id_token).key,
            algorithms=["RS256"],
            audience=CLIENT["client_id"],
            issuer=provider.issuer,
        )
        assert claims["nonce"] == "n-1"
        assert (claims["sub"], claims["email"], claims["email_verified"]) == (
            "ada-1",
            ADA["email"],
            True,
        )


def test_an_authorization_request_without_pkce_is_refused():
    with oidc_provider(clients=[CLIENT], accounts=[ADA]) as provider:
        back = provider.sign_in(
            authorize_url(provider.issuer, challenge=None, nonce="n", state="s"), login="ada-1"
        )
    query = parse_qs(urlsplit(back).query)
    assert back.startswith(REDIRECT) and query["error"] == ["invalid_request"]
    assert "PKCE" in query["error_description"][0]
