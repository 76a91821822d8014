"""A small Django project signing in with mozilla-django-oidc, served over WSGI or ASGI.

mozilla-django-oidc keeps the id_token in the server-side session
(``OIDC_STORE_ID_TOKEN``); ``logout_middleware.django.LogoutMiddleware``, in
``MIDDLEWARE``, serves /logout: it logs the user out (the session row is
flushed) and sends the browser to the provider's end-session endpoint with the
``id_token_hint``.  The SQLite database is made or migrated when the server starts.

Start a local provider that knows this app (from the repository root), then
the app, and open http://127.0.0.1:8001/ ::

    cd examples/provider && npm ci && CLIENT_SECRET=example-secret \\
        RP_CLIENTS='[{"client_id": "example-app", "urls": ["http://127.0.0.1:8001"]}]' \\
        node provider.mjs 8900 &
    gunicorn --chdir examples --bind 127.0.0.1:8001 django_app.wsgi:application
    uvicorn --app-dir examples --port 8001 --lifespan off django_app.asgi:application

Point ISSUER, CLIENT_ID, CLIENT_SECRET and BASE_URL at your provider and app,
and set DJANGO_SECRET_KEY (DJANGO_DATABASE: another SQLite file).
BACKCHANNEL=on serves Back-Channel Logout at /backchannel-logout;
REVOCATION_STORE=redis://... shares revocations between instances.  A
provider with a private CA: REQUESTS_CA_BUNDLE=ca.pem (mozilla-django-oidc
uses requests) and SSL_CERT_FILE=ca.pem (discovery and the middleware use httpx).
"""
