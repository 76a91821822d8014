"""The example project's settings: mozilla-django-oidc's and the logout middleware's among them."""

import os
from pathlib import Path

import httpx

ISSUER = os.environ.get("ISSUER", "http://127.0.0.1:8900")
CLIENT_ID = os.environ.get("CLIENT_ID", "example-app")
BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8001").rstrip("/")

# Set DJANGO_SECRET_KEY in any deployment; this default is only for trying the example.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-example-key-do-not-deploy")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "django_app.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "mozilla_django_oidc",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the session and the user are known: it reads request.session and logs the user out.
    "logout_middleware.django.LogoutMiddleware",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DATABASE", Path(__file__).resolve().parent / "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True

# mozilla-django-oidc does no discovery: the endpoints are read once, at start-up.
_provider = httpx.get(ISSUER + "/.well-known/openid-configuration", timeout=10).raise_for_status().json()
OIDC_OP_AUTHORIZATION_ENDPOINT = _provider["authorization_endpoint"]
OIDC_OP_TOKEN_ENDPOINT = _provider["token_endpoint"]
OIDC_OP_USER_ENDPOINT = _provider["userinfo_endpoint"]
OIDC_OP_JWKS_ENDPOINT = _provider["jwks_uri"]
OIDC_RP_CLIENT_ID = CLIENT_ID
OIDC_RP_CLIENT_SECRET = os.environ.get("CLIENT_SECRET", "example-secret")
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid"
OIDC_TOKEN_USE_BASIC_AUTH = True
OIDC_USE_PKCE = True
# Keeps request.session["oidc_id_token"], which the logout sends as id_token_hint.
OIDC_STORE_ID_TOKEN = True
AUTHENTICATION_BACKENDS = ["django_app.auth.SubjectBackend"]
LOGIN_REDIRECT_URL = "/"

LOGOUT_MIDDLEWARE = {
    "issuer": ISSUER,
    "client_id": CLIENT_ID,
    "post_logout_redirect_uri": BASE_URL + "/logout/callback",
    "logout_callback_path": "/logout/callback",
}
if os.environ.get("BACKCHANNEL", "off") == "on":
    LOGOUT_MIDDLEWARE["backchannel_logout_path"] = "/backchannel-logout"
if os.environ.get("REVOCATION_STORE"):
    # Unset: an SQLite file that every worker of this app on this machine shares; several machines share redis://...
    LOGOUT_MIDDLEWARE["revocation_store"] = os.environ["REVOCATION_STORE"]
