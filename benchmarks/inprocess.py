"""The in-process benchmarks under pyperf: ``python -m benchmarks.inprocess --setup FILE [pyperf options]``.

pyperf starts this module again as each worker: every worker registers the same cases in the same order and
pyperf times only its own, which is why a case builds its contestant (and opens its store) lazily.
"""

from __future__ import annotations

import functools
import itertools
import pickle
import subprocess
import sys
import timeit
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyperf

from . import checks
from .browser import APP_PATH, ASGI, LOGOUT_PATH, MOUNT, VISITOR_COOKIES, WSGI, Adapter, App, signed_in
from .contestants import ECHO, HELLO, WRAPPERS, in_session, stack, url_builder
from .provider import REVOCATIONS, STORES, Setup, close_opened
from .report import Figure, Row

#: What pyperf times: run the contestant *loops* times, return the seconds it took.
TimeFunc = Callable[[int], float]


@dataclass(frozen=True)
class Case:
    """One benchmark: its row (whose figure is its pyperf name), its check, and what builds it."""

    row: Row
    #: Raises MisbehavedError unless the contestant does what it is measured doing; run before its workers start.
    check: Callable[[], None]
    #: Builds the contestant (its keys fetched, its session seen), returns its time function: in its worker only.
    prepare: Callable[[], TimeFunc]


#: The pass-through contestants: what each is called, what it is compared with, and its target.
_PASS = {"bare": ("bare app", None, None), "function": ("do-nothing function", "bare", None),
         "class": ("do-nothing class (the floor)", "bare", None),
         "trustedhost": ("Starlette TrustedHostMiddleware", "class", None),
         "ours": ("ours, checks off", "class", ("≤ 1.10x the floor", 1.10))}  # fmt: skip
#: The same logout written the way each interface's users would: the alternative to ours.
_ALTERNATIVE = {"asgi": ("basehttp", "BaseHTTPMiddleware, the same logout"),
                "wsgi": ("wsgify", "WebOb @wsgify.middleware, the same logout")}  # fmt: skip
KINDS = {
    "none": "no cookie",
    "anonymous": "a visitor's cookies, no id_token",
    "cookie": "returning session, verified id_token cookie",
    "in-session": "returning session, id_token in scope['session'] (ours inside SessionMiddleware)",
    "signed-cookie": "returning session, SessionMiddleware's cookie read with session_secret (ours outside)",
    "revoked": "revoked session, verified id_token cookie",
}
ADAPTER_KINDS = {"asgi": tuple(KINDS), "wsgi": ("none", "anonymous", "cookie", "revoked")}
#: What the floor is, in the stacks with SessionMiddleware.
_FLOORS = {"in-session": "SessionMiddleware around the floor", "signed-cookie": "the floor around it"}
_URL_ROWS = {
    "urlencode": Row("build_logout_url", "endpoint + '?' + urlencode({...}), the same URL", "url/urlencode"),
    "authing": Row("build_logout_url", "Authing AuthenticationClient.build_logout_url, unencoded", "url/authing"),
    "ours": Row("build_logout_url", "ours, against urlencode", "url/ours", "url/urlencode",
                target=("≤ 0.2x urlencode", 0.2)),
}  # fmt: skip


def cookie(kind: str, setup: Setup) -> str | None:
    token = setup.revoked_token if kind == "revoked" else setup.live_token
    if kind in ("in-session", "signed-cookie"):
        return in_session(token)
    return {"none": None, "anonymous": VISITOR_COOKIES}.get(kind, signed_in(token))


def _app_case(row: Row, adapter: Adapter, around: Callable[[App], App], sent: str | None, *, path: str = APP_PATH,
              root_path: str = "", check: checks.Check = checks.passes) -> Case:  # fmt: skip
    """A contestant *around* an app answering one request, *sent* its Cookie header."""
    request = adapter.request(path, sent, root_path=root_path)

    def prepare() -> TimeFunc:
        app = around(HELLO[adapter.name])
        adapter.run(app, [request])  # the keys are fetched and the session seen: from now on it returns
        return lambda loops: adapter.run(app, itertools.repeat(request, loops))

    answer = functools.partial(adapter.answer, path=path, cookie=sent, root_path=root_path)
    return Case(row, lambda: check(row.figure, answer(around(ECHO[adapter.name])), sent), prepare)


def _url_case(key: str, setup: Setup) -> Case:
    token = setup.live_token

    def check() -> None:  # urlencode must build the very URL ours builds; Authing's differs (nothing encoded)
        same_as = url_builder("ours", token)() if key == "urlencode" else None
        checks.builds_url(f"url/{key}", url_builder(key, token)(), token, same_as=same_as)

    # timeit takes a number of calls and returns their seconds, as pyperf wants (collector off for all three).
    return Case(_URL_ROWS[key], check, lambda: timeit.Timer(url_builder(key, token)).timeit)


