"""The home page, and mozilla-django-oidc's sign-in views; ``/logout`` is the logout middleware's."""

import html

from django.http import HttpRequest, HttpResponse
from django.urls import path
from mozilla_django_oidc.views import (  # type: ignore[import-untyped]
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        status = "Signed in as " + html.escape(request.user.get_username())
        link = '<a href="/logout">Sign out</a>'
    else:
        status, link = "Not signed in", '<a href="/login">Sign in</a>'
    return HttpResponse(f'<p id="status">{status}</p><p>{link}</p>')


urlpatterns = [
    path("", home),
    path("login", OIDCAuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    # The name mozilla-django-oidc builds its redirect_uri from.
    path("callback", OIDCAuthenticationCallbackView.as_view(), name="oidc_authentication_callback"),
]
