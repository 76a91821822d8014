"""The per-request session check, in-process: what ours costs every request while revocations are enforced.

Each kind of request goes through ours with each store and through the
floor (a do-nothing middleware class) with the same request in the same
stack.  A returning session's id_token was verified (or its signed cookie
read) once and cached; a new session pays that verification.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import checks, contestants
from .contestants import FLOOR, HELLO, OURS, App, Recorder
from .drivers import ASGI, LOGIN_COOKIES, VISITOR_COOKIES, WSGI, Adapter, Case, TimeFunc, signed_in
from .provider import SESSION_SECRET, Setup, open_filled, store_sizes
from .report import Figure, Row, at_most

KINDS = {
    "none": "no cookie",
    "anonymous": "a visitor's cookies, no id_token",
    "cookie": "returning session, verified id_token cookie",
    "in-session": "returning session, id_token in scope['session'] (ours inside SessionMiddleware)",
    "signed-cookie": "returning session, SessionMiddleware's cookie read with session_secret (ours outside)",
    "revoked": "revoked session, verified id_token cookie",
}
RETURNING = ("cookie", "in-session", "signed-cookie")
ADAPTER_KINDS = {"asgi": tuple(KINDS), "wsgi": ("none", "anonymous", "cookie", "revoked")}
STORES = ("memory", "sqlite", "redis")
#: The stores of many revocations, each against the usual store of its kind.
LARGE = {"memory-large": "memory", "memory-huge": "memory", "sqlite-large": "sqlite"}


def cookie(kind: str, setup: Setup, id_token: str | None = None) -> str | None:
    """The Cookie header a browser sends for *kind*; *id_token* stands in for the session's own."""
    token = id_token or (setup.revoked_token if kind == "revoked" else setup.live_token)
    if kind in ("in-session", "signed-cookie"):
        return f"{VISITOR_COOKIES}; session={contestants.session_cookie(SESSION_SECRET, {'id_token': token})}"
    return {"none": None, "anonymous": VISITOR_COOKIES}.get(kind, signed_in(token))


def stack(adapter: Adapter, kind: str, store: Any, setup: Setup) -> Callable[[App], App]:
    """The contestant for *kind* around an app: ours checking against *store*, or the floor when it is None."""

    def middleware(app: App) -> App:
        if store is None:
            return FLOOR[adapter.name](app)
        options = {"issuer": setup.issuer, "client_id": setup.client_id, "enforce_revocations": True,
                   "revocation_store": store}  # fmt: skip
        if kind in ("in-session", "signed-cookie"):
            options["clear_cookies"] = ()  # the session cookie is the framework's, not a login cookie of its own
        if kind == "signed-cookie":
            options["session_secret"] = SESSION_SECRET
        return OURS[adapter.name](app, **options)

    if kind == "in-session":
        return lambda app: contestants.with_session(middleware(app), SESSION_SECRET)
    if kind == "signed-cookie":
        return lambda app: middleware(contestants.with_session(app, SESSION_SECRET))
    return middleware


def _returning(adapter: Adapter, kind: str, store_name: str, setup: Setup) -> Case:
    name, sent = f"{adapter.name}/session/{store_name}/{kind}", cookie(kind, setup)
    request = adapter.request(cookie=sent)

    def opened() -> Any:
        return None if store_name == "floor" else open_filled(setup, store_name)

    def check() -> None:
        recorder, store = Recorder(), opened()
        answer = adapter.answer(stack(adapter, kind, store, setup)(getattr(recorder, adapter.name)), request)
        if store is not None:
            store.close()  # a Redis store's thread would go on listening in pyperf's main process
        if kind == "revoked" and store_name != "floor":
            checks.strips(name, answer, sent=sent or "", seen=recorder.seen, login_cookies=LOGIN_COOKIES)
        else:
            checks.passes(name, answer, sent=sent, seen=recorder.seen)

    def prepare() -> TimeFunc:
        app = stack(adapter, kind, opened(), setup)(HELLO[adapter.name])
        adapter.answer(app, request)  # the keys are fetched and the session seen: from now on it returns
        return adapter.timer(app, request)

    return Case(name, check, prepare)


def _new(adapter: Adapter, kind: str, setup: Setup) -> Case:
    name, first = f"{adapter.name}/session/memory/new-{kind}", adapter.request(cookie=cookie("cookie", setup))
    sent = [cookie(kind, setup, token) for token in setup.new_tokens]

    def primed(app: App) -> App:
        adapter.answer(app, first)  # fetches the provider's keys, as the first request of a process does
        return app

    def check() -> None:
        recorder = Recorder()
        app = primed(stack(adapter, kind, open_filled(setup, "memory"), setup)(getattr(recorder, adapter.name)))
        checks.passes(name, adapter.answer(app, adapter.request(cookie=sent[0])), sent=sent[0], seen=recorder.seen[1:])

    def prepare() -> TimeFunc:
        build = stack(adapter, kind, open_filled(setup, "memory"), setup)
        requests = [adapter.request(cookie=header) for header in sent]
        return adapter.new_sessions_timer(lambda: primed(build(HELLO[adapter.name])), requests)

    return Case(name, check, prepare)


