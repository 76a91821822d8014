"""Flask signing in with Authlib, its session in Flask's signed session cookie.

Authlib keeps the whole token (``id_token`` among it) in ``flask.session``;
``FlaskLogout`` serves /logout inside the app, where it reads that session,
clears it, records it as revoked, and sends the browser to the provider's
end-session endpoint with the ``id_token_hint``.

Start a local provider that knows this app (from the repository root), then
the app, and open http://127.0.0.1:8001/ ::

    cd examples/provider && npm ci && CLIENT_SECRET=example-secret \\
        RP_CLIENTS='[{"client_id": "example-app", "urls": ["http://127.0.0.1:8001"]}]' \\
        node provider.mjs 8900 &
    gunicorn --chdir examples --bind 127.0.0.1:8001 flask_app:app

Point ISSUER, CLIENT_ID, CLIENT_SECRET and BASE_URL at your provider and app,
and set SESSION_SECRET.  BACKCHANNEL=on serves Back-Channel Logout at
/backchannel-logout; REVOCATION_STORE=redis://... shares revocations between
instances.  A provider with a private CA: REQUESTS_CA_BUNDLE=ca.pem (Authlib's
Flask client uses requests) and SSL_CERT_FILE=ca.pem (the middleware uses httpx).
"""

import html
import os

from authlib.integrations.flask_client import OAuth, OAuthError  # type: ignore[import-untyped]
from flask import Flask, redirect, session
from werkzeug.wrappers import Response

from logout_middleware.flask import FlaskLogout

ISSUER = os.environ.get("ISSUER", "http://127.0.0.1:8900")
CLIENT_ID = os.environ.get("CLIENT_ID", "example-app")
CLIENT_SECRET = os.environ.get("CLIENT_SECRET", "example-secret")
BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8001").rstrip("/")
BACKCHANNEL = os.environ.get("BACKCHANNEL", "off") == "on"
# Unset: an SQLite file that every worker of this app on this machine shares; several machines share redis://...
REVOCATION_STORE = os.environ.get("REVOCATION_STORE")

app = Flask(__name__)
# Signs the session cookie; set it in any deployment, and the same on every instance.
app.secret_key = os.environ.get("SESSION_SECRET", "insecure-example-key-do-not-deploy")

oauth = OAuth(app)
oauth.register(
    "provider",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    server_metadata_url=ISSUER + "/.well-known/openid-configuration",
    client_kwargs={"scope": "openid"},
)

FlaskLogout(
    app,
    issuer=ISSUER,
    client_id=CLIENT_ID,
    post_logout_redirect_uri=BASE_URL + "/logout/callback",
    logout_callback_path="/logout/callback",
    # A copy of the session cookie, replayed after logout, is refused (as long as
    # Flask would accept it: PERMANENT_SESSION_LIFETIME).
    enforce_revocations=True,
    backchannel_logout_path="/backchannel-logout" if BACKCHANNEL else None,
    revocation_store=REVOCATION_STORE,
)


@app.get("/")
def home() -> str:
    token = session.get("token")
    if token:
        status = "Signed in as " + html.escape(token["userinfo"]["sub"])
        link = '<a href="/logout">Sign out</a>'
    else:
        status, link = "Not signed in", '<a href="/login">Sign in</a>'
    return f'<p id="status">{status}</p><p>{link}</p>'


@app.get("/login")
def login() -> Response:
    response: Response = oauth.provider.authorize_redirect(BASE_URL + "/callback")
    return response


@app.get("/callback")
def callback() -> Response | tuple[str, int]:
    try:
        token = oauth.provider.authorize_access_token()
    except OAuthError as exc:
        return f"<p>Sign-in failed: {html.escape(str(exc))}</p>", 400
    session["token"] = token
    return redirect("/", code=303)
