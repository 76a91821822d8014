"""A small Starlette relying party, with logout served by our ASGI middleware.

Run by the end-to-end tests as ``uvicorn rp_asgi:create_app --factory`` with
the settings in ``RP_*`` environment variables (see :class:`rp_common.Settings`).
Its login session lives in Starlette's signed ``session`` cookie, and the
id_token in an ``id_token`` cookie: the two cookies the middleware must delete.
"""

from __future__ import annotations

import httpx
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
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from logout_middleware.asgi import LogoutMiddleware


def create_app() -> Starlette:
    settings = Settings.from_env()
    # Like a real RP, learn the end-session endpoint from discovery at start-up.
    metadata = discover(settings.issuer)

    async def login(request: Request) -> Response:
        url, flow = start_login(settings, metadata)
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
            id_token, sub = finish_login(settings, metadata, token_response, flow)
        except LoginError as exc:
            return PlainTextResponse(f"Sign-in failed: {exc}", status_code=400)
        request.session.clear()
        request.session["sub"] = sub
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(ID_TOKEN_COOKIE, id_token, path="/", httponly=True, samesite="lax")
        response.delete_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH)
        return response

    async def home(request: Request) -> Response:
        return HTMLResponse(home_page(request.session.get("sub")))

    async def signed_out(request: Request) -> Response:
        return HTMLResponse(signed_out_page(request.query_params.get("state")))

    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", login),
            Route("/callback", callback),
            Route("/signed-out", signed_out),
        ],
        middleware=[
            # Outermost, so that /logout never reaches the session layer.
            Middleware(
                LogoutMiddleware,
                end_session_endpoint=metadata.end_session_endpoint,
                post_logout_redirect_uri=settings.post_logout_redirect_uri,
                client_id=settings.client_id,
                id_token_cookie=ID_TOKEN_COOKIE,
                clear_cookies=(SESSION_COOKIE,),
            ),
            Middleware(
                SessionMiddleware, secret_key=settings.session_secret, session_cookie=SESSION_COOKIE, same_site="lax"
            ),
        ],
    )
