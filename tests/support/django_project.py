"""A small Django project, configured in this process, for the Django front door's tests.

Sessions in an in-memory SQLite database, ``django.contrib.auth``, and the
logout middleware after ``AuthenticationMiddleware``, as its docstring
says.  :func:`django_app` configures Django once per process (Django allows
no second ``settings.configure``) and returns its WSGI application; the
middleware's options come from ``settings.LOGOUT_MIDDLEWARE``, which each
test may change before building the app.
"""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.http import HttpRequest, HttpResponse
from django.urls import path

__all__ = ["django_app"]

ISSUER = "https://op.example"


def sign_in(request: HttpRequest) -> HttpResponse:
    """What mozilla-django-oidc leaves after a sign-in: a Django login and ``oidc_id_token``."""
    user, _ = get_user_model().objects.get_or_create(username=request.GET.get("user", "alice"))
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session["oidc_id_token"] = request.GET["id_token"]
    return HttpResponse("signed in")


def page(request: HttpRequest) -> HttpResponse:
    user = request.user.get_username() if request.user.is_authenticated else "anonymous"
    return HttpResponse(f"user={user} cookies={sorted(request.COOKIES)}")


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("a page that never looks at the session")


urlpatterns = [path("login", sign_in), path("page", page), path("plain", plain)]


def django_app(**logout_options: Any) -> WSGIHandler:
    """Django's WSGI application, with ``settings.LOGOUT_MIDDLEWARE`` set to *logout_options*."""
    if not settings.configured:
        settings.configure(
            SECRET_KEY="django-tests-secret",
            ALLOWED_HOSTS=["app.example"],
            ROOT_URLCONF=__name__,
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            MIDDLEWARE=[
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "logout_middleware.django.LogoutMiddleware",
            ],
            USE_TZ=True,
        )
        django.setup()
        call_command("migrate", verbosity=0, run_syncdb=True)
    settings.LOGOUT_MIDDLEWARE = logout_options
    return WSGIHandler()