def cases(setup: Setup) -> list[Case]:
    # pyperf times one case after another: what is compared runs side by side, so that a change in the
    # machine's load between the two is as small as it can be.
    found, sized = [], ("floor", "memory", "memory-large", "memory-huge", "sqlite", "sqlite-large", "redis")
    for adapter in (ASGI, WSGI):
        for kind in ADAPTER_KINDS[adapter.name]:
            stores = sized if adapter is WSGI and kind == "cookie" else ("floor", *STORES)
            found += [_returning(adapter, kind, store_name, setup) for store_name in stores]
            if kind in ("cookie", "signed-cookie"):
                found.append(_new(adapter, kind, setup))
    return found


def extra_figures(setup: Setup, requests: int = 1000) -> dict[str, Figure]:
    """What the Redis store asks redis-server per request (nothing, it must be), and the large SQLite file's size."""
    import redis  # noqa: PLC0415 - the workers do not need it

    stores, sent = [], []
    for adapter in (ASGI, WSGI):
        for kind in ("cookie", "revoked"):
            stores.append(open_filled(setup, "redis"))
            app = stack(adapter, kind, stores[-1], setup)(HELLO[adapter.name])
            request = adapter.request(cookie=cookie(kind, setup))
            adapter.answer(app, request)
            sent.append((adapter, app, request))
    client = redis.Redis.from_url(setup.redis_url)
    before = int(client.info("stats")["total_commands_processed"])
    for adapter, app, request in sent:
        adapter.run(app, [request] * requests)
    # INFO reports the count before itself, so the second reading counts the first.
    commands = int(client.info("stats")["total_commands_processed"]) - before - 1
    for store in stores:
        store.close()
    client.close()
    path = setup.sqlite_paths["sqlite-large"]
    size = sum(os.path.getsize(file) for file in (path, path + "-wal") if os.path.exists(file))
    return {"redis/commands": Figure("count", (commands / (requests * len(sent)),)),
            "sqlite-large/file": Figure("B", (float(size),))}  # fmt: skip


def rows(setup: Setup) -> list[Row]:
    sizes, found = store_sizes(setup.plan), []
    for adapter, kinds in ADAPTER_KINDS.items():
        section = f"{adapter.upper()} per-request check"
        floors = {"in-session": "SessionMiddleware around the floor", "signed-cookie": "the floor around it"}
        found += [Row(f"{section}, the floor", f"{KINDS[kind]}: {floors.get(kind, 'the do-nothing class')}",
                      f"{adapter}/session/floor/{kind}") for kind in kinds]  # fmt: skip
        for store in STORES:
            found += [Row(f"{section}, {store} store ({sizes[store]:,} revocations)", KINDS[kind],
                          f"{adapter}/session/{store}/{kind}", f"{adapter}/session/floor/{kind}", "difference",
                          target=at_most(2e-6, "≤ +2 µs over the floor") if kind in RETURNING else None,
                          versus="the floor, same request") for kind in kinds]  # fmt: skip
        found.append(Row(f"{adapter.upper()} new session, memory store", "id_token cookie never seen: RS256 checked",
                         f"{adapter}/session/memory/new-cookie", f"{adapter}/session/floor/cookie", "difference",
                         versus="the floor, same request"))  # fmt: skip
    found.append(Row("ASGI new session, memory store", "signed session cookie never seen: its HMAC checked",
                     "asgi/session/memory/new-signed-cookie", "asgi/session/floor/signed-cookie", "difference",
                     versus="the floor, same request"))  # fmt: skip
    section = "Store size, WSGI returning session"
    found += [Row(section, f"{large.partition('-')[0]} store, {sizes[large]:,} revocations",
                  f"wsgi/session/{large}/cookie", f"wsgi/session/{usual}/cookie",
                  target=at_most(1.10, f"≤ 1.10x with {sizes[usual]:,}"), versus=f"{sizes[usual]:,} revocations")
              for large, usual in LARGE.items()]  # fmt: skip
    found.append(Row(section, f"SQLite file holding {sizes['sqlite-large']:,} revocations", "sqlite-large/file"))
    found.append(Row("Redis store", "commands to redis-server per request (returning and revoked, both adapters)",
                     "redis/commands", target=at_most(0, "0: no network on the request path")))  # fmt: skip
    return found
