"""The in-process benchmarks under pyperf: ``python -m benchmarks.inprocess --setup FILE [pyperf options]``.

pyperf starts this module again as each worker: every worker registers the same cases in the same order and
pyperf times only its own, which is why a case builds its contestant (and opens its store) lazily.
"""

from __future__ import annotations

import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path
from time import perf_counter
from typing import Any

import pyperf

from . import checks, contestants
from .browser import APP_PATH, LOGIN_COOKIES, LOGOUT_PATH, MOUNT, VISITOR_COOKIES, signed_in
from .contestants import HELLO, WRAPPERS, App, Recorder, stack, url_builder
from .drivers import ASGI, WSGI, Adapter, Case, TimeFunc
from .provider import Setup, open_filled, store_sizes
from .report import Figure, Row, at_least, at_most

_LABELS = {"bare": "bare app", "function": "do-nothing function", "class": "do-nothing class (the floor)",
           "trustedhost": "Starlette TrustedHostMiddleware", "ours": "ours, checks off",
           "basehttp": "BaseHTTPMiddleware, the same logout",
           "wsgify": "WebOb @wsgify.middleware, the same logout"}  # fmt: skip
_ALTERNATIVE = {"asgi": "basehttp", "wsgi": "wsgify"}
_MOUNTS = {"pass": "", "pass-mounted": MOUNT}
_URLS = ("ours", "urlencode", "authing")
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
#: What the floor is, in the stacks with SessionMiddleware.
_FLOORS = {"in-session": "SessionMiddleware around the floor", "signed-cookie": "the floor around it"}
#: The stores of many revocations, each against the usual store of its kind.
LARGE = {"memory-large": "memory", "memory-huge": "memory", "sqlite-large": "sqlite"}


def cookie(kind: str, setup: Setup, id_token: str | None = None) -> str | None:
    """The Cookie header a browser sends for *kind*; *id_token* stands in for the session's own."""
    token = id_token or (setup.revoked_token if kind == "revoked" else setup.live_token)
    if kind in ("in-session", "signed-cookie"):
        return f"{VISITOR_COOKIES}; session={contestants.session_cookie({'id_token': token})}"
    return {"none": None, "anonymous": VISITOR_COOKIES}.get(kind, signed_in(token))


def _pass_case(adapter: Adapter, group: str, key: str, setup: Setup) -> Case:
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
        alternative = _ALTERNATIVE[adapter.name]
        for group, root_path in _MOUNTS.items():
            keys = [key for key in WRAPPERS[adapter.name] if key != alternative or not root_path]
            found += [_pass_case(adapter, group, key, setup) for key in keys]
        found += [_pass_case(adapter, "logout", key, setup) for key in ("ours", alternative)]
    found += [_url_case(key, setup) for key in _URLS]
    for adapter in (ASGI, WSGI):
        for kind in ADAPTER_KINDS[adapter.name]:
            stores = sized if adapter is WSGI and kind == "cookie" else ("floor", *STORES)
            found += [_returning(adapter, kind, store_name, setup) for store_name in stores]
            if kind in ("cookie", "signed-cookie"):
                found.append(_new(adapter, kind, setup))
    return found


def rows(setup: Setup) -> list[Row]:
    sizes, found = store_sizes(setup.plan), []
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
    found += [
        Row(section, "endpoint + '?' + urlencode({...}), the same URL", "url/urlencode"),
        Row(section, "Authing AuthenticationClient.build_logout_url, unencoded", "url/authing"),
        Row(section, "ours, against urlencode", "url/ours", "url/urlencode", target=at_most(0.2, "≤ 0.2x urlencode")),
        Row(section, "ours, against Authing", "url/ours", "url/authing"),
    ]
    for adapter, kinds in ADAPTER_KINDS.items():
        section = f"{adapter.upper()} per-request check"
        found += [Row(f"{section}, the floor", f"{KINDS[kind]}: {_FLOORS.get(kind, 'the do-nothing class')}",
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


def _extra_figures(setup: Setup) -> dict[str, Figure]:
    """What the Redis store asks redis-server per request (nothing, it must be), and the large SQLite file's size."""
    import redis  # noqa: PLC0415 - the workers do not need it

    stores, sent, requests = [], [], 1000
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


def _forward(command: list[str], args: Namespace) -> None:
    command.extend(("--setup", args.setup, "--cases", args.cases))


def main() -> None:
    runner = pyperf.Runner(program_args=("-m", "benchmarks.inprocess"), add_cmdline_args=_forward)
    runner.argparser.add_argument("--setup", required=True, help="the JSON file describing the provider and stores")
    runner.argparser.add_argument("--cases", default="", help="only the cases whose name holds this text")
    args = runner.parse_args()
    for case in cases(Setup.load(args.setup)):
        if args.cases in case.name:
            if not args.worker:  # once, in pyperf's main process, before the workers time it
                case.check()
            runner.bench_time_func(case.name, case.time_func())


def run(setup: Setup, directory: Path) -> dict[str, Figure]:
    """Every case under pyperf, its progress on stderr, and pyperf's own file as *directory*/pyperf.json.gz."""
    output = directory / "pyperf.json.gz"
    command = [sys.executable, "-m", "benchmarks.inprocess", "--setup", str(directory / "setup.json")]
    subprocess.run([*command, *setup.plan.pyperf_args, "--output", str(output)], stdout=sys.stderr, check=True)
    suite = pyperf.BenchmarkSuite.load(str(output))
    figures = {bench.get_name(): Figure("s", tuple(bench.get_values())) for bench in suite.get_benchmarks()}
    return figures | _extra_figures(setup)


if __name__ == "__main__":
    main()
