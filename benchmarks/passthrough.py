"""In-process, checks off: ours on the paths it does not own, its logout, and the end-session URL on its own.

Against the bare app, a do-nothing function, a do-nothing middleware class
(the floor any middleware class stands on), Starlette's TrustedHostMiddleware
and the same logout written as a ``BaseHTTPMiddleware`` or a WebOb ``wsgify``;
``build_logout_url`` against ``urlencode`` (the very same URL) and the Authing
SDK's, which fills a template and encodes and checks nothing.
"""

from __future__ import annotations

from time import perf_counter

from . import checks
from .contestants import HELLO, WRAPPERS, Recorder, url_builder
from .drivers import APP_PATH, ASGI, LOGIN_COOKIES, LOGOUT_PATH, MOUNT, WSGI, Adapter, Case, TimeFunc, signed_in
from .provider import Setup
from .report import Row, at_least, at_most

_LABELS = {"bare": "bare app", "function": "do-nothing function", "class": "do-nothing class (the floor)",
           "trustedhost": "Starlette TrustedHostMiddleware", "ours": "ours, checks off",
           "basehttp": "BaseHTTPMiddleware, the same logout",
           "wsgify": "WebOb @wsgify.middleware, the same logout"}  # fmt: skip
_ALTERNATIVE = {"asgi": "basehttp", "wsgi": "wsgify"}
_MOUNTS = {"pass": "", "pass-mounted": MOUNT}
_URLS = ("ours", "urlencode", "authing")


def _case(adapter: Adapter, group: str, key: str, setup: Setup) -> Case:
    name, path = f"{adapter.name}/{group}/{key}", LOGOUT_PATH if group == "logout" else APP_PATH
    sent = signed_in(setup.live_token)
    request = adapter.request(path, sent, root_path=_MOUNTS.get(group, ""))
    build = WRAPPERS[adapter.name][key]

    def check() -> None:
        recorder = Recorder()
        answer = adapter.answer(build(getattr(recorder, adapter.name)), request)
        if group == "logout":
            checks.logs_out(name, answer, id_token=setup.live_token, login_cookies=LOGIN_COOKIES)
        else:
            checks.passes(name, answer, sent=sent, seen=recorder.seen)

    return Case(name, check, lambda: adapter.timer(build(HELLO[adapter.name]), request))


def _url_case(key: str, setup: Setup) -> Case:
    def check() -> None:
        # urlencode must build what ours builds; Authing's differs (nothing encoded) but must carry the hint.
        token = setup.live_token
        expected = url_builder("ours", token)() if key != "authing" else None
        checks.builds_url(f"url/{key}", url_builder(key, token)(), same_as=expected, id_token=token)

    def prepare() -> TimeFunc:
        build = url_builder(key, setup.live_token)

        def time_func(loops: int) -> float:
            start = perf_counter()
            for _ in range(loops):
                build()
            return perf_counter() - start

        return time_func

    return Case(f"url/{key}", check, prepare)


def cases(setup: Setup) -> list[Case]:
    found = []
    for adapter in (ASGI, WSGI):
        alternative = _ALTERNATIVE[adapter.name]
        for group, root_path in _MOUNTS.items():
            keys = [key for key in WRAPPERS[adapter.name] if key != alternative or not root_path]
            found += [_case(adapter, group, key, setup) for key in keys]
        found += [_case(adapter, "logout", key, setup) for key in ("ours", alternative)]
    return found + [_url_case(key, setup) for key in _URLS]


def rows() -> list[Row]:
    found = []
    for adapter, alternative in _ALTERNATIVE.items():
        for group, root_path in _MOUNTS.items():
            section = f"{adapter.upper()} pass-through" + (f", mounted at {root_path}" if root_path else "")
            bare, floor, ours = (f"{adapter}/{group}/{key}" for key in ("bare", "class", "ours"))
            for key in (key for key in WRAPPERS[adapter] if key != alternative):
                baseline = None if key == "bare" else bare if key in ("function", "class") else floor
                target = at_most(1.10, "≤ 1.10x the floor") if key == "ours" else None
                found.append(Row(section, _LABELS[key], f"{adapter}/{group}/{key}", baseline, target=target))
            if not root_path:
                target = at_least(100, "≥ 100x what ours adds") if adapter == "asgi" else None
                found.append(Row(section, _LABELS[alternative], f"{adapter}/{group}/{alternative}", ours, "overhead",
                                 bare, target))  # fmt: skip
        section, ours, other = f"{adapter.upper()} logout", f"{adapter}/logout/ours", f"{adapter}/logout/{alternative}"
        found.append(Row(section, _LABELS[alternative], other))
        found.append(Row(section, "ours", ours, other, "speedup", target=at_least(2, "≥ 2x faster")))
    section = "build_logout_url"
    return [
        *found,
        Row(section, "endpoint + '?' + urlencode({...}), the same URL", "url/urlencode"),
        Row(section, "Authing AuthenticationClient.build_logout_url, unencoded", "url/authing"),
        Row(section, "ours, against urlencode", "url/ours", "url/urlencode", target=at_most(0.2, "≤ 0.2x urlencode")),
        Row(section, "ours, against Authing", "url/ours", "url/authing"),
    ]
