"""Floods and long runs: what a request with a cookie never seen costs, and whether a process's memory stays bounded.

Each variant runs apart, one after another; the floods go through ours with checks on (ASGI only: the check is the
core's).  A process whose memory is bounded stops raising its peak (VmHWM), since it reuses what it frees.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from . import checks
from .apart import measured_apart, process_size
from .browser import APP_PATH, ASGI, LOGOUT_PATH, WSGI, signed_in
from .contestants import ECHO, HELLO, WRAPPERS, in_session, stack
from .provider import SESSION_SECRET, Setup
from .report import Figure, Row

#: Each flood, what it sends, and its baseline: the same stack sent a session it has seen (None: a baseline).
_FLOODS = {
    "returning-token": ("a returning session's id_token cookie, seen before, every time", None),
    "forged-token": ("a forged id_token cookie each: its RS256 signature checked (and refused)", "returning-token"),
    "returning-session": ("a returning signed session cookie, seen before, every time", None),
    "forged-session": ("a forged signed session cookie each: its HMAC checked (and refused)", "returning-session"),
    "new-session": ("a new valid signed session each: its HMAC checked, the caches filled up", "returning-session"),
}
#: The variants, each run in a process of its own: the ASGI floods and their baselines, then the logouts.
VARIANTS = (*(f"asgi-{kind}" for kind in _FLOODS),
            *(f"{adapter}-logout-{app}" for adapter in ("asgi", "wsgi") for app in ("bare", "ours")))  # fmt: skip
#: How each variant's first request must be answered (the bare app's logout is the app's: nothing to judge).
_CHECKS = {"forged-token": checks.strips, "forged-session": checks.strips, "logout-ours": checks.logs_out,
           "logout-bare": None}  # fmt: skip


def _cookies(kind: str, setup: Setup) -> Iterator[str]:
    """The Cookie header of each request, each made when it is due, so that no list of them takes memory."""
    if kind == "returning-session":
        return itertools.repeat(in_session(setup.live_token))
    if kind in ("returning-token", "logout-bare", "logout-ours"):
        return itertools.repeat(signed_in(setup.live_token))
    return _never_seen(kind, setup.live_token)


def _never_seen(kind: str, live_token: str) -> Iterator[str]:
    head, _, signature = live_token.rpartition(".")
    for index in itertools.count():  # distinct tokens at no cost: the signature's tail replaced, so it fails
        token = f"{head}.{signature[:-10]}{index:08d}{signature[-2:]}"
        if kind == "forged-token":
            yield signed_in(token)
        else:  # a new session is trusted as it is, as the framework signed it; a forged one was signed elsewhere
            yield in_session(token, SESSION_SECRET if kind == "new-session" else "another-secret")


def measure(variant: str, setup: Setup) -> dict[str, Figure]:
    """Run *variant* in this process: the seconds a request took, timed a thousand at a time; the peak RSS half-way
    and at the end.  The requests are made a hundred at a time, off the clock."""
    adapter, _, kind = variant.partition("-")
    driver, logout = (ASGI if adapter == "asgi" else WSGI), kind.startswith("logout")
    if logout:
        around = WRAPPERS[adapter][kind.removeprefix("logout-")]  # the bare app's, or ours
    else:
        around = stack(driver, "signed-cookie" if "session" in kind else "cookie", setup, "memory")
    path, cookies = LOGOUT_PATH if logout else APP_PATH, _cookies(kind, setup)
    check, first = _CHECKS.get(kind, checks.passes), next(_cookies(kind, setup))
    if check is not None:  # an instance of its own, around the echo app: the one timed has seen nothing
        check(variant, driver.answer(around(ECHO[adapter]), path, first), first)
    app, seconds, peaks = around(HELLO[adapter]), [], []
    if not logout:  # the keys fetched, in every flood alike
        driver.run(app, [driver.request(cookie=signed_in(setup.live_token))])
    count = setup.plan.logouts if logout else setup.plan.flood
    for part in (count // 2, count - count // 2):
        for start in range(0, part, 1000):
            size = min(1000, part - start)
            batches = (itertools.islice(cookies, min(100, size - made)) for made in range(0, size, 100))
            took = sum(driver.run(app, [driver.request(path, cookie) for cookie in batch]) for batch in batches)
            seconds.append(took / size)
        peaks.append(process_size("VmHWM"))
    return {"seconds": Figure("s", tuple(seconds)), "half": Figure("B", (peaks[0],)), "peak": Figure("B", (peaks[1],))}


def run(setup: Setup, directory: Path) -> dict[str, Figure]:
    return {f"memory/{variant}/{name}": figure for variant in VARIANTS
            for name, figure in measured_apart(measure, variant, setup).items()}  # fmt: skip


def _peak(section: str, case: str, variant: str, *, bounded: bool = True) -> Row:
    """A variant's peak RSS; where it must be *bounded*, against its peak half-way."""
    if not bounded:
        return Row(section, case, f"memory/{variant}/peak")
    return Row(section, case, f"memory/{variant}/peak", f"memory/{variant}/half", "difference",
               target=("≤ +1 MiB over the second half", 2**20), versus="its peak half-way")  # fmt: skip


def rows(setup: Setup) -> list[Row]:
    section = f"Floods, ASGI, {setup.plan.flood:,} requests through the check, memory store"
    found = [Row(f"{section}: seconds a request", case, f"memory/asgi-{kind}/seconds",
                 baseline and f"memory/asgi-{baseline}/seconds", "difference")
             for kind, (case, baseline) in _FLOODS.items()]  # fmt: skip
    found += [_peak(f"{section}: peak RSS", case, f"asgi-{kind}", bounded=baseline is not None)
              for kind, (case, baseline) in _FLOODS.items()]  # fmt: skip
    for adapter in ("asgi", "wsgi"):
        section = f"Memory, {adapter.upper()}, {setup.plan.logouts:,} logouts: peak RSS"
        found += [_peak(section, "the bare app", f"{adapter}-logout-bare", bounded=False),
                  _peak(section, "ours, checks off", f"{adapter}-logout-ours")]  # fmt: skip
    return found