def _app_cases(adapter: Adapter, sent: str) -> list[Case]:
    """Pass-through (at the root, then mounted: the path check is relative to the mount), then logout."""
    name, found = adapter.name, []
    wrappers, (alternative, alternative_case) = WRAPPERS[name], _ALTERNATIVE[name]
    for group, mount in (("pass", ""), ("pass-mounted", MOUNT)):
        section = f"{name.upper()} pass-through" + (f", mounted at {mount}" if mount else "")
        prefix = f"{name}/{group}/"
        for key, (case, baseline, target) in _PASS.items():
            if key in wrappers:
                row = Row(section, case, prefix + key, baseline and prefix + baseline, target=target)
                found.append(_app_case(row, adapter, wrappers[key], sent, root_path=mount))
        if not mount:
            target = ("≥ 100x what ours adds", 100) if name == "asgi" else None
            row = Row(section, alternative_case, prefix + alternative, prefix + "ours", "overhead", prefix + "bare",
                      target)  # fmt: skip
            found.append(_app_case(row, adapter, wrappers[alternative], sent))
    section, against = f"{name.upper()} logout", f"{name}/logout/{alternative}"
    ours = Row(section, "ours", f"{name}/logout/ours", against, "speedup", target=("≥ 2x faster", 2))
    for key, row in ((alternative, Row(section, alternative_case, against)), ("ours", ours)):
        found.append(_app_case(row, adapter, wrappers[key], sent, path=LOGOUT_PATH, check=checks.logs_out))
    return found


def _check_case(adapter: Adapter, kind: str, store: str | None, setup: Setup) -> Case:
    """The per-request check of a session of *kind* against *store*, or the floor of that stack when None."""
    section, floor = f"{adapter.name.upper()} per-request check", f"{adapter.name}/session/floor/{kind}"
    if store is None:
        row = Row(f"{section}, the floor", f"{KINDS[kind]}: {_FLOORS.get(kind, 'the do-nothing class')}", floor)
    else:
        target = ("≤ +2 µs over the floor", 2e-6) if kind in ("cookie", "in-session", "signed-cookie") else None
        row = Row(f"{section}, {store} store ({REVOCATIONS:,} revocations)", KINDS[kind],
                  f"{adapter.name}/session/{store}/{kind}", floor, "difference", target=target,
                  versus="the floor, same request")  # fmt: skip
    check = checks.strips if kind == "revoked" and store else checks.passes
    return _app_case(row, adapter, stack(adapter, kind, setup, store), cookie(kind, setup), check=check)


def cases(setup: Setup) -> list[Case]:
    # pyperf times one case after another: what is compared runs side by side, so that a change in the
    # machine's load between the two is as small as it can be.
    sent = signed_in(setup.live_token)
    return [*_app_cases(ASGI, sent), *_app_cases(WSGI, sent), *(_url_case(key, setup) for key in _URL_ROWS),
            *(_check_case(adapter, kind, store, setup) for adapter in (ASGI, WSGI)
              for kind, store in itertools.product(ADAPTER_KINDS[adapter.name], (None, *STORES)))]  # fmt: skip


def rows(setup: Setup) -> list[Row]:
    found = [case.row for case in cases(setup)]
    at = found.index(_URL_ROWS["ours"]) + 1  # a second row of ours, against Authing: a row with no case of its own
    return [*found[:at], Row("build_logout_url", "ours, against Authing", "url/ours", "url/authing"), *found[at:]]


def main() -> None:
    def forward(command: list[str], args: Namespace) -> None:
        command.extend(("--setup", args.setup))

    runner = pyperf.Runner(program_args=("-m", "benchmarks.inprocess"), add_cmdline_args=forward)
    runner.argparser.add_argument("--setup", required=True, help="the file describing the provider and stores")
    args = runner.parse_args()
    for case in cases(pickle.loads(Path(args.setup).read_bytes())):  # noqa: S301 - the file this run wrote
        if not args.worker:  # once, in pyperf's main process, before the workers time it
            case.check()
            close_opened()
        prepared = functools.cache(case.prepare)
        runner.bench_time_func(case.row.figure, lambda loops, prepared=prepared: prepared()(loops))


def run(setup: Setup, directory: Path) -> dict[str, Figure]:
    """Every case under pyperf, its progress on stderr, and pyperf's own file as *directory*/pyperf.json.gz."""
    output = directory / "pyperf.json.gz"
    command = [sys.executable, "-m", "benchmarks.inprocess", "--setup", str(directory / "setup.pickle")]
    subprocess.run([*command, *setup.plan.pyperf_args, "--output", str(output)], stdout=sys.stderr, check=True)
    suite = pyperf.BenchmarkSuite.load(str(output))
    return {bench.get_name(): Figure("s", tuple(bench.get_values())) for bench in suite.get_benchmarks()}


if __name__ == "__main__":
    main()
