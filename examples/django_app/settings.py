"""All the settings of the example project, the logout middleware's options among them."""

import os

# Set DJANGO_SECRET_KEY in any deployment; this default is only for trying the example.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-example-key-do-not-deploy")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "django_app.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []

# Read by wsgi.py and asgi.py, which wrap Django's application in the logout middleware.
LOGOUT_MIDDLEWARE = {
    "end_session_endpoint": os.environ.get("LOGOUT_END_SESSION_ENDPOINT", "http://127.0.0.1:8000/provider/session/end"),
    "post_logout_redirect_uri": os.environ.get("POST_LOGOUT_REDIRECT_URI", "http://127.0.0.1:8001/"),
    "client_id": os.environ.get("CLIENT_ID", "demo-client"),
    "clear_cookies": ["session"],  # the app's own login cookie must go as well
}
