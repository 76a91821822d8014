"""What every contestant must be seen doing before it is timed, so that no comparison is ever of a broken one."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.transports import Raw

from .browser import END_SESSION, LOGIN_COOKIES


class MisbehavedError(RuntimeError):
    """A contestant did not do what it is measured doing: its figures would mean nothing."""


def _names(cookie_header: str | None) -> set[str]:
    return {pair.partition("=")[0].strip() for pair in cookie_header.split(";")} if cookie_header else set()


def _fail_unless(name: str, checks: list[tuple[bool, str]]) -> None:
    problems = [problem for right, problem in checks if not right]
    if problems:
        raise MisbehavedError(f"{name}: " + "; ".join(problems))


def seen(answer: Raw) -> str | None:
    """The Cookie header the echo app of tests/support/apps.py saw, as its answer tells."""
    cookie = answer.body.decode("latin-1").partition(" cookie=")[2]
    return None if cookie in ("None", "") else cookie


#: What each check is handed: the contestant's name, its answer to one request, and that request's Cookie header.
Check = Callable[[str, Raw, "str | None"], None]


def passes(name: str, answer: Raw, sent: str | None) -> None:
    """A request to let through reached the echo app as it came, and the answer deletes nothing."""
    _fail_unless(name, [
        (answer.status == 200 and answer.body.startswith(b"app saw"), f"answered {answer.status} {answer.body[:40]!r}"),
        (seen(answer) == sent, f"the app saw the cookies {seen(answer)!r:.200}, not {sent!r:.200}"),
        (not answer.deleted_cookies(), f"deleted the cookies {sorted(answer.deleted_cookies())}"),
    ])  # fmt: skip


def strips(name: str, answer: Raw, sent: str | None) -> None:
    """A revoked session's request reached the echo app without its login cookies, and the answer deletes them."""
    login = set(LOGIN_COOKIES)
    _fail_unless(name, [
        (answer.status == 200, f"answered {answer.status}, not the app's 200"),
        (_names(seen(answer)) == _names(sent) - login, f"the app saw the cookies {seen(answer)!r:.200}"),
        (answer.deleted_cookies() >= login, f"deleted {sorted(answer.deleted_cookies())}, not all of {sorted(login)}"),
    ])  # fmt: skip


def logs_out(name: str, answer: Raw, sent: str | None) -> None:
    """A logout answers 303 to the end-session URL with the id_token sent as the hint, deleting the login cookies."""
    id_token = dict(pair.partition("=")[::2] for pair in (sent or "").split("; ")).get("id_token")
    location, login = (answer.get_all("location") or [""])[0], set(LOGIN_COOKIES)
    _fail_unless(name, [
        (answer.status == 303, f"answered {answer.status}, not 303"),
        (location.startswith(END_SESSION + "?") and f"id_token_hint={id_token}" in location,
         f"sent the browser to {location!r:.120}"),
        (answer.deleted_cookies() >= login, f"deleted {sorted(answer.deleted_cookies())}, not all of {sorted(login)}"),
    ])  # fmt: skip


def builds_url(name: str, url: str, id_token: str, *, same_as: str | None = None) -> None:
    """The end-session URL with the id_token as the hint; where *same_as* is given, that very URL."""
    if not (url.startswith(END_SESSION + "?") and f"id_token_hint={id_token}" in url and url == (same_as or url)):
        raise MisbehavedError(f"{name} built {url[:120]!r}, not the end-session URL {same_as or END_SESSION!r:.120}")
