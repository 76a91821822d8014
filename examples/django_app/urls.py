"""The example's two views and their URLs; ``/logout`` never reaches Django."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path

# Only the shape of an id_token: header {"alg":"none"}, payload {"sub":"demo"}.
FAKE_ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIn0.c2ln"


def home(request: HttpRequest) -> HttpResponse:
    present = "present" if "id_token" in request.COOKIES else "absent"
    return HttpResponse(
        f'<p>id_token cookie: {present}</p><p><a href="/login">Sign in</a> <a href="/logout">Log out</a></p>'
    )


def login(request: HttpRequest) -> HttpResponse:
    response = HttpResponseRedirect("/")
    response.set_cookie("id_token", FAKE_ID_TOKEN, httponly=True, samesite="Lax")
    response.set_cookie("session", "demo-session", httponly=True, samesite="Lax")
    return response


urlpatterns = [path("", home), path("login", login)]
