"""A minimal Django project behind the logout middleware, served over WSGI or ASGI.

Run from the repository root, then open http://127.0.0.1:8001/ ::

    gunicorn --chdir examples --bind 127.0.0.1:8001 django_app.wsgi:application
    uvicorn --app-dir examples --port 8001 --lifespan off django_app.asgi:application

The default LOGOUT_END_SESSION_ENDPOINT is the stand-in provider of
``python examples/demo.py`` (port 8000); point it, POST_LOGOUT_REDIRECT_URI
and CLIENT_ID at your real provider and app.
"""
