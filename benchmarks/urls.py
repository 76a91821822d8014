"""The core on its own: the end-session URL built by ours, by ``urlencode``, and by the Authing SDK.

``urlencode`` builds the very same URL as ours.  Authing's SDK
(``AuthenticationClient.build_logout_url``) fills a template and encodes and
checks nothing: it marks how cheap a URL gets when nothing is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from time import perf_counter
from urllib.parse import urlencode

from logout_middleware import build_logout_url

from .checks import MisbehavedError
from .drivers import END_SESSION, REDIRECT_URI, STATE, Case, TimeFunc
from .provider import Setup
from .report import Row, at_most


def _timer(build: Callable[[], str]) -> TimeFunc:
    def time_func(loops: int) -> float:
        start = perf_counter()
        for _ in range(loops):
            build()
        return perf_counter() - start

    return time_func


def _ours(id_token: str) -> Callable[[], str]:
    return partial(build_logout_url, END_SESSION, redirect_uri=REDIRECT_URI, id_token=id_token, state=STATE)


def _urlencode(id_token: str) -> Callable[[], str]:
    def build() -> str:
        params = {"post_logout_redirect_uri": REDIRECT_URI, "id_token_hint": id_token, "state": STATE}
        return END_SESSION + "?" + urlencode(params)

    return build


def _authing(id_token: str) -> Callable[[], str]:
    from authing import AuthenticationClient  # noqa: PLC0415 - it imports websockets, which only this needs

    # Authing's URL is app_host + "/oidc/session/end"; the client opens no connection to build it.
    client = AuthenticationClient(app_id="benchmark", app_host=END_SESSION.removesuffix("/oidc/session/end"))
    return partial(client.build_logout_url, REDIRECT_URI, id_token, STATE)


_BUILDERS = {"ours": _ours, "urlencode": _urlencode, "authing": _authing}


def cases(setup: Setup) -> list[Case]:
    def check(key: str) -> None:
        url, expected = _BUILDERS[key](setup.live_token)(), _ours(setup.live_token)()
        # urlencode must build what ours builds; Authing's differs (nothing encoded) but must carry the hint.
        right = url == expected if key != "authing" else url.startswith(END_SESSION + "?") and setup.live_token in url
        if not right:
            raise MisbehavedError(f"url/{key} built {url[:120]!r}, not the end-session URL {expected[:120]!r}")

    return [Case(f"url/{key}", partial(check, key), partial(lambda key: _timer(_BUILDERS[key](setup.live_token)), key))
            for key in _BUILDERS]  # fmt: skip


def rows() -> list[Row]:
    section = "build_logout_url"
    return [
        Row(section, "endpoint + '?' + urlencode({...}), the same URL", "url/urlencode"),
        Row(section, "Authing AuthenticationClient.build_logout_url, unencoded", "url/authing"),
        Row(section, "ours, against urlencode", "url/ours", "url/urlencode", target=at_most(0.2, "≤ 0.2x urlencode")),
        Row(section, "ours, against Authing", "url/ours", "url/authing"),
    ]
