"""Floods and long runs: what a request with a cookie never seen costs, and whether a process's memory stays bounded.

Each variant runs apart, one after another.  The floods go through ours with checks on (ASGI only: the check is
the core's), each request with a cookie never seen before: each thousand is timed, and the peak resident size
(VmHWM) is read after half the requests and at the end, since a process whose memory is bounded stops raising it.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import checks, contestants
from .apart import measured_apart, process_size
from .browser import APP_PATH, LOGOUT_PATH, VISITOR_COOKIES, signed_in
from .contestants import ECHO, HELLO, OURS, stack
from .drivers import ASGI, WSGI, Adapter, App
from .provider import Setup
from .report import Figure, Row, at_most

#: Each flood, what it sends, and the flood it is compared with: the same stack with a session it has seen.
_FLOODS = {
    "forged-token": ("a forged id_token cookie each: its RS256 signature checked (and refused)", "returning-token"),
    "forged-session": ("a forged signed session cookie each: its HMAC checked (and refused)", "returning-session"),
    "new-session": ("a new valid signed session each: its HMAC checked, the caches filled up", "returning-session"),
}
_BASELINES = {"returning-token": "a returning session's id_token cookie, seen before, every time",
              "returning-session": "a returning signed session cookie, seen before, every time"}  # fmt: skip
#: The variants, each run in a process of its own: the ASGI floods and their baselines, then the logouts.
VARIANTS = (*(f"asgi-{kind}" for kind in (*_BASELINES, *_FLOODS)),
            *(f"{adapter}-logout-{app}" for adapter in ("asgi", "wsgi") for app in ("bare", "ours")))  # fmt: skip
#: How each variant's first request must be answered: forged cookies are stripped, the rest let through (the bare
#: app's logout is the app's: nothing to judge).
_CHECKS = {"forged-token": checks.strips, "forged-session": checks.strips, "logout-ours": checks.logs_out,
           "logout-bare": None}  # fmt: skip


def _cookies(kind: str, setup: Setup) -> Iterator[str]:
    """The Cookie header of each request, each made when it is due, so that no list of them takes memory."""
    if kind == "returning-session":
        session = contestants.session_cookie({"id_token": setup.live_token})
        return itertools.repeat(f"{VISITOR_COOKIES}; session={session}")
    if kind in ("returning-token", "logout-bare", "logout-ours"):
        return itertools.repeat(signed_in(setup.live_token))
    return _never_seen(kind, setup)


def _never_seen(kind: str, setup: Setup) -> Iterator[str]:
    """The Cookie headers of a flood: each a cookie this process has not seen."""
    # Distinct tokens at no cost: the signature's tail replaced, so the signature no longer verifies.
    head, _, signature = setup.live_token.rpartition(".")
    # A real cookie's timestamp and signature after another payload: the HMAC fails.
    _, stamp, hmac = contestants.session_cookie({"id_token": "x"}).rsplit(".", 2)
    for index in itertools.count():
        token = f"{head}.{signature[:-10]}{index:08d}{signature[-2:]}"
        if kind == "forged-token":
            yield signed_in(token)
            continue
        if kind == "forged-session":
            session = f"{base64.b64encode(json.dumps({'id_token': token}).encode()).decode()}.{stamp}.{hmac}"
        else:  # a valid session holding a new token: trusted as it is, as the framework signed it
            session = contestants.session_cookie({"id_token": token})
        yield f"{VISITOR_COOKIES}; session={session}"


def _send(adapter: Adapter, app: Any, path: str, cookies: Iterator[str], count: int) -> list[float]:
    """Seconds a request, timed a thousand at a time; the requests are made a hundred at a time, off the clock."""
    seconds = []
    for start in range(0, count, 1000):
        size, took = min(1000, count - start), 0.0
        for made in range(0, size, 100):
            sent = itertools.islice(cookies, min(100, size - made))
            took += adapter.run(app, [adapter.request(path, cookie) for cookie in sent])
        seconds.append(took / size)
    return seconds


def measure(variant: str, setup: Setup) -> dict[str, Any]:
    """Run *variant* in this process: the seconds each request took, its peak RSS half-way and at the end.

    The peak only ever grows: a process that frees and reuses memory reaches the same peak again.
    """
    adapter, _, kind = variant.partition("-")
    driver, path = (ASGI if adapter == "asgi" else WSGI), LOGOUT_PATH if kind.startswith("logout") else APP_PATH
    if kind.startswith("logout"):
        around: Callable[[App], App] = OURS[adapter] if kind == "logout-ours" else (lambda app: app)
    else:
        around = stack(driver, "signed-cookie" if "session" in kind else "cookie", setup, "memory")
    check, first = _CHECKS.get(kind, checks.passes), next(_cookies(kind, setup))
    if check is not None:  # an instance of its own, around the echo app: the one timed has seen nothing
        check(variant, driver.answer(around(ECHO[adapter]), path, first), first)
    app = around(HELLO[adapter])
    if not kind.startswith("logout"):  # the keys fetched, in every flood alike
        driver.run(app, [driver.request(cookie=signed_in(setup.live_token))])
    count = setup.plan.logouts if kind.startswith("logout") else setup.plan.flood
    cookies = _cookies(kind, setup)
    seconds = _send(driver, app, path, cookies, count // 2)
    half = process_size("VmHWM")
    seconds += _send(driver, app, path, cookies, count - count // 2)
    return {"seconds": seconds, "half": half, "peak": process_size("VmHWM")}


def run(setup: Setup, directory: Path) -> dict[str, Figure]:
    figures = {}
    for variant in VARIANTS:
        measured = measured_apart(measure, variant, setup)
        figures |= {f"memory/{variant}/seconds": Figure("s", tuple(measured["seconds"]))}
        figures |= {f"memory/{variant}/{name}": Figure("B", (float(measured[name]),)) for name in ("half", "peak")}
    return figures


def _peak(section: str, case: str, variant: str, *, bounded: bool = True) -> Row:
    """A variant's peak RSS; where it must be *bounded*, against its peak half-way."""
    if not bounded:
        return Row(section, case, f"memory/{variant}/peak")
    return Row(section, case, f"memory/{variant}/peak", f"memory/{variant}/half", "difference",
               target=at_most(2**20, "≤ +1 MiB over the second half"), versus="its peak half-way")  # fmt: skip


def rows(setup: Setup) -> list[Row]:
    section = f"Floods, ASGI, {setup.plan.flood:,} requests through the check, memory store"
    found = []
    for baseline, case in _BASELINES.items():
        found.append(Row(section + ": seconds a request", case, f"memory/asgi-{baseline}/seconds"))
        found += [Row(section + ": seconds a request", flood_case, f"memory/asgi-{kind}/seconds",
                      f"memory/asgi-{baseline}/seconds", "difference")
                  for kind, (flood_case, against) in _FLOODS.items() if against == baseline]  # fmt: skip
    found += [_peak(section + ": peak RSS", case, f"asgi-{kind}", bounded=False) for kind, case in _BASELINES.items()]
    found += [_peak(section + ": peak RSS", case, f"asgi-{kind}") for kind, (case, _) in _FLOODS.items()]
    for adapter in ("asgi", "wsgi"):
        section = f"Memory, {adapter.upper()}, {setup.plan.logouts:,} logouts: peak RSS"
        found += [_peak(section, "the bare app", f"{adapter}-logout-bare", bounded=False),
                  _peak(section, "ours, checks off", f"{adapter}-logout-ours")]  # fmt: skip
    return found
