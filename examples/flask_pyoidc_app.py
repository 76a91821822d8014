"""Flask signing in with Flask-pyoidc, its session in Flask's signed session cookie.

Flask-pyoidc keeps the id_token's claims in ``flask.session["id_token"]`` and
the token itself in ``flask.session["id_token_jwt"]``; ``FlaskLogout`` serves
/logout inside the app, where it finds that token (``id_token_jwt`` is one of
the session keys it looks at by default), clears the session, records it as
revoked, and sends the browser to the provider's end-session endpoint with
the ``id_token_hint``.  Flask-pyoidc's own ``oidc_logout`` is not needed.

Start a local provider that knows this app (from the repository root), then
the app, and open http://127.0.0.1:8001/ ::

    cd examples/provider && npm ci && CLIENT_SECRET=example-secret \\
        RP_CLIENTS='[{"client_id": "example-app", "urls": ["http://127.0.0.1:8001"]}]' \\
        node provider.mjs 8900 &
    gunicorn --chdir examples --bind 127.0.0.1:8001 flask_pyoidc_app:app

Point ISSUER, CLIENT_ID, CLIENT_SECRET and BASE_URL at your provider and app,
and set SESSION_SECRET.  A provider with a private CA: REQUESTS_CA_BUNDLE=ca.pem
(Flask-pyoidc uses requests) and SSL_CERT_FILE=ca.pem (the middleware uses httpx).
"""

import html
import os

from flask import Flask, redirect, session
from flask_pyoidc import OIDCAuthentication  # type: ignore[import-untyped]
from flask_pyoidc.provider_configuration import ClientMetadata, ProviderConfiguration  # type: ignore[import-untyped]
from werkzeug.wrappers import Response

from logout_middleware.flask import FlaskLogout

ISSUER = os.environ.get("ISSUER", "http://127.0.0.1:8900")
CLIENT_ID = os.environ.get("CLIENT_ID", "example-app")
CLIENT_SECRET = os.environ.get("CLIENT_SECRET", "example-secret")
BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8001").rstrip("/")
# Unset: an SQLite file that every worker of this app on this machine shares; several machines share redis://...
REVOCATION_STORE = os.environ.get("REVOCATION_STORE")

app = Flask(__name__)
# Signs the session cookie; set it in any deployment, and the same on every instance.
app.secret_key = os.environ.get("SESSION_SECRET", "insecure-example-key-do-not-deploy")
# Flask-pyoidc serves the provider's redirect back to the app at this URL's path.
app.config["OIDC_REDIRECT_URI"] = BASE_URL + "/callback"

auth = OIDCAuthentication(
    {
        "default": ProviderConfiguration(
            issuer=ISSUER,
            client_metadata=ClientMetadata(client_id=CLIENT_ID, client_secret=CLIENT_SECRET),
            auth_request_params={"scope": ["openid"]},
        )
    },
    app,
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
    revocation_store=REVOCATION_STORE,
)


@app.get("/")
def home() -> str:
    claims = session.get("id_token")
    if claims:
        status = "Signed in as " + html.escape(claims["sub"])
        link = '<a href="/logout">Sign out</a>'
    else:
        status, link = "Not signed in", '<a href="/login">Sign in</a>'
    return f'<p id="status">{status}</p><p>{link}</p>'


@app.get("/login")
@auth.oidc_auth("default")  # type: ignore[untyped-decorator]  # Flask-pyoidc has no type hints
def login() -> Response:
    # Reached once Flask-pyoidc has signed the user in (its callback comes back here).
    return redirect("/", code=303)
