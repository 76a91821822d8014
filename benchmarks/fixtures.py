"""The requests and settings every benchmark shares, with no web framework imported.

The memory benchmark measures a process's footprint, so what it imports from
here must not drag Starlette or WebOb in behind the bare app's back.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from typing import Any

END_SESSION_ENDPOINT = "https://op.example.com/oidc/session/end"
# Authing builds its URL as app_host + "/oidc/session/end": the same endpoint.
AUTHING_APP_HOST = "https://op.example.com"
REDIRECT_URI = "https://app.example.com/signed-out"
CLIENT_ID = "bench-client"
#: The issuer in every id_token here, and the one the revocation benchmarks configure.
ISSUER = "https://op.example.com/oidc"
STATE = "k1Xq3V9bR2mT0wLz8NcYfA"
HOST = "app.example.com"
LOGOUT_PATH = "/logout"
APP_PATH = "/items/42"
MOUNT_POINT = "/portal"
ID_TOKEN_COOKIE = "id_token"
COOKIES_TO_DELETE = (ID_TOKEN_COOKIE, "session")

MIDDLEWARE_OPTIONS: dict[str, Any] = {
    "end_session_endpoint": END_SESSION_ENDPOINT,
    "post_logout_redirect_uri": REDIRECT_URI,
    "client_id": CLIENT_ID,
    "logout_path": LOGOUT_PATH,
    "id_token_cookie": ID_TOKEN_COOKIE,
    "clear_cookies": COOKIES_TO_DELETE[1:],
}


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


#: The session of ID_TOKEN; the benchmarks of the revocation check keep it live.
LIVE_SID = "08a5019c-17e1-4977-8f42-65a12843ea02"
LIVE_SUB = "6543210fedcba9876543210f"


def make_id_token(sid: str = LIVE_SID, sub: str = LIVE_SUB) -> str:
    """An RS256-shaped id_token of typical size (about 800 characters); the signature is filler.

    Nothing in the middleware verifies the cookie's signature (it reads the
    claims to look the session up), so a filler one costs what a real one does.
    """
    header = {"alg": "RS256", "kid": "3f4e5d6c7b8a", "typ": "JWT"}
    claims = {
        "iss": ISSUER,
        "sub": sub,
        "aud": CLIENT_ID,
        "exp": 1_700_003_600,
        "iat": 1_700_000_000,
        "auth_time": 1_700_000_000,
        "nonce": "n-0S6_WzA2Mj",
        "sid": sid,
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        "email": "jane.doe@example.com",
        "name": "Jane Doe",
    }
    signature = bytes(range(256))  # an RSA-2048 signature is 256 bytes
    parts = (json.dumps(part, separators=(",", ":")).encode() for part in (header, claims))
    return ".".join([*map(_base64url, parts), _base64url(signature)])


ID_TOKEN = make_id_token()


def browser_cookie(id_token: str | None) -> str:
    """What a browser sends after login: analytics and preference cookies around ours.

    Without *id_token*, the same header as a visitor who never signed in (or
    an app that keeps its session elsewhere) sends.
    """
    token = f" {ID_TOKEN_COOKIE}={id_token};" if id_token is not None else ""
    return (
        f"_ga=GA1.2.1530718423.1700000000; theme=dark;{token}"
        " session=s%3AXb7pQ2mN9vK4wR1tY6uZ3aE8cD5fG0hJ; csrftoken=4kT9mZ2qW7xR1vB8nC3yL6pD0sF5hJ2g"
    )


COOKIE_HEADER = browser_cookie(ID_TOKEN)

# What Chrome sends when a link is followed on the same site.
BROWSER_HEADERS = (
    ("host", HOST),
    ("connection", "keep-alive"),
    ("sec-ch-ua", '"Chromium";v="130", "Google Chrome";v="130", "Not?A_Brand";v="99"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("upgrade-insecure-requests", "1"),
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-user", "?1"),
    ("sec-fetch-dest", "document"),
    ("referer", f"https://{HOST}/account"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("accept-language", "en-US,en;q=0.9"),
    ("cookie", COOKIE_HEADER),
)


def _browser_headers(cookie: str | None) -> list[tuple[str, str]]:
    """BROWSER_HEADERS with another Cookie header, or none at all when *cookie* is None."""
    headers = [(name, value) for name, value in BROWSER_HEADERS if name != "cookie"]
    return headers if cookie is None else [*headers, ("cookie", cookie)]


def asgi_scope(path: str, *, root_path: str = "", cookie: str | None = COOKIE_HEADER) -> dict[str, Any]:
    """The scope uvicorn builds for a browser's GET of *path* (which includes *root_path*)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in _browser_headers(cookie)],
        "client": ("203.0.113.7", 51234),
        "server": ("10.0.0.5", 8000),
    }


def wsgi_environ(path_info: str, *, script_name: str = "", cookie: str | None = COOKIE_HEADER) -> dict[str, Any]:
    """The environ a WSGI server builds for the same request."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": "",
        "SERVER_NAME": "10.0.0.5",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "REMOTE_PORT": "51234",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in _browser_headers(cookie):
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ
