"""A small Flask relying party, with logout served by our WSGI middleware.

Run by the end-to-end tests as ``gunicorn 'rp_wsgi:create_app()'`` with the
settings in ``RP_*`` environment variables (see :class:`rp_common.Settings`).
Its login session lives in Flask's signed ``session`` cookie, and the
id_token in an ``id_token`` cookie: the two cookies the middleware must delete.
"""

from __future__ import annotations

import httpx
from flask import Flask, Response, redirect, request, session
from rp_common import (
    FLOW_COOKIE,
    FLOW_COOKIE_PATH,
    FLOW_MAX_AGE,
    ID_TOKEN_COOKIE,
    SESSION_COOKIE,
    LoginError,
    Settings,
    check_callback,
    discover,
    finish_login,
    home_page,
    http_client_options,
    signed_out_page,
    start_login,
    token_request,
)
from werkzeug.wrappers import Response as BaseResponse

from logout_middleware.wsgi import LogoutMiddleware


def create_app() -> Flask:
    settings = Settings.from_env()
    # Like a real RP, learn the end-session endpoint from discovery at start-up.
    metadata = discover(settings.issuer)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.session_secret, SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_SAMESITE="Lax"
    )

    @app.get("/login")
    def login() -> BaseResponse:
        url, flow = start_login(settings, metadata)
        response = redirect(url, code=303)
        response.set_cookie(
            FLOW_COOKIE, flow.to_cookie(), max_age=FLOW_MAX_AGE, path=FLOW_COOKIE_PATH, httponly=True, samesite="Lax"
        )
        return response

    @app.get("/callback")
    def callback() -> BaseResponse:
        try:
            code, flow = check_callback(metadata, request.args, request.cookies.get(FLOW_COOKIE))
            with httpx.Client(**http_client_options()) as client:
                token_response = client.post(**token_request(settings, metadata, code, flow))
            id_token, sub = finish_login(settings, metadata, token_response, flow)
        except LoginError as exc:
            return Response(f"Sign-in failed: {exc}", status=400, mimetype="text/plain")
        session.clear()
        session["sub"] = sub
        response = redirect("/", code=303)
        response.set_cookie(ID_TOKEN_COOKIE, id_token, path="/", httponly=True, samesite="Lax")
        response.delete_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH)
        return response

    @app.get("/")
    def home() -> str:
        return home_page(session.get("sub"))

    @app.get("/signed-out")
    def signed_out() -> str:
        return signed_out_page(request.args.get("state"))

    # The documented way to put a WSGI middleware in front of a Flask app.
    app.wsgi_app = LogoutMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        end_session_endpoint=metadata.end_session_endpoint,
        post_logout_redirect_uri=settings.post_logout_redirect_uri,
        client_id=settings.client_id,
        id_token_cookie=ID_TOKEN_COOKIE,
        clear_cookies=(SESSION_COOKIE,),
    )
    return app
