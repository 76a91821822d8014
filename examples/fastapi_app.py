"""FastAPI signing in with Authlib, its session in Starlette's SessionMiddleware.

Authlib keeps the whole token (``id_token`` among it) in the signed session
cookie; the logout middleware, which runs inside SessionMiddleware, finds it
there, empties the session, records it as revoked, and sends the browser to
the provider's end-session endpoint with the ``id_token_hint``.

Start a local provider that knows this app (from the repository root), then
the app, and open http://127.0.0.1:8001/ ::

    cd examples/provider && npm ci && CLIENT_SECRET=example-secret \\
        RP_CLIENTS='[{"client_id": "example-app", "urls": ["http://127.0.0.1:8001"]}]' \\
        node provider.mjs 8900 &
    uvicorn --app-dir examples --port 8001 fastapi_app:app

Point ISSUER, CLIENT_ID, CLIENT_SECRET and BASE_URL at your provider and app,
and set SESSION_SECRET.  BACKCHANNEL=on serves Back-Channel Logout at
/backchannel-logout; REVOCATION_STORE=redis://... shares revocations between
instances.  A provider with a private CA: SSL_CERT_FILE=ca.pem.
"""

import html
import os

from authlib.integrations.starlette_client import OAuth, OAuthError  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from logout_middleware.asgi import LogoutMiddleware

ISSUER = os.environ.get("ISSUER", "http://127.0.0.1:8900")
CLIENT_ID = os.environ.get("CLIENT_ID", "example-app")
CLIENT_SECRET = os.environ.get("CLIENT_SECRET", "example-secret")
BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8001").rstrip("/")
# Signs the session cookie; set it in any deployment, and the same on every instance.
SESSION_SECRET = os.environ.get("SESSION_SECRET", "insecure-example-key-do-not-deploy")
BACKCHANNEL = os.environ.get("BACKCHANNEL", "off") == "on"
# Unset: an SQLite file that every worker of this app on this machine shares; several machines share redis://...
REVOCATION_STORE = os.environ.get("REVOCATION_STORE")
# How long a session cookie stays valid, and so how long its revocation must be remembered.
SESSION_MAX_AGE = 14 * 24 * 3600

oauth = OAuth()
oauth.register(
    "provider",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    server_metadata_url=ISSUER + "/.well-known/openid-configuration",
    client_kwargs={"scope": "openid"},
)

app = FastAPI()


@app.get("/", response_class=HTMLResponse)
async def home(request: Request) -> str:
    token = request.session.get("token")
    if token:
        status = "Signed in as " + html.escape(token["userinfo"]["sub"])
        link = '<a href="/logout">Sign out</a>'
    else:
        status, link = "Not signed in", '<a href="/login">Sign in</a>'
    return f'<p id="status">{status}</p><p>{link}</p>'


@app.get("/login")
async def login(request: Request) -> RedirectResponse:
    response: RedirectResponse = await oauth.provider.authorize_redirect(request, BASE_URL + "/callback")
    return response


@app.get("/callback")
async def callback(request: Request) -> Response:
    try:
        token = await oauth.provider.authorize_access_token(request)
    except OAuthError as exc:
        return HTMLResponse(f"<p>Sign-in failed: {html.escape(str(exc))}</p>", status_code=400)
    request.session["token"] = token
    return RedirectResponse("/", status_code=303)


# Added before SessionMiddleware, so it runs inside it and sees request.session.
app.add_middleware(
    LogoutMiddleware,
    issuer=ISSUER,
    client_id=CLIENT_ID,
    post_logout_redirect_uri=BASE_URL + "/logout/callback",
    logout_callback_path="/logout/callback",
    # A copy of the session cookie, replayed after logout, is refused.
    enforce_revocations=True,
    backchannel_logout_path="/backchannel-logout" if BACKCHANNEL else None,
    revocation_store=REVOCATION_STORE,
    max_token_lifetime=SESSION_MAX_AGE,
)
app.add_middleware(SessionMiddleware, secret_key=SESSION_SECRET, max_age=SESSION_MAX_AGE)
