"""What the two test relying parties share: settings, the authorization-code flow, the pages
and the logout middleware's configuration.

The RPs (``rp_asgi.py``, ``rp_wsgi.py``) run as separate server processes, so
this module is imported as a top-level module from this folder, not as part of
the test package.  It does only what a small real RP does; the flow follows
OpenID Connect Core 1.0, section 3.1, with PKCE (RFC 7636) and the ``iss``
response parameter (RFC 9207) checked because the provider sends them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import os
import secrets
import ssl
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

#: The short-lived cookie that carries state, nonce and PKCE verifier from /login to /callback.
FLOW_COOKIE = "login_flow"
FLOW_COOKIE_PATH = "/callback"
FLOW_MAX_AGE = 600
#: The cookie names the logout middleware is configured to delete.
ID_TOKEN_COOKIE = "id_token"
SESSION_COOKIE = "session"
#: The token cookies the middleware also revokes at the provider (RFC 7009) before deleting them.
ACCESS_TOKEN_COOKIE = "access_token"
REFRESH_TOKEN_COOKIE = "refresh_token"
#: Where the provider sends the browser back after logout: served by the middleware itself.
LOGOUT_CALLBACK_PATH = "/logout/callback"


class LoginError(Exception):
    """The sign-in cannot be completed; the message says why and is shown to the user."""


@dataclass(frozen=True)
class Settings:
    """The RP's configuration, read from environment variables set by the test harness."""

    issuer: str
    client_id: str
    client_secret: str
    base_url: str
    session_secret: str
    #: The middleware's ``max_url_length``; None keeps its default.
    max_url_length: int | None = None
    #: The middleware's ``backchannel_logout_path``; None: no Back-Channel Logout.
    backchannel_logout_path: str | None = None
    #: The middleware's ``revocation_store`` (``memory://``, ``redis://...``), with back-channel logout.
    revocation_store: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        max_url_length = os.environ.get("RP_MAX_URL_LENGTH")
        return cls(
            issuer=os.environ["RP_ISSUER"],
            client_id=os.environ["RP_CLIENT_ID"],
            client_secret=os.environ["RP_CLIENT_SECRET"],
            base_url=os.environ["RP_BASE_URL"].rstrip("/"),
            session_secret=os.environ["RP_SESSION_SECRET"],
            max_url_length=int(max_url_length) if max_url_length else None,
            backchannel_logout_path=os.environ.get("RP_BACKCHANNEL_PATH") or None,
            revocation_store=os.environ.get("RP_REVOCATION_STORE") or None,
        )

    @property
    def redirect_uri(self) -> str:
        return self.base_url + "/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.base_url + LOGOUT_CALLBACK_PATH


def log_middleware_to_stderr() -> None:
    """Show the middleware's log (discovery, revocation, refusals) in the server's output.

    The servers configure only their own loggers; the test harness prints
    this output when a test fails.
    """
    logger = logging.getLogger("logout_middleware")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def logout_options(settings: Settings) -> dict[str, Any]:
    """The logout middleware's options, the same for both RPs.

    Only the issuer is given, no endpoint: the middleware finds the
    end-session and revocation endpoints in the provider's discovery document
    itself, on the first logout.
    """
    options: dict[str, Any] = {
        "issuer": settings.issuer,
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "post_logout_redirect_uri": settings.post_logout_redirect_uri,
        "logout_callback_path": LOGOUT_CALLBACK_PATH,
        "id_token_cookie": ID_TOKEN_COOKIE,
        "access_token_cookie": ACCESS_TOKEN_COOKIE,
        "refresh_token_cookie": REFRESH_TOKEN_COOKIE,
        "clear_cookies": (SESSION_COOKIE,),
    }
    if settings.max_url_length is not None:
        options["max_url_length"] = settings.max_url_length
    if settings.backchannel_logout_path is not None:
        # The provider POSTs logout tokens here; every request is then checked
        # against the revocations, which reach every instance through the store.
        options["backchannel_logout_path"] = settings.backchannel_logout_path
        options["revocation_store"] = settings.revocation_store or "memory://"
    return options


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the provider's discovery document the RP itself uses (logout is the middleware's)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str


@dataclass(frozen=True)
class Tokens:
    """What a sign-in leaves with the RP."""

    sub: str
    id_token: str
    access_token: str
    #: Only when the sign-in asked for ``offline_access``.
    refresh_token: str | None = None


@dataclass(frozen=True)
class Flow:
    """The secrets of one sign-in attempt, kept in the browser between /login and /callback."""

    state: str
    nonce: str
    code_verifier: str

    def to_cookie(self) -> str:
        # token_urlsafe never yields '.', so it can join the three values.
        return f"{self.state}.{self.nonce}.{self.code_verifier}"

    @classmethod
    def from_cookie(cls, value: str | None) -> Flow:
        parts = (value or "").split(".")
        if len(parts) != 3 or not all(parts):
            raise LoginError("no sign-in is in progress in this browser (the login_flow cookie is missing)")
        return cls(*parts)


def http_client_options() -> dict[str, Any]:
    # trust_env=False: a proxy set in the environment must never see this
    # loopback-only traffic.  That also makes httpx ignore SSL_CERT_FILE (the
    # test CA the provider's certificate comes from), so it is loaded here.
    return {
        "timeout": 10.0,
        "trust_env": False,
        "verify": ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE")),
    }


def discover(issuer: str) -> ProviderMetadata:
    """Fetch the provider's discovery document, as an RP does at start-up."""
    with httpx.Client(**http_client_options()) as client:
        response = client.get(issuer + "/.well-known/openid-configuration")
    response.raise_for_status()
    document = response.json()
    # OpenID Connect Discovery 1.0, section 4.3: the issuer must match exactly.
    if document["issuer"] != issuer:
        raise RuntimeError(f"discovery document names issuer {document['issuer']!r}, expected {issuer!r}")
    return ProviderMetadata(
        issuer=document["issuer"],
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
    )


def start_login(settings: Settings, metadata: ProviderMetadata, *, offline: bool = False) -> tuple[str, Flow]:
    """Return the authorization URL to send the browser to, and the flow to remember in a cookie.

    With *offline*, ask for a refresh token too: ``offline_access`` counts
    only with ``prompt=consent`` (Core 1.0, section 11).
    """
    flow = Flow(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))
    challenge = _b64url(hashlib.sha256(flow.code_verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_uri,
        "scope": "openid offline_access" if offline else "openid",
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if offline:
        params["prompt"] = "consent"
    return f"{metadata.authorization_endpoint}?{urlencode(params)}", flow


def check_callback(metadata: ProviderMetadata, params: Mapping[str, str], flow_cookie: str | None) -> tuple[str, Flow]:
    """Check the authorization response; return the code and the flow it belongs to."""
    if "error" in params:
        raise LoginError(f"the provider refused the sign-in: {params['error']} {params.get('error_description', '')}")
    flow = Flow.from_cookie(flow_cookie)
    # The state ties this response to the browser that started the sign-in.
    if not secrets.compare_digest(params.get("state", ""), flow.state):
        raise LoginError("the state parameter does not match this browser's sign-in")
    if "iss" in params and params["iss"] != metadata.issuer:
        raise LoginError(f"the response comes from issuer {params['iss']!r}, not {metadata.issuer!r}")
    code = params.get("code")
    if not code:
        raise LoginError("the provider sent no authorization code")
    return code, flow


def token_request(settings: Settings, metadata: ProviderMetadata, code: str, flow: Flow) -> dict[str, Any]:
    """Keyword arguments for ``httpx`` ``post()``: the code exchange with client_secret_basic."""
    return {
        "url": metadata.token_endpoint,
        "data": {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.redirect_uri,
            "code_verifier": flow.code_verifier,
        },
        "auth": (settings.client_id, settings.client_secret),
    }


def finish_login(settings: Settings, metadata: ProviderMetadata, response: httpx.Response, flow: Flow) -> Tokens:
    """Check the token response; return the tokens and the user's ``sub``.

    The signature is not verified: the token came straight from the token
    endpoint, which Core 1.0 section 3.1.3.7 allows to stand in for it (over
    TLS in production; here the provider is on loopback).  The claims that bind
    the token to this client and this sign-in are checked.
    """
    if response.status_code != 200:
        raise LoginError(f"the token endpoint answered {response.status_code}: {response.text[:300]}")
    answer = response.json()
    id_token = answer.get("id_token")
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        raise LoginError("the token response holds no id_token")
    access_token = answer.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise LoginError("the token response holds no access_token")
    refresh_token = answer.get("refresh_token")
    claims = json.loads(_b64url_decode(id_token.split(".")[1]))
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if claims.get("iss") != metadata.issuer:
        raise LoginError("the id_token has the wrong issuer")
    if settings.client_id not in audiences:
        raise LoginError("the id_token is not meant for this client")
    if not secrets.compare_digest(str(claims.get("nonce", "")), flow.nonce):
        raise LoginError("the id_token's nonce does not match this sign-in")
    if claims.get("exp", 0) <= time.time():
        raise LoginError("the id_token has expired")
    return Tokens(
        sub=str(claims["sub"]),
        id_token=id_token,
        access_token=access_token,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
    )


def home_page(sub: str | None, cookie_names: Iterable[str] = ()) -> str:
    """The home page; its "Sign out" link asks for no page to come back to.

    It lists the names of the cookies the app was given (``#cookies``): what
    the middleware let through.
    """
    seen = html.escape(" ".join(sorted(cookie_names)))
    return _page("Home", f'{_status(sub, "/logout")}<p>Cookies the app got: <span id="cookies">{seen}</span></p>')


def orders_page(sub: str | None, here: str, page: str | None) -> str:
    """A page deeper in the app; its "Sign out" link asks to come back to *here* (path and query)."""
    sign_out = "/logout?" + urlencode({"return_to": here}, quote_via=quote, safe="/")
    shown = html.escape(page or "1")
    return _page("Orders", f'<h1>Orders</h1><p>page <span id="page">{shown}</span></p>{_status(sub, sign_out)}')


def _status(sub: str | None, sign_out: str) -> str:
    status = f"Signed in as {sub}" if sub else "Not signed in"
    link = f'<a href="{html.escape(sign_out)}">Sign out</a>' if sub else '<a href="/login">Sign in</a>'
    return f'<p id="status">{html.escape(status)}</p><p>{link}</p>'


def _page(title: str, body: str) -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>{body}</body></html>"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
