"""A small Flask relying party, with logout served by our WSGI middleware.

Run by the end-to-end tests as ``gunicorn 'rp_wsgi:create_app()'`` with the
settings in ``RP_*`` environment variables (see :class:`rp_common.Settings`).
Its login session lives in Flask's signed ``session`` cookie, and the tokens
in ``id_token``, ``access_token`` and (after an ``offline_access`` sign-in)
``refresh_token`` cookies: what the middleware must revoke and delete.
"""

from __future__ import annotations

import httpx
from flask import Flask, Response, redirect, request, session
from rp_common import (
    ACCESS_TOKEN_COOKIE,
    FLOW_COOKIE,
    FLOW_COOKIE_PATH,
    FLOW_MAX_AGE,
    ID_TOKEN_COOKIE,
    REFRESH_TOKEN_COOKIE,
    SESSION_COOKIE,
    LoginError,
    Settings,
    check_callback,
    discover,
    finish_login,
    home_page,
    http_client_options,
    log_middleware_to_stderr,
    logout_options,
    orders_page,
    start_login,
    token_request,
)
from werkzeug.wrappers import Response as BaseResponse

from logout_middleware.wsgi import LogoutMiddleware


def create_app() -> Flask:
    settings = Settings.from_env()
    log_middleware_to_stderr()
    # The RP's own endpoints (authorize, token) come from discovery at start-up;
    # the middleware is given only the issuer and discovers its own.
    metadata = discover(settings.issuer)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.session_secret, SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_SAMESITE="Lax"
    )

    @app.get("/login")
    def login() -> BaseResponse:
        url, flow = start_login(settings, metadata, offline="offline" in request.args)
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
            tokens = finish_login(settings, metadata, token_response, flow)
        except LoginError as exc:
            return Response(f"Sign-in failed: {exc}", status=400, mimetype="text/plain")
        session.clear()
        session["sub"] = tokens.sub
        response = redirect("/", code=303)
        response.set_cookie(ID_TOKEN_COOKIE, tokens.id_token, path="/", httponly=True, samesite="Lax")
        response.set_cookie(ACCESS_TOKEN_COOKIE, tokens.access_token, path="/", httponly=True, samesite="Lax")
        # A sign-in without offline_access gets no refresh token, and keeps any it had.
        if tokens.refresh_token is not None:
            response.set_cookie(REFRESH_TOKEN_COOKIE, tokens.refresh_token, path="/", httponly=True, samesite="Lax")
        response.delete_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH)
        return response

    @app.get("/")
    def home() -> str:
        return home_page(session.get("sub"), request.cookies)

    @app.get("/orders")
    def orders() -> str:
        query = request.query_string.decode("latin-1")
        here = request.path + (f"?{query}" if query else "")
        return orders_page(session.get("sub"), here, request.args.get("page"))

    # The documented way to put a WSGI middleware in front of a Flask app.
    app.wsgi_app = LogoutMiddleware(app.wsgi_app, **logout_options(settings))  # type: ignore[method-assign]
    return app
