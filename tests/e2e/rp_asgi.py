"""A small Starlette relying party, with logout served by our ASGI middleware.

Run by the end-to-end tests as ``uvicorn rp_asgi:create_app --factory`` with
the settings in ``RP_*`` environment variables (see :class:`rp_common.Settings`).
Its login session lives in Starlette's signed ``session`` cookie, and the
tokens in ``id_token``, ``access_token`` and (after an ``offline_access``
sign-in) ``refresh_token`` cookies: what the middleware must revoke and delete.
"""

from __future__ import annotations

import httpx
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
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from logout_middleware.asgi import LogoutMiddleware


def create_app() -> Starlette:
    settings = Settings.from_env()
    log_middleware_to_stderr()
    # The RP's own endpoints (authorize, token) come from discovery at start-up;
    # the middleware is given only the issuer and discovers its own.
    metadata = discover(settings.issuer)

    async def login(request: Request) -> Response:
        url, flow = start_login(settings, metadata, offline="offline" in request.query_params)
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            FLOW_COOKIE, flow.to_cookie(), max_age=FLOW_MAX_AGE, path=FLOW_COOKIE_PATH, httponly=True, samesite="lax"
        )
        return response

    async def callback(request: Request) -> Response:
        try:
            code, flow = check_callback(metadata, request.query_params, request.cookies.get(FLOW_COOKIE))
            async with httpx.AsyncClient(**http_client_options()) as client:
                token_response = await client.post(**token_request(settings, metadata, code, flow))
            tokens = finish_login(settings, metadata, token_response, flow)
        except LoginError as exc:
            return PlainTextResponse(f"Sign-in failed: {exc}", status_code=400)
        request.session.clear()
        request.session["sub"] = tokens.sub
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(ID_TOKEN_COOKIE, tokens.id_token, path="/", httponly=True, samesite="lax")
        response.set_cookie(ACCESS_TOKEN_COOKIE, tokens.access_token, path="/", httponly=True, samesite="lax")
        # A sign-in without offline_access gets no refresh token, and keeps any it had.
        if tokens.refresh_token is not None:
            response.set_cookie(REFRESH_TOKEN_COOKIE, tokens.refresh_token, path="/", httponly=True, samesite="lax")
        response.delete_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH)
        return response

    async def home(request: Request) -> Response:
        return HTMLResponse(home_page(request.session.get("sub"), request.cookies))

    async def orders(request: Request) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return HTMLResponse(orders_page(request.session.get("sub"), here, request.query_params.get("page")))

    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", login),
            Route("/callback", callback),
            Route("/orders", orders),
        ],
        middleware=[
            # Outermost, so that /logout never reaches the session layer.
            Middleware(LogoutMiddleware, **logout_options(settings)),
            Middleware(
                SessionMiddleware, secret_key=settings.session_secret, session_cookie=SESSION_COOKIE, same_site="lax"
            ),
        ],
    )
